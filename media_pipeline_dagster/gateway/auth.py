"""Who is calling: API keys (``X-API-Key``, or HTTP Basic with the key as password) and their limits.

Keys are compared in constant time with every key, and only their names reach logs. Two
limits, kept by ``limits`` (moving windows in memory, per process): requests per minute
per key, and failed keys per minute per client address, so nobody can try keys at speed.
"""

from __future__ import annotations

import binascii
import hmac
import math
import time
from base64 import b64decode

from fastapi import HTTPException
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers

REALM = 'Basic realm="media_pipeline_dagster gateway"'


def presented_key(headers: Headers) -> str:
    """The ``X-API-Key`` header, else the password of a well-formed ``Authorization: Basic``.

    A malformed Basic header is ignored rather than refused: it must not cost a caller
    whose ``X-API-Key`` is valid their answer."""
    key = headers.get("x-api-key")
    if key:
        return key
    scheme, _, param = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        _, sep, password = b64decode(param.strip(), validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return ""
    return password if sep else ""


def _retry_after(reset_time: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(reset_time - time.time())))}


class Authenticator:
    def __init__(self, keys: dict[str, str], per_key_per_minute: int, failures_per_minute: int):
        self._keys = [(name, key.encode()) for name, key in keys.items() if key]
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_key = (
            RateLimitItemPerMinute(per_key_per_minute) if per_key_per_minute > 0 else None
        )
        self._failures = (
            RateLimitItemPerMinute(failures_per_minute) if failures_per_minute > 0 else None
        )
        self.per_key_per_minute = per_key_per_minute
        self.failures_per_minute = failures_per_minute

    def _match(self, given: str) -> str | None:
        given_bytes = given.encode("utf-8", "surrogateescape")
        # Compare with every key, so the time taken says nothing about which key (or none) matched.
        matches = [name for name, key in self._keys if hmac.compare_digest(given_bytes, key)]
        return matches[0] if matches and given else None

    def check(self, headers: Headers, address: str) -> str:
        """The key's name; 401 for a missing or wrong key, 429 beyond either limit."""
        if self._failures is not None and not self._limiter.test(
            self._failures, "failed-auth", address
        ):
            stats = self._limiter.get_window_stats(self._failures, "failed-auth", address)
            raise HTTPException(
                429,
                f"more than {self.failures_per_minute} requests with a missing or wrong key per "
                f"minute from {address}; wait for Retry-After, then send a valid key",
                headers=_retry_after(stats.reset_time),
            )
        name = self._match(presented_key(headers))
        if name is None:
            if self._failures is not None:
                self._limiter.hit(self._failures, "failed-auth", address)
            raise HTTPException(
                401, "missing or invalid X-API-Key", headers={"WWW-Authenticate": REALM}
            )
        if self._per_key is not None and not self._limiter.hit(self._per_key, "key", name):
            stats = self._limiter.get_window_stats(self._per_key, "key", name)
            raise HTTPException(
                429,
                f"rate limit of {self.per_key_per_minute} requests per minute for key {name!r}",
                headers=_retry_after(stats.reset_time),
            )
        return name
