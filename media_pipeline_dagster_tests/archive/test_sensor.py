"""unarchived_post_media_sensor: months with new unarchived rows get a run; daily retries; nothing for done months."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from media_pipeline_dagster.archive.sensors import unarchived_post_media_sensor

from .helpers import DEC, NOV, materialize


def tick(instance, db, cursor=None) -> dg.SensorResult:
    return unarchived_post_media_sensor(
        dg.build_sensor_context(instance=instance, cursor=cursor, resources={"post_media_db": db})
    )


def test_new_rows_request_their_months_once(instance, post_media_db, cache, archive_resources):
    cache.add(created_at="2025-11-20 10:00:00")
    cache.add(created_at="2025-12-01 00:00:00")
    cache.add(created_at=None)  # in no month: never requested
    cache.add(created_at="2019-01-01 00:00:00")  # before the partitions

    first = tick(instance, post_media_db)
    assert sorted(r.partition_key for r in first.run_requests) == [NOV, DEC]
    assert len({r.run_key for r in first.run_requests}) == 2

    assert not tick(instance, post_media_db, first.cursor).run_requests  # nothing changed

    cache.add(created_at="2025-12-24 18:00:00")
    second = tick(instance, post_media_db, first.cursor)
    assert [r.partition_key for r in second.run_requests] == [DEC]
    assert second.run_requests[0].tags["media_pipeline/unarchived_rows"] == "2"

    materialize(archive_resources, DEC)
    materialize(archive_resources, NOV)
    done = tick(instance, post_media_db, second.cursor)
    assert not done.run_requests and done.skip_reason is not None


def test_a_month_left_unarchived_is_retried_the_next_day(
    instance, post_media_db, cache, archive_resources
):
    cache.add(file=False)  # can never be archived: retried daily, not on every tick
    first = tick(instance, post_media_db)
    materialize(archive_resources, DEC)
    assert not tick(instance, post_media_db, first.cursor).run_requests

    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    aged = {
        key: [signature, yesterday] for key, (signature, _day) in json.loads(first.cursor).items()
    }
    retry = tick(instance, post_media_db, json.dumps(aged))
    assert [r.partition_key for r in retry.run_requests] == [DEC]
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert retry.run_requests[0].run_key.endswith(
        f":{today}"
    )  # a new key per day, so Dagster launches it
    assert json.loads(retry.cursor)[DEC][1] == today
