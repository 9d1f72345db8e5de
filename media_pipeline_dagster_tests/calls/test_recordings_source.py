"""The dialer's tables as a source: recordings ⋈ contacts, names from campaign_map or the id."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import sqlalchemy as sa

from media_pipeline_dagster.calls import recordings_source
from media_pipeline_dagster.calls.sensors import recordings_sensor
from media_pipeline_dagster.resources.call_sources import CallSourcesResource
from media_pipeline_dagster.resources.databases import RecordingsDatabaseResource

from .helpers import DAY, catalog_rows, materialize, metadata, token

SOURCE_DDL = """
CREATE TABLE public.contacts ("$id" TEXT PRIMARY KEY, "$phone" TEXT, "$campaign_id" TEXT);
CREATE TABLE public.recordings (id BIGINT PRIMARY KEY, contact_id TEXT REFERENCES public.contacts("$id"),
                                location TEXT, started TEXT, stopped TEXT);
CREATE TABLE public.campaign_map (campaign_id TEXT PRIMARY KEY, campaign TEXT);
"""


def seed_source(pg_url: str, origin, t: str, with_map: bool = True) -> dict[str, str]:
    urls = {
        name: origin.url(f"/gen/{900 + i}/{t}/PR_{t}-{name}.mp3")
        for i, name in enumerate(["a", "b", "c", "d", "e"])
    }
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        for statement in SOURCE_DDL.split(";"):
            if statement.strip() and (with_map or "campaign_map" not in statement):
                conn.exec_driver_sql(statement)
        conn.execute(
            sa.text("INSERT INTO public.contacts VALUES (:id, :phone, :cid)"),
            [
                {"id": "c1", "phone": " +49 (151) 1063-5004 ", "cid": "RDSFPLHE9BT68CFW"},
                {"id": "c2", "phone": "+43 660 555", "cid": "6CV8XLPGJYESMKUQ"},
            ],
        )
        if with_map:
            conn.execute(
                sa.text(
                    "INSERT INTO public.campaign_map VALUES ('RDSFPLHE9BT68CFW', 'Dexter Outbound')"
                )
            )
        conn.execute(
            sa.text(
                "INSERT INTO public.recordings VALUES (:id, :contact, :url, :started, :stopped)"
            ),
            [
                {
                    "id": 11,
                    "contact": "c1",
                    "url": urls["a"],
                    "started": f"{DAY} 10:57:01.569+00",
                    "stopped": f"{DAY} 10:59:39.488+00",
                },
                {
                    "id": 12,
                    "contact": "c1",
                    "url": urls["b"],
                    "started": f"{DAY}T23:59:59Z",
                    "stopped": None,
                },
                {
                    "id": 13,
                    "contact": "c1",
                    "url": urls["c"],
                    "started": "2025-08-28T00:00:01Z",
                    "stopped": None,
                },  # next day
                {
                    "id": 14,
                    "contact": "c2",
                    "url": urls["d"],
                    "started": f"{DAY}T08:00:00Z",
                    "stopped": None,
                },  # unmapped id
                {
                    "id": 15,
                    "contact": "c1",
                    "url": urls["e"],
                    "started": "not a time",
                    "stopped": None,
                },
            ],
        )
    engine.dispose()
    return urls


def test_campaign_names_come_from_the_map_with_ids_as_fallback(pg_url, origin):
    seed_source(pg_url, origin, token())
    engine = sa.create_engine(pg_url)
    assert recordings_source.campaigns(engine) == {
        "dexter-outbound": {"RDSFPLHE9BT68CFW": "Dexter Outbound"},
        "6cv8xlpgjyesmkuq": {"6CV8XLPGJYESMKUQ": "6CV8XLPGJYESMKUQ"},
    }


def test_campaigns_without_a_campaign_map_table(pg_url, origin):
    seed_source(pg_url, origin, token(), with_map=False)
    assert set(recordings_source.campaigns(sa.create_engine(pg_url))) == {
        "rdsfplhe9bt68cfw",
        "6cv8xlpgjyesmkuq",
    }


def test_audio_files_ingests_recordings_rows(instance, pipeline_resources, pg_url, origin):
    t = token()
    urls = seed_source(pg_url, origin, t)
    resources = {
        **pipeline_resources,
        "recordings_db": RecordingsDatabaseResource(database_url=pg_url),
    }
    meta = metadata(materialize(instance, resources))
    rows = {r.source_row_id: r for r in catalog_rows(resources)}
    assert set(rows) == {11, 12} and meta["new"] == 2
    first = rows[11]
    assert first.source_table == "public.recordings" and first.url == urls["a"]
    assert first.campaign_name == "Dexter Outbound" and first.phone == "+4915110635004"
    assert first.recording_id == f"PR_{t}-a" and round(first.duration_seconds, 3) == 157.919
    assert "unparseable" in meta["failures"] and "public.recordings#15" in meta["failures"]

    meta = metadata(materialize(instance, resources, partition=f"6cv8xlpgjyesmkuq|{DAY}"))
    assert meta["new"] == 1
    assert {r.campaign_name for r in catalog_rows(resources)} == {
        "Dexter Outbound",
        "6CV8XLPGJYESMKUQ",
    }


def test_recordings_sensor_requests_runs_for_new_rows_only(instance, pg_url, origin):
    seed_source(pg_url, origin, token())

    def evaluate(cursor=None, timezone="UTC"):
        resources = {
            "recordings_db": RecordingsDatabaseResource(database_url=pg_url),
            "call_sources": CallSourcesResource(timezone=timezone),
        }
        return recordings_sensor(
            dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        )

    first = evaluate()
    assert first.cursor == "15"
    assert sorted(first.dynamic_partitions_requests[0].partition_keys) == [
        "6cv8xlpgjyesmkuq",
        "dexter-outbound",
    ]
    ranges = {
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in first.run_requests
    }
    assert ranges == {
        (f"dexter-outbound|{DAY}", "dexter-outbound|2025-08-28"),
        (f"6cv8xlpgjyesmkuq|{DAY}", f"6cv8xlpgjyesmkuq|{DAY}"),
    }

    again = evaluate(first.cursor)
    assert again.run_requests == [] and again.cursor == "15"

    with sa.create_engine(pg_url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO public.recordings VALUES (16, 'c2', 'https://v.example/n.mp3', '2025-09-01T10:00:00Z', NULL)"
            )
        )
    (request,) = evaluate(first.cursor).run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "6cv8xlpgjyesmkuq|2025-09-01"
    assert request.run_config == {
        "ops": {"audio_files": {"config": {"csv_files": []}}}
    }  # the CSV sensor has the files

    # A plain timestamp column in Berlin time: 00:30 on 2 September is 1 September in UTC.
    with sa.create_engine(pg_url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO public.recordings VALUES (17, 'c2', 'https://v.example/m.mp3', '2025-09-02 00:30:00', NULL)"
            )
        )
    (request,) = evaluate("16", timezone="Europe/Berlin").run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "6cv8xlpgjyesmkuq|2025-09-01"


def test_naive_recordings_timestamps_are_read_in_the_configured_zone(pg_url, origin):
    seed_source(pg_url, origin, token())
    with sa.create_engine(pg_url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO public.recordings VALUES (18, 'c1', 'https://v.example/z.mp3', '28.08.2025 01:15', NULL)"
            )
        )
    berlin = datetime(2025, 8, 27, 23, 15, tzinfo=UTC)  # CEST, UTC+2
    rows, _ = recordings_source.read_rows(
        sa.create_engine(pg_url),
        {"dexter-outbound": {date(2025, 8, 27)}},
        naive_zone=ZoneInfo("Europe/Berlin"),
    )
    assert {r.source_row_id: r.started for r in rows}[18] == berlin


def test_recordings_sensor_skips_without_a_source(instance):
    context = dg.build_sensor_context(
        instance=instance,
        resources={
            "recordings_db": RecordingsDatabaseResource(),
            "call_sources": CallSourcesResource(),
        },
    )
    assert "no recordings source" in recordings_sensor(context).skip_message
