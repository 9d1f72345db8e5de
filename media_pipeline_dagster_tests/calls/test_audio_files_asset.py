"""``audio_files`` end to end: real PostgreSQL, real SeaweedFS, a local HTTP origin."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import pytest

from media_pipeline_dagster.catalog.derive import url_sha1

from .helpers import (
    DAY,
    bucket_objects,
    catalog_rows,
    check_evaluations,
    checks,
    failures,
    materialize,
    metadata,
    token,
    with_changes,
    write_csv,
)


def test_ingests_new_rows_into_bucket_and_catalog(instance, pipeline_resources, inbox, origin):
    t = token()
    urls = [origin.url(f"/gen/{20000 + i}/{t}/PR_{t}-{i}.mp3") for i in range(3)]
    write_csv(
        inbox,
        [
            {
                "url": urls[0],
                "phone": "+49 151-1063 5004",
                "started": f"{DAY}T10:57:01.569Z",
                "stopped": f"{DAY}T10:59:39.488Z",
            },
            {
                "url": urls[1],
                "started": f"{DAY}T23:30:00-02:00",
            },  # next day in UTC: another partition
            {"url": urls[2], "campaign_name": "Other Campaign"},  # another campaign
        ],
    )
    result = materialize(instance, pipeline_resources)
    meta = metadata(result)
    assert (meta["new"], meta["already_cataloged"], meta["failed"]) == (1, 0, 0)
    assert meta["bytes_uploaded"] == 20000
    assert checks(result) == {
        "no_duplicate_url_sha1": True,
        "objects_in_bucket": True,
        "all_rows_ingested": True,
    }

    (row,) = catalog_rows(pipeline_resources)
    assert row.url == urls[0] and row.url_sha1 == url_sha1(urls[0])
    assert row.phone == "+4915110635004" and row.campaign_name == "Dexter Outbound"
    assert row.recording_id == f"PR_{t}-0" and row.source_row_id == 1 and row.source_table is None
    assert row.duration_seconds == pytest.approx(157.919)
    assert row.content_sha256 == origin.expected_sha256(urls[0]) and row.file_size_bytes == 20000
    assert (
        row.b2_object_key == f"dexter-outbound/audio/+4915110635004/20250827T105701Z_PR_{t}-0.mp3"
    )
    assert row.index_in_phone == 1 and row.local_path is None and row.company is None
    assert row.started.tzinfo is not None

    store = pipeline_resources["object_store"]
    head = store.boto3_client().head_object(Bucket=store.bucket, Key=row.b2_object_key)
    assert head["ContentLength"] == 20000 and head["ContentType"] == "audio/mpeg"
    body = store.read_bytes(row.b2_object_key)
    assert hashlib.sha256(body).hexdigest() == row.content_sha256


def test_rerun_downloads_uploads_and_inserts_nothing(instance, pipeline_resources, inbox, origin):
    t = token()
    urls = [origin.url(f"/gen/1000/{t}/{i}.mp3") for i in range(20)]
    write_csv(inbox, [{"url": u} for u in urls])
    materialize(instance, pipeline_resources)
    store = pipeline_resources["object_store"]
    client = store.boto3_client()
    before = {
        k: client.head_object(Bucket=store.bucket, Key=k)["LastModified"]
        for k in bucket_objects(pipeline_resources)
    }
    hits = sum(origin.hits(u) for u in urls)

    meta = metadata(materialize(instance, pipeline_resources))
    assert (meta["new"], meta["already_cataloged"], meta["failed"], meta["bytes_uploaded"]) == (
        0,
        20,
        0,
        0,
    )
    assert sum(origin.hits(u) for u in urls) == hits  # zero downloads
    after = {
        k: client.head_object(Bucket=store.bucket, Key=k)["LastModified"]
        for k in bucket_objects(pipeline_resources)
    }
    assert after == before and len(after) == 20  # zero uploads
    assert len(catalog_rows(pipeline_resources)) == 20  # zero inserts


def test_bad_urls_are_recorded_with_reasons_and_the_batch_goes_on(
    instance, pipeline_resources, inbox, origin
):
    t = token()
    bad = {
        "404": origin.url(f"/fault/404/{t}.mp3"),
        "500": origin.url(f"/fault/500/{t}.mp3"),
        "html": origin.url(f"/fault/html/{t}.mp3"),
        "html-as-audio": origin.url(f"/fault/html-as-audio/{t}.mp3"),
        "timeout": origin.url(f"/fault/slow/5/{t}.mp3"),
        "short": origin.url(f"/fault/short/{t}.mp3"),
    }
    flaky = origin.url(f"/fault/flaky/2/{t}.mp3")
    good = origin.url(f"/gen/5000/{t}/good.mp3")
    rows = [{"url": u} for u in [*bad.values(), flaky, good]]
    rows += [
        {"url": ""},  # data row 9: no URL
        {"url": origin.url(f"/gen/10/{t}/x.mp3"), "started": "31.12.2024"},  # row 10: bad timestamp
        {"url": good},  # row 11: duplicate
        {"url": origin.url(f"/gen/10/{t}/y.mp3"), "phone": "../../etc"},  # row 12: climbing phone
    ]
    write_csv(inbox, rows)

    result = materialize(instance, pipeline_resources)
    meta = metadata(result)
    assert meta["new"] == 2 and meta["failed"] == 10
    assert {r.url for r in catalog_rows(pipeline_resources)} == {flaky, good}
    assert origin.hits(flaky) == 3  # two 500s retried with backoff, then success
    table = meta["failures"]
    for url in bad.values():
        assert url in table
    assert "HTTP 404" in table and "HTTP 500" in table and "not audio" in table
    assert "timed out" in table and ("short body" in table or "ended early" in table)
    assert "| calls.csv row 9 |  | column url: no audio URL" in table
    assert (
        "| calls.csv row 10 |" in table
        and "column started: unparseable timestamp '31.12.2024'" in table
    )
    assert (
        "| calls.csv row 11 |" in table and "duplicate URL in this file (first at row 8)" in table
    )
    assert "| calls.csv row 12 |" in table and "phone '../../etc' looks like a path" in table

    recorded = failures(pipeline_resources)
    assert {u: recorded[u].status for u in bad.values()} == {
        bad["404"]: "permanent",
        bad["500"]: "transient",
        bad["html"]: "permanent",
        bad["html-as-audio"]: "permanent",
        bad["timeout"]: "transient",
        bad["short"]: "transient",
    }
    assert recorded[bad["404"]].error_code == 404
    assert checks(result)["objects_in_bucket"] is True
    ingested = check_evaluations(result)[
        "all_rows_ingested"
    ]  # green run, but the partition is not clean
    assert not ingested.passed and ingested.severity == dg.AssetCheckSeverity.WARN
    assert ingested.metadata["not_ingested"].value == 10
    assert all(url in ingested.metadata["reasons"].value for url in bad.values())
    assert all(
        "fault" not in key for key in bucket_objects(pipeline_resources)
    )  # nothing half-uploaded


def test_permanent_failures_are_not_retried_unless_asked(
    instance, pipeline_resources, inbox, origin
):
    t = token()
    missing, broken = origin.url(f"/fault/404/{t}.mp3"), origin.url(f"/fault/500/{t}.mp3")
    write_csv(inbox, [{"url": missing}, {"url": broken}])
    materialize(instance, pipeline_resources)
    hits_missing, hits_broken = origin.hits(missing), origin.hits(broken)
    assert hits_missing == 1 and hits_broken == 3  # 404 once; 500 with the in-run retries

    meta = metadata(materialize(instance, pipeline_resources))
    assert meta["skipped_known_permanent_failures"] == 1
    assert origin.hits(missing) == hits_missing  # not fetched again
    assert origin.hits(broken) > hits_broken  # transient: tried again on the next run
    assert failures(pipeline_resources)[broken].attempts == 2

    materialize(instance, pipeline_resources, retry_failed=True)
    assert origin.hits(missing) == hits_missing + 1


def test_dry_run_plans_without_downloading_or_writing(instance, pipeline_resources, inbox, origin):
    t = token()
    url = origin.url(f"/gen/100/{t}/PR_{t}.mp3")
    write_csv(inbox, [{"url": url}])
    meta = metadata(
        materialize(instance, pipeline_resources, dry_run=True, b2_prefix="dexter-audio")
    )
    assert meta["planned"] == 1 and meta["new"] == 0
    assert (
        f"dexter-audio/dexter-outbound/audio/+49151000/20250827T100001Z_PR_{t}.mp3"
        in meta["plan_preview"]
    )
    assert origin.hits(url) == 0
    assert catalog_rows(pipeline_resources) == [] and bucket_objects(pipeline_resources) == {}


def test_limit_prefix_and_keep_local(
    instance, pipeline_resources, inbox, origin, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    t = token()
    write_csv(inbox, [{"url": origin.url(f"/gen/300/{t}/{i}.mp3")} for i in range(5)])
    meta = metadata(
        materialize(
            instance,
            pipeline_resources,
            limit=2,
            b2_prefix="/dexter-audio/",
            keep_local=True,
            local_dir="kept",
        )
    )
    assert meta["new"] == 2 and meta["not_attempted_over_limit"] == 3
    rows = catalog_rows(pipeline_resources)
    assert all(r.b2_object_key.startswith("dexter-audio/dexter-outbound/audio/") for r in rows)
    for row in rows:
        local = Path(row.local_path)
        assert (
            local.is_file()
            and local.stat().st_size == 300
            and local.is_relative_to(tmp_path / "kept")
        )

    materialize(instance, pipeline_resources, b2_prefix="dexter-audio")  # the rest, no local copies
    files = sorted(
        p.relative_to(tmp_path).as_posix()
        for p in tmp_path.rglob("*")
        if p.is_file() and p.parent != inbox
    )
    assert len(files) == 2 and all(f.startswith("kept/") for f in files)
    assert len(catalog_rows(pipeline_resources)) == 5


def test_unreadable_csv_is_skipped_and_shown_never_failing_the_run(
    instance, pipeline_resources, inbox, origin
):
    """A run over the whole inbox (the Launchpad's default) skips a broken file and says so."""
    t = token()
    write_csv(
        inbox, [{"url": origin.url(f"/gen/100/{t}/{i}.mp3")} for i in range(3)], name="good.csv"
    )
    (inbox / "broken.csv").write_text("phone,campaign\n+49,Dexter Outbound\n", encoding="utf-8")
    result = materialize(instance, pipeline_resources)
    meta = metadata(result)
    assert result.success and meta["new"] == 3
    (problem,) = meta["csv_files_unreadable"]
    assert problem.startswith("broken.csv: missing required column(s): url (or location), started")
    ingested = check_evaluations(result)["all_rows_ingested"]
    assert not ingested.passed and "| broken.csv |" in ingested.metadata["reasons"].value


def test_large_file_is_streamed_in_parts(instance, pipeline_resources, inbox, origin):
    t = token()
    size = 40 * 1024 * 1024 + 123
    url = origin.url(f"/gen/{size}/{t}/big.mp3")
    write_csv(inbox, [{"url": url}])
    resources = {
        **pipeline_resources,
        "audio_transfer": with_changes(
            pipeline_resources["audio_transfer"], multipart_threshold_mib=8, part_size_mib=5
        ),
    }
    meta = metadata(materialize(instance, resources))
    (row,) = catalog_rows(resources)
    assert meta["new"] == 1 and row.file_size_bytes == size
    assert row.content_sha256 == origin.expected_sha256(url)
    store = resources["object_store"]
    head = store.boto3_client().head_object(Bucket=store.bucket, Key=row.b2_object_key)
    assert head["ContentLength"] == size
    parts = head["ETag"].strip('"').rpartition("-")[2]
    assert parts.isdigit() and int(parts) >= 2  # "<md5>-<parts>": it went up as a multipart upload
