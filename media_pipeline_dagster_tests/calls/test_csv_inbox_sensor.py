"""``csv_inbox_sensor`` with a real ephemeral instance: partitions, one run per campaign, cursor."""

from __future__ import annotations

import json

import dagster as dg

from media_pipeline_dagster.calls.sensors import csv_inbox_sensor
from media_pipeline_dagster.resources.inbox import CsvInboxResource

from .helpers import write_csv

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def evaluate(instance, inbox, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"csv_inbox": CsvInboxResource(path=str(inbox))})
    return csv_inbox_sensor(context)


def test_new_file_adds_campaigns_and_requests_one_run_per_campaign(instance, inbox):
    write_csv(inbox, [
        {"url": "https://v.example/1.mp3", "started": "2025-08-26T10:00:00Z"},
        {"url": "https://v.example/2.mp3", "started": "2025-08-29T10:00:00Z"},
        {"url": "https://v.example/3.mp3", "started": "2025-08-27T10:00:00Z", "campaign_name": "Manualf2 Campaigns"},
        {"url": "https://v.example/4.mp3", "started": "2019-01-01T10:00:00Z"},  # before the first partition
    ])
    result = evaluate(instance, inbox)
    (add,) = result.dynamic_partitions_requests
    assert add.partitions_def_name == "campaigns" and sorted(add.partition_keys) == ["dexter-outbound", "manualf2-campaigns"]
    ranges = {(r.tags[RANGE_START], r.tags[RANGE_END]) for r in result.run_requests}
    assert ranges == {
        ("dexter-outbound|2025-08-26", "dexter-outbound|2025-08-29"),
        ("manualf2-campaigns|2025-08-27", "manualf2-campaigns|2025-08-27"),
    }
    assert len({r.run_key for r in result.run_requests}) == 2
    cursor = json.loads(result.cursor)
    assert list(cursor) == ["calls.csv"] and len(cursor["calls.csv"]) == 16


def test_unchanged_file_requests_nothing_and_changed_file_requests_again(instance, inbox):
    write_csv(inbox, [{"url": "https://v.example/1.mp3"}])
    first = evaluate(instance, inbox)
    instance.add_dynamic_partitions("campaigns", ["dexter-outbound"])
    again = evaluate(instance, inbox, cursor=first.cursor)
    assert again.run_requests == [] and again.cursor == first.cursor
    assert "no new or changed" in again.skip_reason.skip_message

    write_csv(inbox, [{"url": "https://v.example/1.mp3"}, {"url": "https://v.example/2.mp3"}])
    changed = evaluate(instance, inbox, cursor=first.cursor)
    (request,) = changed.run_requests
    assert request.run_key != first.run_requests[0].run_key
    assert changed.dynamic_partitions_requests == []  # the campaign is already known


def test_file_missing_columns_is_skipped_with_its_reason(instance, inbox):
    (inbox / "bad.csv").write_text("phone;campaign\n1;2\n", encoding="utf-8")
    result = evaluate(instance, inbox)
    assert result.run_requests == []
    assert "bad.csv: missing required column(s): url (or location), started" in result.skip_reason.skip_message
    assert "bad.csv" in json.loads(result.cursor)  # not re-read every tick until it changes


def test_removed_files_leave_the_cursor(instance, inbox):
    path = write_csv(inbox, [{"url": "https://v.example/1.mp3"}])
    first = evaluate(instance, inbox)
    path.unlink()
    assert json.loads(evaluate(instance, inbox, cursor=first.cursor).cursor) == {}
