"""Pacing OpenAI requests by the budget the API reports, instead of bouncing off its 429s.

Every answer carries ``x-ratelimit-limit-requests`` (L per minute),
``x-ratelimit-remaining-requests`` (R) and ``x-ratelimit-reset-requests`` (time until the
budget is whole again: ``12ms`` after one request at 5,000 RPM, so the budget refills
continuously, L/60 per second). That is GCRA, and the pacer keeps the same bucket on the
client with throttled-py's GCRA limiter: its rate is L, its size the burst the server
allows (R + reset × L/60: OpenAI may enforce a minute's limit per second), and after each
answer it never holds more than the R the server reported (other runs and workers spend
the same budget). A 429 empties it and holds every request until the server's
``retry-after``. Until the first answer tells the budget, one request goes alone, so a
run does not open with a volley of 429s; an endpoint that sends no such headers is not
paced at all.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from throttled import RateLimiterType, Throttled, per_min, store

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
KEY = "openai-requests"
PROBE_TIMEOUT = 600.0  # a probe request never answered frees the others after this


def parse_duration(text: str | None) -> float | None:
    """Seconds of an API duration such as ``12ms``, ``1.5s``, ``6m0s``, ``1h2m3s``; None if unreadable."""
    if not text:
        return None
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def _budget(headers: Mapping[str, str]) -> tuple[int, int, float] | None:
    try:
        limit = int(headers["x-ratelimit-limit-requests"])
        remaining = int(headers["x-ratelimit-remaining-requests"])
    except (KeyError, TypeError, ValueError):
        return None
    reset = parse_duration(headers.get("x-ratelimit-reset-requests"))
    return (limit, max(remaining, 0), reset or 0.0) if limit > 0 else None


class RequestPacer:
    """Shared by the run's worker threads: ``with pacer.request() as answered: ...; answered(headers)``."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._limiter: Throttled | None = None
        self._limit = self._burst = 0
        self._known = False  # an answer has said whether the endpoint reports a budget
        self._probing = False
        self._hold_until = 0.0
        self.waited_seconds = 0.0
        self.rate_limited = 0

    @property
    def limit_per_minute(self) -> int | None:
        return self._limit or None

    @property
    def burst(self) -> int | None:
        return self._burst or None

    def available(self) -> int | None:
        """Requests that may go at once now, as far as the pacer knows (None: not paced)."""
        return self._limiter.peek(KEY).remaining if self._limiter else None

    @contextmanager
    def request(self) -> Iterator:
        """Wait for the budget, then yield a callback for the answer's headers (429s: ``limited=True``)."""
        started = time.monotonic()
        probe = self._wait_turn()
        with self._cond:
            self.waited_seconds += time.monotonic() - started
        seen = False

        def answered(
            headers: Mapping[str, str], *, limited: bool = False, retry_after: float | None = None
        ) -> None:
            nonlocal seen
            seen = True
            self._observe(headers, limited=limited, retry_after=retry_after)

        try:
            yield answered
        finally:
            if probe and not seen:  # no answer (connection error): let the next request probe
                with self._cond:
                    self._probing = False
                    self._cond.notify_all()

    def _wait_turn(self) -> bool:
        """Block until a request may go; True when it goes alone to learn the budget."""
        while True:
            with self._cond:
                while not self._known and self._probing:
                    self._cond.wait(PROBE_TIMEOUT)
                if not self._known:
                    self._probing = True
                    return True
                hold, limiter = self._hold_until - time.monotonic(), self._limiter
            if hold > 0:
                time.sleep(hold)
                continue
            if limiter is None:  # the endpoint reports no budget
                return False
            result = limiter.limit(KEY, cost=1)
            if not result.limited:
                return False
            time.sleep(max(result.state.retry_after, 0.001))

    def _observe(
        self, headers: Mapping[str, str], *, limited: bool, retry_after: float | None
    ) -> None:
        budget = _budget(headers)
        with self._cond:
            self._known, self._probing = True, False
            self._cond.notify_all()
            self.rate_limited += limited
            if budget is None:  # a 429 without a budget is the file's to wait out, not everyone's
                return
            limit, remaining, reset = budget
            burst = min(limit, max(1, round(remaining + reset * limit / 60.0)))
            if self._limiter is None or limit != self._limit or burst > self._burst:
                self._limit, self._burst = limit, burst
                self._limiter = Throttled(
                    key=KEY,
                    using=RateLimiterType.GCRA.value,
                    quota=per_min(limit, burst=burst),
                    store=store.MemoryStore(),
                )
                held = burst
            else:
                held = self._limiter.peek(KEY).remaining
            if limited:
                remaining = 0
                wait = retry_after if retry_after is not None else 60.0 / limit
                self._hold_until = max(self._hold_until, time.monotonic() + wait)
            if held > remaining:  # the server knows of requests we did not send, or refilled less
                self._limiter.limit(KEY, cost=held - remaining)
