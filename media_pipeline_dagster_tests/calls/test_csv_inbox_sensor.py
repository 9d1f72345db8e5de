"""``csv_inbox_sensor`` with a real ephemeral instance: partitions, one run per campaign reading
only its files, cursor, and what it reports on ``csv_inbox`` about files and rows it cannot use."""

from __future__ import annotations

import json
import os

import dagster as dg

from media_pipeline_dagster.calls.sensors import csv_inbox_sensor
from media_pipeline_dagster.resources.call_sources import CallSourcesResource
from media_pipeline_dagster.resources.inbox import CsvInboxResource

from .helpers import RANGE_END, RANGE_START, write_csv


def evaluate(instance, inbox, cursor=None, timezone="UTC"):
    resources = {
        "csv_inbox": CsvInboxResource(path=str(inbox)),
        "call_sources": CallSourcesResource(timezone=timezone),
    }
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return csv_inbox_sensor(context)


def events(result):
    """(observations by file, the csv_files_readable evaluation or None)."""
    observations = {
        e.metadata["file"].value: e
        for e in result.asset_events
        if isinstance(e, dg.AssetObservation)
    }
    checks = [e for e in result.asset_events if isinstance(e, dg.AssetCheckEvaluation)]
    assert len(checks) <= 1
    return observations, checks[0] if checks else None


def requested_files(result) -> dict[str, list[str]]:
    return {
        r.tags[RANGE_START].split("|")[0]: r.run_config["ops"]["audio_files"]["config"]["csv_files"]
        for r in result.run_requests
    }


def test_new_file_adds_campaigns_and_requests_one_run_per_campaign(instance, inbox):
    write_csv(
        inbox,
        [
            {"url": "https://v.example/1.mp3", "started": "2025-08-26T10:00:00Z"},
            {"url": "https://v.example/2.mp3", "started": "2025-08-29T10:00:00Z"},
            {
                "url": "https://v.example/3.mp3",
                "started": "2025-08-27T10:00:00Z",
                "campaign_name": "Manualf2 Campaigns",
            },
            {
                "url": "https://v.example/4.mp3",
                "started": "2019-01-01T10:00:00Z",
            },  # before the first partition
        ],
    )
    result = evaluate(instance, inbox)
    (add,) = result.dynamic_partitions_requests
    assert add.partitions_def_name == "campaigns" and sorted(add.partition_keys) == [
        "dexter-outbound",
        "manualf2-campaigns",
    ]
    ranges = {(r.tags[RANGE_START], r.tags[RANGE_END]) for r in result.run_requests}
    assert ranges == {
        ("dexter-outbound|2025-08-26", "dexter-outbound|2025-08-29"),
        ("manualf2-campaigns|2025-08-27", "manualf2-campaigns|2025-08-27"),
    }
    assert len({r.run_key for r in result.run_requests}) == 2
    assert requested_files(result) == {
        "dexter-outbound": ["calls.csv"],
        "manualf2-campaigns": ["calls.csv"],
    }
    cursor = json.loads(result.cursor)
    assert list(cursor["files"]) == ["calls.csv"] and len(cursor["files"]["calls.csv"]) == 16
    observations, check = events(result)
    assert observations["calls.csv"].metadata["rows"].value == 4
    assert (
        not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    )  # the 2019 row is reported
    assert (
        "calls.csv row 4 | started | call date 2019-01-01 is before the first call-date partition"
        in check.metadata["rows"].value
    )


def test_unchanged_file_requests_nothing_and_changed_file_requests_again(instance, inbox):
    write_csv(inbox, [{"url": "https://v.example/1.mp3"}])
    first = evaluate(instance, inbox)
    instance.add_dynamic_partitions("campaigns", ["dexter-outbound"])
    again = evaluate(instance, inbox, cursor=first.cursor)
    assert again.run_requests == [] and again.cursor == first.cursor
    assert "no new or changed" in again.skip_reason.skip_message
    assert again.asset_events == []  # each file version is reported once

    write_csv(inbox, [{"url": "https://v.example/1.mp3"}, {"url": "https://v.example/2.mp3"}])
    changed = evaluate(instance, inbox, cursor=first.cursor)
    (request,) = changed.run_requests
    assert request.run_key != first.run_requests[0].run_key
    assert changed.dynamic_partitions_requests == []  # the campaign is already known


