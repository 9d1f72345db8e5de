"""Failure kinds, Retry-After in its three spellings, and the shared backoff."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import pytest
import tenacity

from media_pipeline_dagster.kernel.resilience import (
    Kind,
    api_kind,
    backoff_delay,
    backoff_wait,
    http_kind,
    next_attempt_at,
    retry_after_seconds,
    service_kind,
    stop_when_retry_after_exceeds,
)


@pytest.mark.parametrize(
    "status,origin,service",
    [
        (404, Kind.PERMANENT, Kind.PERMANENT),
        (410, Kind.PERMANENT, Kind.PERMANENT),
        (401, Kind.PERMANENT, Kind.SYSTEMIC),
        (403, Kind.PERMANENT, Kind.SYSTEMIC),
        (408, Kind.TRANSIENT, Kind.TRANSIENT),
        (429, Kind.TRANSIENT, Kind.TRANSIENT),
        (500, Kind.TRANSIENT, Kind.TRANSIENT),
        (503, Kind.TRANSIENT, Kind.TRANSIENT),
    ],
)
def test_kinds(status, origin, service):
    assert http_kind(status) is origin
    assert service_kind(status) is service


def test_retry_after_spellings():
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert retry_after_seconds({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after_seconds({"Retry-After": date}, now=1_000_000) == pytest.approx(30.0)
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


class Asked(Exception):
    def __init__(self, retry_after):
        self.retry_after = retry_after


def _state(exc: BaseException, attempt: int) -> tenacity.RetryCallState:
    state = tenacity.RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.set_exception((type(exc), exc, None))
    return state


def test_backoff_honours_retry_after_within_the_cap_and_jitters_otherwise():
    wait = backoff_wait(base=0.5, cap=30)
    assert wait(_state(Asked(4), 1)) == 4
    assert wait(_state(Asked(3600), 1)) == 30
    waits = {wait(_state(ValueError(), 3)) for _ in range(50)}
    assert len(waits) > 1 and all(0 <= w <= 2.0 for w in waits)


@pytest.mark.parametrize(
    "status,kind",
    [
        (None, Kind.TRANSIENT),  # no answer: timeout, connection refused
        (409, Kind.TRANSIENT),
        (429, Kind.TRANSIENT),
        (502, Kind.TRANSIENT),
        (401, Kind.SYSTEMIC),
        (403, Kind.SYSTEMIC),
        (400, Kind.PERMANENT),
        (404, Kind.PERMANENT),
    ],
)
def test_api_kind_follows_the_sdks_retry_rules(status, kind):
    assert api_kind(status) is kind


def test_backoff_delay_doubles_up_to_the_cap():
    assert [backoff_delay(n, 10, 60) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_attempt_at(3, 10, 3600, now) == now + timedelta(seconds=40)


def test_backoff_without_jitter_is_exact_and_retry_after_may_exceed_the_cap():
    wait = backoff_wait(base=1, cap=30, jitter=False, retry_after_cap=300)
    assert [wait(_state(ValueError(), n)) for n in (1, 2, 3, 6, 7)] == [1, 2, 4, 30, 30]
    assert wait(_state(Asked(120), 1)) == 120
    assert wait(_state(Asked(900), 1)) == 300


def test_stop_when_the_server_asks_too_long_a_wait():
    stop = tenacity.stop_after_attempt(5) | stop_when_retry_after_exceeds(60)
    assert not stop(_state(Asked(30), 1))
    assert stop(_state(Asked(61), 1))
    assert not stop(_state(ValueError(), 1))
    assert stop(_state(ValueError(), 5))


def test_a_retry_loop_built_from_the_parts_honours_the_kind():
    calls = []

    def flaky():
        calls.append(1)
        raise Asked(0) if len(calls) < 3 else KeyError("permanent")

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(5),
        wait=backoff_wait(0.001, 0.01),
        retry=tenacity.retry_if_exception_type(Asked),
        reraise=True,
    )
    with pytest.raises(KeyError):
        retrying(flaky)
    assert len(calls) == 3
