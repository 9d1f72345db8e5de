"""Faults of the fake OpenAI server: the switches, the request log, request budgets and account errors.

The API's request budget behaves as a bucket refilled continuously: after one request on a
5,000 RPM key it answers ``x-ratelimit-remaining-requests: 4999`` and
``x-ratelimit-reset-requests: 12ms`` (60 s / 5,000), i.e. the time until the bucket is
full again. OpenAI documents that limits may be enforced over shorter periods ("60,000
requests/minute may be enforced as 1,000 requests/second"); ``burst`` is that bucket size
(default: the whole minute's limit).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from media_pipeline_dagster_tests.servers.openai_fake_render import ApiError

QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. "
    "For more information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
REGION_MESSAGE = "Country, region, or territory not supported"
ORGANIZATION = "org-fake0000000000000000"


@dataclass
class Faults:
    latency: float = 0.0  # seconds added to every request that gets processed
    rate_limit_next: int = 0  # answer the next N requests 429
    rate_limit_every: int = 0  # answer every k-th request 429 (k, 2k, ... since set)
    retry_after: float = 1.0  # Retry-After seconds sent with the 429s
    server_error_next: int = 0  # answer the next N requests 500
    invalid_files: tuple[str, ...] = ()  # file names or sha256 (prefixes) answered 400
    slow_next: int = 0  # the next N requests wait slow_seconds more (beyond a client timeout)
    slow_seconds: float = 0.0
    model: str | None = None  # the counted faults above only hit requests for this model
    insufficient_quota: bool = False  # every request: 429 insufficient_quota (out of credit)
    forbidden: bool = False  # every request: 403 (country, region or territory not supported)


@dataclass(frozen=True)
class RecordedRequest:
    seq: int
    time: float  # time.monotonic() on arrival
    status: int
    api_key: str | None
    model: str | None = None
    response_format: str | None = None
    timestamp_granularities: tuple[str, ...] = ()
    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    chunking_strategy: str | dict | None = None
    file_name: str | None = None
    file_size: int | None = None
    file_sha256: str | None = None
    duration: float | None = None
    fault: str | None = (
        None  # rate_limit, rpm_budget, insufficient_quota, forbidden, server_error, invalid_file, slow, fake_server_bug
    )


def insufficient_quota() -> ApiError:
    """An account out of credit: 429 like a rate limit, but waiting never helps."""
    return ApiError(429, QUOTA_MESSAGE, type_="insufficient_quota", code="insufficient_quota")


def forbidden() -> ApiError:
    return ApiError(
        403, REGION_MESSAGE, type_="request_forbidden", code="unsupported_country_region_territory"
    )


def go_duration(seconds: float) -> str:
    """A duration as the API's headers spell it: ``12ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1.0:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, secs = divmod(round(seconds, 3), 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


class RequestBudget:
    """``limit`` requests per minute, at most ``burst`` at once; thread-safe."""

    def __init__(self, limit: int, burst: int | None = None, clock=time.monotonic) -> None:
        if limit < 1 or (burst is not None and burst < 1):
            raise ValueError(f"limit and burst must be >= 1, got {limit}, {burst}")
        self.limit, self.burst = limit, min(burst or limit, limit)
        self.interval = 60.0 / limit  # seconds per request refilled
        self._clock = clock
        self._tokens, self._at = float(self.burst), clock()
        self._lock = threading.Lock()

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) / self.interval)
        self._at = now
        return self._tokens

    def take(self, model: str | None) -> dict[str, str]:
        """Spend one request, returning the headers of the answer; raises the API's 429 when none is left."""
        with self._lock:
            tokens = self._refill()
            allowed = tokens >= 1.0
            if allowed:
                self._tokens = tokens = tokens - 1.0
            headers = {
                "x-ratelimit-limit-requests": str(self.limit),
                "x-ratelimit-remaining-requests": str(math.floor(tokens)),
                "x-ratelimit-reset-requests": go_duration((self.burst - tokens) * self.interval),
            }
            wait = (1.0 - tokens) * self.interval
        if allowed:
            return headers
        raise ApiError(
            429,
            f"Rate limit reached for {model} in organization {ORGANIZATION} on requests per min (RPM): "
            f"Limit {self.limit}, Used {self.limit}, Requested 1. Please try again in {go_duration(wait)}. "
            "Visit https://platform.openai.com/account/rate-limits to learn more.",
            type_="requests",
            code="rate_limit_exceeded",
            headers={**headers, "retry-after": f"{wait:.3f}"},
        )