def test_a_file_without_the_url_column_is_reported_and_the_good_file_gets_its_runs(instance, inbox):
    write_csv(inbox, [{"url": f"https://v.example/{i}.mp3"} for i in range(12)], name="good.csv")
    (inbox / "bad.csv").write_text(
        "phone;campaign_name;started\n+49;Dexter Outbound;2025-08-27T10:00:00Z\n", encoding="utf-8"
    )
    result = evaluate(instance, inbox)
    assert requested_files(result) == {
        "dexter-outbound": ["good.csv"]
    }  # the run never opens bad.csv
    observations, check = events(result)
    assert observations["bad.csv"].metadata["readable"].value is False
    assert (
        "bad.csv: missing required column(s): url (or location)"
        in observations["bad.csv"].metadata["problem"].value
    )
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert (
        "bad.csv | bad.csv: missing required column(s): url (or location); found: phone, campaign_name, started"
        in check.metadata["files"].value
    )

    for event in result.asset_events:  # what the sensor daemon does with them: the UI shows these
        instance.report_runless_asset_event(event)
    (history,) = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("csv_inbox"), "csv_files_readable"), limit=5
    )
    assert history.status.value == "FAILED"
    recorded = instance.fetch_observations(dg.AssetKey("csv_inbox"), limit=5).records
    assert sorted(r.asset_observation.metadata["file"].value for r in recorded) == [
        "bad.csv",
        "good.csv",
    ]

    again = evaluate(instance, inbox, cursor=result.cursor)
    assert again.asset_events == [] and again.run_requests == []  # reported once, not every tick

    (inbox / "bad.csv").unlink()
    cleared = evaluate(instance, inbox, cursor=result.cursor)
    _, check = events(cleared)
    assert check.passed and check.metadata["unreadable_files"].value == 0


def test_only_unreadable_files_skip_with_a_pointer_to_the_check(instance, inbox):
    (inbox / "empty.csv").write_bytes(b"")
    (inbox / "book.csv").write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)))
    result = evaluate(instance, inbox)
    assert result.run_requests == []
    assert result.skip_reason.skip_message == (
        "no rows to ingest in the new or changed CSV files; "
        "unreadable (see the check csv_files_readable on csv_inbox): book.csv, empty.csv"
    )
    again = evaluate(instance, inbox, cursor=result.cursor)
    assert again.skip_reason.skip_message.startswith(
        "no new or changed CSV files; unreadable (see the check"
    )
    _, check = events(result)
    table = check.metadata["files"].value
    assert (
        "empty.csv: the file is empty" in table
        and "book.csv: not UTF-8, UTF-16 or Windows-1252 text" in table
    )


def test_latin1_and_utf16_files_beside_a_good_one_are_all_read(instance, inbox):
    write_csv(inbox, [{"url": "https://v.example/good.mp3"}], name="good.csv")
    text = "phone;campaign_name;url;started\n+49 1;Dexter Süd;https://v.example/{name}.mp3;2025-08-27 10:00:00\n"
    (inbox / "latin1.csv").write_bytes(text.format(name="latin1").encode("latin-1"))
    (inbox / "utf16.csv").write_text(
        text.format(name="utf16").replace("Dexter Süd", "Dexter Nord"), encoding="utf-16"
    )
    result = evaluate(instance, inbox)
    assert requested_files(result) == {
        "dexter-outbound": ["good.csv"],
        "dexter-sud": ["latin1.csv"],
        "dexter-nord": ["utf16.csv"],
    }
    observations, check = events(result)
    assert (
        observations["latin1.csv"]
        .metadata["encoding"]
        .value.startswith("Windows-1252 (fallback: byte")
    )
    assert observations["utf16.csv"].metadata["encoding"].value == "UTF-16 (BOM)"
    assert check.passed  # nothing lost; the fallback is reported, not a failure
    assert list(check.metadata["read_with_fallback_encoding"].value) == ["latin1.csv"]


