"""The request pacer on its own: reading the API's budget headers, probing, bursts."""

from __future__ import annotations

import threading

import pytest

from media_pipeline_dagster.resources.transcriber.pacing import (
    RequestPacer,
    parse_duration,
)


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("12ms", 0.012),
        ("1s", 1.0),
        ("1.5s", 1.5),
        ("6m0s", 360.0),
        ("1m1.25s", 61.25),
        ("1h2m3s", 3723.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("5 s", None),
    ],
)
def test_durations_as_the_api_spells_them(text, seconds):
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def budget(limit: int, remaining: int, reset: str) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": reset,
    }


def test_the_first_request_goes_alone_until_an_answer_tells_the_budget():
    pacer = RequestPacer()
    second_went = threading.Event()

    def second():
        with pacer.request() as answered:
            second_went.set()
            answered(budget(600, 8, "200ms"))

    with pacer.request() as answered:
        thread = threading.Thread(target=second)
        thread.start()
        assert not second_went.wait(0.3)  # held while the probe is out
        answered(budget(600, 9, "100ms"))  # 600 RPM, one spent of a burst of 10
    thread.join(timeout=10)
    assert second_went.is_set() and pacer.limit_per_minute == 600 and pacer.burst == 10


def test_a_probe_without_an_answer_lets_the_next_request_probe():
    pacer = RequestPacer()
    with pytest.raises(ConnectionError), pacer.request():
        raise ConnectionError("no route")
    with pacer.request() as answered:  # would wait forever if the failed probe kept its turn
        answered({})
    with pacer.request():  # no budget headers: this endpoint is not paced
        pass
    assert pacer.limit_per_minute is None and pacer.waited_seconds < 5


def test_the_pacer_never_holds_more_than_the_server_reports():
    pacer = RequestPacer()
    with pacer.request() as answered:
        answered(budget(60, 30, "30s"))  # a burst of 60, half spent by someone else
    assert pacer.available() == 30
    with pacer.request() as answered:
        answered(budget(60, 0, "1m0s"), limited=True, retry_after=0.05)
    assert pacer.available() == 0 and pacer.rate_limited == 1
