"""Crashes, throttling, legacy rows and cost of a no-change run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from media_pipeline_dagster.catalog.derive import url_sha1
from media_pipeline_dagster.catalog.schema import create_catalog_engine, ensure_schema

from ..servers.slowdown_proxy import slowdown_proxy
from .helpers import (
    DAY,
    bucket_objects,
    catalog_rows,
    checks,
    materialize,
    metadata,
    token,
    with_changes,
    write_csv,
)

REPO = Path(__file__).resolve().parents[2]


def test_b2_slowdown_is_retried_with_backoff(
    instance, pipeline_resources, inbox, origin, s3_server
):
    t = token()
    urls = [origin.url(f"/gen/2048/{t}/{i}.mp3") for i in range(5)]
    write_csv(inbox, [{"url": u} for u in urls])
    with slowdown_proxy(s3_server.endpoint_url, fail_first_puts=3) as proxy:
        store = with_changes(pipeline_resources["object_store"], endpoint_url=proxy.endpoint_url)
        meta = metadata(materialize(instance, {**pipeline_resources, "object_store": store}))
        assert proxy.rejected == 3
    assert (meta["new"], meta["failed"]) == (5, 0)
    assert len(bucket_objects(pipeline_resources)) == 5


def test_kill_mid_run_then_rerun_equals_an_uninterrupted_run(
    pipeline_resources, inbox, origin, s3_server, instance
):
    t = token()
    urls = [origin.url(f"/fault/slow/0.3/{t}/{i}.mp3") for i in range(24)]
    write_csv(inbox, [{"url": u} for u in urls])
    store = pipeline_resources["object_store"]
    args = {
        "pg_url": pipeline_resources["catalog"].database_url,
        "s3": {
            k: getattr(store, k)
            for k in ("endpoint_url", "region", "access_key_id", "secret_access_key", "bucket")
        },
        "inbox": str(inbox),
        "partition": f"dexter-outbound|{DAY}",
        "concurrency": 2,
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "media_pipeline_dagster_tests.calls.ingest_child", json.dumps(args)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    engine = pipeline_resources["catalog"].engine
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.scalar(sa.text("SELECT COUNT(*) FROM media_pipeline.audio_files")) >= 1:
                    break
            assert child.poll() is None, "the child finished before it could be killed"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    interrupted = len(catalog_rows(pipeline_resources))
    assert 0 < interrupted < len(urls)

    meta = metadata(materialize(instance, pipeline_resources, concurrency=8))
    rows = catalog_rows(pipeline_resources)
    objects = bucket_objects(pipeline_resources)
    assert meta["new"] == len(urls) - interrupted
    assert sorted(r.url for r in rows) == sorted(urls)  # every row once
    assert set(objects) == {r.b2_object_key for r in rows}  # no orphan objects, none missing
    assert all(objects[r.b2_object_key] == r.file_size_bytes for r in rows)
    assert all(r.content_sha256 == origin.expected_sha256(r.url) for r in rows)


def test_no_change_rerun_uses_batched_lookups(instance, pipeline_resources, inbox, origin):
    t = token()
    urls = [origin.url(f"/gen/64/{t}/{i}.mp3") for i in range(1200)]
    write_csv(
        inbox,
        [
            {"url": u, "started": f"{DAY}T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"}
            for i, u in enumerate(urls)
        ],
    )
    materialize(instance, pipeline_resources, concurrency=32)

    statements: list[str] = []
    engine = pipeline_resources["catalog"].engine
    listener = lambda conn, cursor, statement, *rest: statements.append(statement)  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        meta = metadata(materialize(instance, pipeline_resources))
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    assert (meta["new"], meta["already_cataloged"]) == (0, 1200)
    lookups = [  # IN (...) on SQLite, = ANY(array) on PostgreSQL
        s
        for s in statements
        if "FROM media_pipeline.audio_files" in s and re.search(r"url_sha1 (IN|= ANY)", s)
    ]
    assert 1 <= len(lookups) <= 2  # 1,000 keys per query, not one query per row
    assert len(statements) < 20


def test_rows_cataloged_without_an_object_get_one(instance, pipeline_resources, inbox, origin):
    t = token()
    url = origin.url(f"/gen/777/{t}/PR_{t}.mp3")
    engine = create_catalog_engine(pipeline_resources["catalog"].database_url)
    ensure_schema(engine)
    with engine.begin() as conn:  # as the seed's SQL backfill left it: no object, no size
        conn.execute(
            sa.text(
                "INSERT INTO media_pipeline.audio_files (url, url_sha1, phone, campaign_name, started, source_table, source_row_id)"
                " VALUES (:url, :sha1, '+49151000', 'Dexter Outbound', :started, 'public.recordings', 9)"
            ),
            {"url": url, "sha1": url_sha1(url), "started": f"{DAY}T10:00:01+00:00"},
        )
    write_csv(inbox, [{"url": url}])
    result = materialize(instance, pipeline_resources)
    meta = metadata(result)
    (row,) = catalog_rows(pipeline_resources)
    assert meta["objects_attached_to_existing_rows"] == 1 and meta["new"] == 0
    assert row.source_table == "public.recordings" and row.source_row_id == 9  # the row is kept
    assert row.file_size_bytes == 777 and row.b2_object_key in bucket_objects(pipeline_resources)
    assert checks(result)["objects_in_bucket"] is True