def test_rows_without_a_partition_are_reported_with_data_row_and_column(instance, inbox):
    write_csv(
        inbox,
        [
            {"url": "https://v.example/ok.mp3"},
            {"url": "https://v.example/up.mp3", "campaign_name": "../../x"},
            {"url": "https://v.example/abs.mp3", "campaign_name": "/etc/x"},
            {"url": "https://v.example/none.mp3", "campaign_name": ""},
            {"url": "https://v.example/old.mp3", "started": "31.12.2023 23:59"},
            {
                "url": "https://v.example/slash.mp3",
                "campaign_name": "a/b",
            },  # a name, not a path: its slug is a-b
            {
                "url": "https://v.example/when.mp3",
                "campaign_name": "Nowhere",
                "started": "not a date",
            },
        ],
    )
    result = evaluate(instance, inbox)
    assert requested_files(result) == {"dexter-outbound": ["calls.csv"], "a-b": ["calls.csv"]}
    _, check = events(result)
    assert not check.passed and check.metadata["rows_without_partition"].value == 5
    rows = check.metadata["rows"].value
    assert (
        "| calls.csv row 2 | campaign_name | column campaign_name: campaign_name '../../x' looks like a path"
        in rows
    )
    assert (
        "| calls.csv row 3 | campaign_name | column campaign_name: campaign_name '/etc/x' looks like a path"
        in rows
    )
    assert (
        "| calls.csv row 4 | campaign_name | column campaign_name: no campaign_name (empty) |"
        in rows
    )
    assert (
        "| calls.csv row 5 | started | call date 2023-12-31 is before the first call-date partition"
        in rows
    )
    assert (
        "| calls.csv row 7 | started | column started: unparseable timestamp 'not a date'" in rows
    )


def test_a_cursor_from_before_the_reports_reports_without_requesting_again(instance, inbox):
    write_csv(inbox, [{"url": "https://v.example/1.mp3"}], name="good.csv")
    (inbox / "bad.csv").write_text("phone\n+49\n", encoding="utf-8")
    digests = json.loads(evaluate(instance, inbox).cursor)["files"]
    result = evaluate(
        instance, inbox, cursor=json.dumps(digests)
    )  # the earlier format: {file: digest}
    assert result.run_requests == []
    _, check = events(result)
    assert not check.passed and "bad.csv" in check.metadata["files"].value


def test_removed_files_leave_the_cursor(instance, inbox):
    path = write_csv(inbox, [{"url": "https://v.example/1.mp3"}])
    first = evaluate(instance, inbox)
    path.unlink()
    assert json.loads(evaluate(instance, inbox, cursor=first.cursor).cursor) == {
        "files": {},
        "reports": {},
        "stats": {},
    }


def test_a_file_whose_size_and_mtime_did_not_move_is_not_read_again(instance, inbox):
    path = write_csv(inbox, [{"url": "https://v.example/1.mp3"}])
    first = evaluate(instance, inbox)
    instance.add_dynamic_partitions("campaigns", ["dexter-outbound"])
    stat = path.stat()
    # Same size, same modification time, other bytes: only a re-read would notice.
    path.write_text(path.read_text().replace("v.example/1", "v.example/2"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = evaluate(instance, inbox, cursor=first.cursor)
    assert again.run_requests == [] and again.cursor == first.cursor

    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = evaluate(instance, inbox, cursor=first.cursor)
    (request,) = touched.run_requests  # a moved mtime makes it hash again and see the new bytes
    assert request.run_key != first.run_requests[0].run_key


def test_a_touched_file_with_the_same_bytes_requests_nothing(instance, inbox):
    path = write_csv(inbox, [{"url": "https://v.example/1.mp3"}])
    first = evaluate(instance, inbox)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again = evaluate(instance, inbox, cursor=first.cursor)
    assert again.run_requests == [] and again.asset_events == []
    cursor = json.loads(again.cursor)
    assert cursor["files"] == json.loads(first.cursor)["files"]
    assert cursor["stats"] == {"calls.csv": [stat.st_size, stat.st_mtime_ns + 1_000_000_000]}


def test_the_check_runs_on_demand_over_the_whole_inbox(instance, inbox):
    """What the UI's "Execute" on csv_files_readable does: a run of the check alone."""
    from media_pipeline_dagster.calls.assets import csv_inbox
    from media_pipeline_dagster.calls.checks import csv_files_readable

    write_csv(inbox, [{"url": "https://v.example/1.mp3"}], name="good.csv")
    (inbox / "bad.csv").write_bytes("phone;Kampagne\n+49;Süd\n".encode("latin-1"))
    job = dg.define_asset_job("inbox_check", selection=dg.AssetSelection.checks(csv_files_readable))
    defs = dg.Definitions(
        assets=[csv_inbox],
        asset_checks=[csv_files_readable],
        jobs=[job],
        resources={
            "csv_inbox": CsvInboxResource(path=str(inbox)),
            "call_sources": CallSourcesResource(),
        },
    )
    (evaluation,) = (
        defs.resolve_job_def("inbox_check")
        .execute_in_process(instance=instance)
        .get_asset_check_evaluations()
    )
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.description == "1 file(s) cannot be read: bad.csv"
    assert (
        "missing required column(s): url (or location), campaign_name, started; found: phone, Kampagne"
        in evaluation.metadata["files"].value
    )
