"""S3 errors on some uploads, a run killed mid-batch, and the re-runs after them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from media_pipeline_dagster.archive.assets import SELECTED_ROWS_ARCHIVED

from .helpers import (
    SQLITE_ONLY,
    archive_urls,
    bucket_objects,
    check,
    materialize,
    metadata,
    recording_proxy,
)

REPO = Path(__file__).resolve().parents[2]


def through(bucket, proxy, **changes):
    """The same bucket resource, talking to S3 through the proxy."""
    return type(bucket)(**{**bucket.model_dump(), "endpoint_url": proxy.endpoint_url, **changes})


def test_failed_uploads_leave_their_rows_null_and_the_batch_goes_on(
    archive_resources, cache, archive_bucket, s3_server
):
    rows = [cache.add(created_at=f"2025-12-{d:02d} 10:00:00") for d in range(1, 9)]
    broken = (rows[1], rows[2])  # one batch: its good row goes through, and the batches after it
    with recording_proxy(s3_server.endpoint_url, fail_keys=tuple(m.md5 for m in broken)) as (
        proxy,
        puts,
    ):
        result = materialize(
            dict(archive_resources, archive_bucket=through(archive_bucket, proxy)), batch_size=3
        )
    meta = metadata(result)

    urls = archive_urls(cache.engine)
    assert [m.media_id for m in rows if urls[m.media_id] is None] == [m.media_id for m in broken]
    assert set(bucket_objects(archive_bucket)) == {
        f"cache/2025/12/{m.md5}.jpg" for m in rows if m not in broken
    }
    assert (meta["uploaded"], meta["upload_failures"]) == (6, 2)
    assert "SlowDown" in meta["problems"] and all(m.media_id in meta["problems"] for m in broken)
    assert all(sum(m.md5 in p for p in puts) >= 2 for m in broken)  # retried before giving up
    assert not check(result, SELECTED_ROWS_ARCHIVED).passed

    meta = metadata(materialize(archive_resources))  # S3 is well again
    assert (meta["rows_selected"], meta["uploaded"]) == (2, 2)
    assert None not in archive_urls(cache.engine).values()


@SQLITE_ONLY
def test_a_transient_slowdown_is_retried(archive_resources, cache, archive_bucket, s3_server):
    rows = [cache.add() for _ in range(3)]
    with recording_proxy(s3_server.endpoint_url) as (proxy, _puts):
        proxy.fail_next_puts(1)
        meta = metadata(
            materialize(
                dict(
                    archive_resources, archive_bucket=through(archive_bucket, proxy, max_retries=3)
                )
            )
        )
    assert proxy.rejected == 1 and (meta["uploaded"], meta["upload_failures"]) == (3, 0)
    assert all(archive_urls(cache.engine)[m.media_id] for m in rows)


def test_objects_uploaded_before_a_crash_are_not_uploaded_again(
    archive_resources, cache, archive_bucket, s3_server
):
    """The state a crash between PUT and UPDATE leaves: objects in the bucket, rows still NULL."""
    rows = [cache.add() for _ in range(6)]
    materialize(archive_resources)
    archive_bucket.boto3_client().delete_object(
        Bucket=archive_bucket.bucket, Key=f"cache/2025/12/{rows[0].md5}.jpg"
    )
    with cache.engine.begin() as conn:
        conn.execute(sa.text("UPDATE post_media SET archive_url = NULL"))

    with recording_proxy(s3_server.endpoint_url) as (proxy, puts):
        meta = metadata(
            materialize(dict(archive_resources, archive_bucket=through(archive_bucket, proxy)))
        )

    assert [p.rsplit("/", 1)[-1] for p in puts] == [f"{rows[0].md5}.jpg"]
    assert (meta["uploaded"], meta["already_in_bucket"], meta["archive_url_written"]) == (1, 5, 6)
    assert None not in archive_urls(cache.engine).values()


def test_kill_mid_run_then_rerun(pg_url, cache_on_pg, archive_bucket, s3_server):
    cache, resources = cache_on_pg
    rows = [
        cache.add(created_at=f"2025-12-{1 + i // 24:02d} {i % 24:02d}:00:00") for i in range(30)
    ]
    with recording_proxy(s3_server.endpoint_url, delay=0.1) as (proxy, _puts):
        args = {
            "database_url": pg_url,
            "cache": str(cache.root),
            "batch_size": 4,
            "bucket": {**archive_bucket.model_dump(), "endpoint_url": proxy.endpoint_url},
        }
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "media_pipeline_dagster_tests.archive.archive_child",
                json.dumps(args),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(archive_urls(cache.engine).values()):
                assert child.poll() is None, "the child finished before it could be killed"
                time.sleep(0.02)
            time.sleep(
                0.15
            )  # into the next batch: some objects uploaded, their rows not yet updated
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait(timeout=30)
    recorded = sum(1 for u in archive_urls(cache.engine).values() if u)
    in_bucket = len(bucket_objects(archive_bucket))
    assert 0 < recorded <= in_bucket < len(rows)

    with recording_proxy(s3_server.endpoint_url) as (proxy, puts):
        meta = metadata(materialize(dict(resources, archive_bucket=through(archive_bucket, proxy))))

    assert len(puts) == len(rows) - in_bucket  # verified objects are not uploaded twice
    assert meta["already_in_bucket"] == in_bucket - recorded
    urls = archive_urls(cache.engine)
    assert all(
        urls[m.media_id] == f"s3://{archive_bucket.bucket}/cache/2025/12/{m.md5}.jpg" for m in rows
    )
    assert len(bucket_objects(archive_bucket)) == len(rows)
