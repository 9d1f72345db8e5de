"""What to do when a call to another system fails: classify, wait, try again or stop.

Three kinds of failure, the same words in every domain:

* ``transient``: asking again later may work (timeouts, connection resets, 408/425/429,
  5xx, B2's ``503 SlowDown``). Retried with exponential backoff and full jitter, honouring
  ``Retry-After``; when the attempts run out, the item is recorded and retried next run.
* ``permanent``: this item will fail the same way again (404 and other 4xx from an origin,
  not audio, refused by the fetch policy). Recorded; not retried until someone asks.
* ``systemic``: nothing in this run can succeed (credentials refused, bucket missing,
  endpoint unreachable, quota exhausted). The run stops at once with a sentence naming
  the cause, instead of failing every item one by one and ending green.

Waiting is tenacity's (a well-kept retry library) so no domain writes its own loop.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum

import tenacity


class Kind(str, Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    SYSTEMIC = "systemic"


class SystemicFailure(RuntimeError):
    """Nothing in this run can succeed; the message says why and what to do."""


TRANSIENT_STATUSES = frozenset({408, 425, 429})


def http_kind(status: int) -> Kind:
    """An origin's answer about one item: 408/425/429 and 5xx may pass later, other 4xx will not."""
    return Kind.TRANSIENT if status in TRANSIENT_STATUSES or status >= 500 else Kind.PERMANENT


def service_kind(status: int) -> Kind:
    """Our own service's answer (bucket, API): refused credentials are everyone's problem."""
    if status in (401, 403):
        return Kind.SYSTEMIC
    return http_kind(status)


def api_kind(status: int | None) -> Kind:
    """An API client's error (OpenAI, Cloudflare: the rules their SDKs retry by): no answer at
    all (``None``: timeout, connection refused) and 409 (a concurrent request won) may pass later."""
    if status is None or status == 409:
        return Kind.TRANSIENT
    return service_kind(status)


def retry_after_seconds(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds a server asked us to wait: ``retry-after-ms``, ``Retry-After`` in seconds or as an HTTP date."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """The wait after failed attempt ``attempt`` (1, 2, …) without jitter: base doubling, at most cap.
    For retries that are scheduled rather than slept (a queue, a table's ``next_attempt_at``)."""
    return float(min(cap, base * 2.0 ** max(0, attempt - 1)))


def backoff_wait(
    base: float, cap: float, *, jitter: bool = True, retry_after_cap: float | None = None
) -> Callable[[tenacity.RetryCallState], float]:
    """Exponential backoff (base, 2·base, 4·base … at most ``cap``), with full jitter unless
    ``jitter=False``; an exception carrying ``retry_after`` (seconds) waits that long instead,
    at most ``retry_after_cap`` (``cap`` unless given)."""
    exponential = (
        tenacity.wait_random_exponential(multiplier=base, max=cap)
        if jitter
        else tenacity.wait_exponential(multiplier=base, max=cap)
    )
    asked_cap = cap if retry_after_cap is None else retry_after_cap

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = getattr(exc, "retry_after", None)
        if asked is not None:
            return min(asked_cap, float(asked))
        return exponential(state)

    return wait


class stop_when_retry_after_exceeds(tenacity.stop.stop_base):
    """Give up at once when the server asks for a longer wait than ``limit`` (waiting an hour
    inside one request helps nobody; the next run asks again). Combine with ``|``."""

    def __init__(self, limit: float):
        self.limit = limit

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        outcome = retry_state.outcome
        asked = getattr(outcome.exception(), "retry_after", None) if outcome else None
        return asked is not None and float(asked) > self.limit


def next_attempt_at(
    attempts: int, base_seconds: float, cap_seconds: float, now: datetime | None = None
) -> datetime:
    """When a recorded failure may be tried again: base doubling per attempt, at most ``cap``."""
    now = now or datetime.now(UTC)
    return now + timedelta(seconds=backoff_delay(attempts, base_seconds, cap_seconds))
