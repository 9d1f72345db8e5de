"""Call timestamps as exports spell them, read in the configured zone; partitions are UTC days."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from media_pipeline_dagster.catalog.derive import parse_timestamp
from media_pipeline_dagster.resources.call_sources import CallSourcesResource
from media_pipeline_dagster.settings import ConfigurationError, call_sources_resource

from .helpers import catalog_rows, metadata, run_requested, token, write_csv
from .test_inbox_runs import tick

UTC = UTC
BERLIN = ZoneInfo("Europe/Berlin")
# (spelling, UTC instant when naive values are UTC, UTC instant when they are Berlin time: CET on 31 Oct 2024)
SEVEN_SPELLINGS = [
    (
        "2024-10-31T10:57:01Z",
        datetime(2024, 10, 31, 10, 57, 1, tzinfo=UTC),
        datetime(2024, 10, 31, 10, 57, 1, tzinfo=UTC),
    ),
    (
        "2024-10-31T10:57:01.569+01:00",
        datetime(2024, 10, 31, 9, 57, 1, 569000, tzinfo=UTC),
        datetime(2024, 10, 31, 9, 57, 1, 569000, tzinfo=UTC),
    ),
    (
        "2024-10-31 10:57:01+00",
        datetime(2024, 10, 31, 10, 57, 1, tzinfo=UTC),
        datetime(2024, 10, 31, 10, 57, 1, tzinfo=UTC),
    ),
    (
        "2024-10-31 10:57:01",
        datetime(2024, 10, 31, 10, 57, 1, tzinfo=UTC),
        datetime(2024, 10, 31, 9, 57, 1, tzinfo=UTC),
    ),
    (
        "2024-10-31T10:57",
        datetime(2024, 10, 31, 10, 57, tzinfo=UTC),
        datetime(2024, 10, 31, 9, 57, tzinfo=UTC),
    ),
    (
        "31.10.2024 10:57",
        datetime(2024, 10, 31, 10, 57, tzinfo=UTC),
        datetime(2024, 10, 31, 9, 57, tzinfo=UTC),
    ),
    (
        "31.10.2024 10:57:01",
        datetime(2024, 10, 31, 10, 57, 1, tzinfo=UTC),
        datetime(2024, 10, 31, 9, 57, 1, tzinfo=UTC),
    ),
]


@pytest.mark.parametrize("spelling,as_utc,as_berlin", SEVEN_SPELLINGS)
def test_seven_timestamp_spellings(spelling, as_utc, as_berlin):
    assert parse_timestamp(spelling) == as_utc  # naive values are UTC unless configured
    assert parse_timestamp(spelling, BERLIN) == as_berlin


@pytest.mark.parametrize(
    "text", ["31.12.2024", "10/31/2024 10:57", "31/10/2024 10:57", "32.10.2024 10:57", "not a date"]
)
def test_ambiguous_or_impossible_timestamps_are_refused_naming_the_value(text):
    with pytest.raises(ValueError, match=f"unparseable timestamp '{text}'"):
        parse_timestamp(text)


def test_seven_spellings_through_sensor_and_run_land_in_the_utc_partition(
    instance, pipeline_resources, inbox, origin
):
    """Berlin wall-clock times; 00:30 on 1 November in Berlin is 31 October in UTC, its partition."""
    t = token()
    spellings = [s for s, _, _ in SEVEN_SPELLINGS] + ["01.11.2024 00:30"]
    write_csv(
        inbox,
        [
            {"url": origin.url(f"/gen/100/{t}/{i}.mp3"), "started": s}
            for i, s in enumerate(spellings)
        ],
    )
    resources = {
        **pipeline_resources,
        "call_sources": CallSourcesResource(timezone="Europe/Berlin"),
    }
    (request,) = tick(instance, resources).run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "dexter-outbound|2024-10-31"
    assert metadata(run_requested(instance, resources, request))["new"] == 8
    started = {r.url.rsplit("/", 1)[1]: r.started for r in catalog_rows(resources)}
    expected = [b for _, _, b in SEVEN_SPELLINGS] + [datetime(2024, 10, 31, 23, 30, tzinfo=UTC)]
    assert [started[f"{i}.mp3"] for i in range(8)] == expected


def test_the_zone_setting():
    assert call_sources_resource({}).timezone == "UTC"
    assert call_sources_resource({"MEDIA_PIPELINE_CALL_TIMEZONE": "Europe/Berlin"}).zone == BERLIN
    with pytest.raises(
        ConfigurationError, match="MEDIA_PIPELINE_CALL_TIMEZONE='CEST' is not an IANA time zone"
    ):
        call_sources_resource({"MEDIA_PIPELINE_CALL_TIMEZONE": "CEST"})
