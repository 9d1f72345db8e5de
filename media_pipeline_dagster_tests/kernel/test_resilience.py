"""Failure kinds, Retry-After in its three spellings, and the shared backoff."""

from __future__ import annotations

import email.utils

import pytest
import tenacity

from media_pipeline_dagster.kernel.resilience import (
    Kind,
    backoff_wait,
    http_kind,
    retry_after_seconds,
    service_kind,
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
