"""Mirroring a snapshot into D1: only new rows, never a change, few requests, nothing partial."""

from __future__ import annotations

import logging

import pytest

from media_pipeline_dagster.inventory.listing import InventoryObject
from media_pipeline_dagster.inventory.media_uid import media_uid
from media_pipeline_dagster.inventory.metadata import sql_preview
from media_pipeline_dagster.inventory.snapshot import Snapshot
from media_pipeline_dagster.inventory.sync import SyncError, SyncOptions, read_known, sync_snapshot
from media_pipeline_dagster.resources.d1 import Statement

from .conftest import media_rows
from .test_listing import LONG_KEY

SEED_TABLE = (
    "CREATE TABLE media_assets (id INTEGER PRIMARY KEY AUTOINCREMENT, media_uid TEXT NOT NULL UNIQUE, "
    "b2_key TEXT NOT NULL, b2_file_id TEXT, size INTEGER NOT NULL, etag TEXT, "
    "ingested_at TEXT NOT NULL DEFAULT (datetime('now')))"
)


def obj(key: str, size: int = 1, file_id: str | None = None) -> InventoryObject:
    fid = file_id or f"4_z{abs(hash(key)) % 10**12:012d}"
    return InventoryObject(key, size, f"etag-{key[:20]}", fid, "2025-03-01T06:00:00Z")


def snap(objects, taken_at: str = "2025-03-01T06:17:00Z") -> Snapshot:
    return Snapshot("inventory/x.json", taken_at, "s3://bucket", "inventory/", list(objects))


def many(n: int, prefix: str = "audio") -> list[InventoryObject]:
    return [obj(f"{prefix}/{i:06d}.mp3", size=i) for i in range(n)]


def test_first_sync_inserts_everything_and_a_rerun_writes_nothing(any_d1, d1_sqlite):
    objects = [
        obj('quote\'s "double".wav'),
        obj("a;b; DROP TABLE media_assets;--"),
        obj("Música 🎵.wav"),
        obj(LONG_KEY),
        obj("empty.bin", size=0),
    ]
    with any_d1.connect() as db:
        first = sync_snapshot(db, snap(objects), SyncOptions())
        again = sync_snapshot(db, snap(objects), SyncOptions())
    assert (first.discovered, len(first.new), first.already_known, first.rows_written) == (
        5,
        5,
        0,
        5,
    )
    assert first.schema.applied == ["0010_media_assets.sql"]
    assert (len(again.new), again.already_known, again.rows_written, again.write_requests) == (
        0,
        5,
        0,
        0,
    )
    assert again.api_requests == 2  # the schema check and one page of media_uids
    rows = media_rows(d1_sqlite)
    assert rows == [
        (media_uid(o.file_id, o.key), o.key, o.file_id, o.size, o.etag) for o in objects
    ]
    assert d1_sqlite.execute(
        "SELECT typeof(size) FROM media_assets WHERE b2_key = 'empty.bin'"
    ).fetchone() == ("integer",)


def test_existing_rows_are_never_changed_or_deleted(any_d1, d1_sqlite):
    legacy = obj("legacy/old.wav", size=10, file_id="4_zseed")
    gone = obj("removed/from-bucket.wav")
    d1_sqlite.execute(SEED_TABLE)
    # Rows the seed's Node script wrote, recognised by media_uid whatever their other columns say.
    for o, size, etag in ((legacy, 999, "seed-etag"), (gone, 5, "e")):
        d1_sqlite.execute(
            "INSERT INTO media_assets (media_uid, b2_key, b2_file_id, size, etag, ingested_at) VALUES (?, ?, ?, ?, ?, ?)",
            (media_uid(o.file_id, o.key), o.key, o.file_id, size, etag, "2024-01-01 00:00:00"),
        )
    with any_d1.connect() as db:
        report = sync_snapshot(db, snap([legacy, obj("new.wav")]), SyncOptions())
    assert (len(report.new), report.already_known, report.rows_written) == (1, 1, 1)
    assert report.schema.applied == []
    kept = d1_sqlite.execute(
        "SELECT b2_key, size, etag, ingested_at FROM media_assets ORDER BY id"
    ).fetchall()
    assert kept[:2] == [
        ("legacy/old.wav", 999, "seed-etag", "2024-01-01 00:00:00"),
        ("removed/from-bucket.wav", 5, "e", "2024-01-01 00:00:00"),
    ]
    assert [r[0] for r in kept] == ["legacy/old.wav", "removed/from-bucket.wav", "new.wav"]


def test_dry_run_reads_but_writes_nothing_and_shows_the_sql(any_d1, d1_sqlite):
    with any_d1.connect() as db:
        report = sync_snapshot(db, snap([obj("a.wav"), obj("it's.wav")]), SyncOptions(dry_run=True))
    assert media_rows(d1_sqlite) == [] and report.rows_written == 0 and report.write_requests == 0
    assert not d1_sqlite.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'media_assets'"
    ).fetchone()
    assert len(report.new) == 2 and len(report.planned) == 1
    preview = sql_preview(report)
    assert (
        "CREATE TABLE media_assets" in preview and "INSERT OR IGNORE INTO media_assets" in preview
    )
    assert "it's.wav" in preview  # the values, shown as the parameters they would be bound as
    assert "it's.wav" not in report.planned[0][0].sql


def test_many_rows_go_in_few_requests_within_d1_limits(any_d1, d1_sqlite):
    objects = many(5_000)
    with any_d1.connect() as db:
        report = sync_snapshot(db, snap(objects), SyncOptions())
    # 20 rows per INSERT (100 parameters), 50 statements per request.
    assert report.statements == 250 and report.write_requests == 5
    assert (
        report.api_requests <= 5 + 5
    )  # + schema check, DDL, check again, one read (+ a name lookup)
    assert d1_sqlite.execute("SELECT count(*) FROM media_assets").fetchone() == (5_000,)


def test_media_uids_are_read_in_keyset_pages(any_d1):
    with any_d1.connect() as db:
        sync_snapshot(db, snap(many(250)), SyncOptions())
        before = db.requests
        known = read_known(db, page_size=100)
        assert db.requests - before == 3 and len(known) == 250


def test_last_seen_at_tracking_is_additive_and_once_a_day(any_d1, d1_sqlite):
    objects = many(30)
    with any_d1.connect() as db:
        sync_snapshot(db, snap(objects[:20]), SyncOptions())  # an existing table without the column
        on = SyncOptions(track_last_seen=True)
        first = sync_snapshot(db, snap(objects), on)
        assert first.schema.applied == ["0011_media_assets_last_seen_at.sql"]
        assert (len(first.new), first.last_seen_updated, first.rows_written) == (10, 20, 30)
        same_day = sync_snapshot(db, snap(objects, "2025-03-01T18:00:00Z"), on)
        assert (same_day.rows_written, same_day.write_requests) == (0, 0)
        next_day = sync_snapshot(db, snap(objects[5:], "2025-03-02T06:17:00Z"), on)
        assert (len(next_day.new), next_day.last_seen_updated) == (0, 25)
    seen = dict(d1_sqlite.execute("SELECT b2_key, last_seen_at FROM media_assets").fetchall())
    assert (
        seen[objects[0].key] == "2025-03-01 06:17:00"
    )  # no longer in the bucket: kept, not touched
    assert seen[objects[29].key] == "2025-03-02 06:17:00"
    assert d1_sqlite.execute("SELECT count(*) FROM media_assets").fetchone() == (30,)


def test_a_failing_request_rolls_back_alone_and_a_rerun_completes(any_d1, d1_sqlite):
    objects = many(600)
    d1_sqlite.execute(SEED_TABLE)
    # A request holding this key fails inside D1, after the statements before it in that request.
    d1_sqlite.execute(
        "CREATE TRIGGER poison BEFORE INSERT ON media_assets WHEN NEW.b2_key = 'audio/000450.mp3' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
    )
    options = SyncOptions(max_statements_per_request=5)  # 100 rows per request
    with any_d1.connect() as db:
        with pytest.raises(SyncError, match="poisoned row") as err:
            sync_snapshot(db, snap(objects), options)
        assert err.value.report.rows_written == 400
        assert d1_sqlite.execute("SELECT count(*) FROM media_assets").fetchone() == (400,)
        d1_sqlite.execute("DROP TRIGGER poison")
        rerun = sync_snapshot(db, snap(objects), options)
    assert (rerun.already_known, len(rerun.new), rerun.rows_written) == (400, 200, 200)
    assert d1_sqlite.execute("SELECT count(DISTINCT media_uid) FROM media_assets").fetchone() == (
        600,
    )


@pytest.mark.parametrize("fault", ["429", "500", "success_false"])
def test_d1_faults_fail_the_sync_loudly_with_nothing_partial(fault, d1_server, rest_d1):
    objects = many(1_000)
    options = SyncOptions(max_statements_per_request=5)
    with rest_d1.connect() as db:
        sync_snapshot(db, snap(objects[:1]), options)  # table in place
        # Schema check, read, two write requests succeed; the third keeps failing (past the retries).
        d1_server.inject(fault, times=10, skip=4, retry_after=0 if fault == "429" else None)
        with pytest.raises(SyncError) as err:
            sync_snapshot(db, snap(objects), options)
        d1_server.reset()
        count = db.run([Statement("SELECT count(*) FROM media_assets")])
    message = str(err.value)
    assert {"429": "HTTP 429", "500": "HTTP 500", "success_false": "success=false"}[
        fault
    ] in message
    assert "2 write request(s), 200 row(s) committed before" in message
    assert count[0].rows == [(201,)]


def test_a_lost_answer_is_retried_without_duplicates(d1_server, rest_d1):
    objects = many(300)
    with rest_d1.connect() as db:
        d1_server.inject(
            "500_after_commit", skip=3
        )  # schema, DDL, read pass; the write's answer is lost
        report = sync_snapshot(db, snap(objects), SyncOptions())
        check = db.run([Statement("SELECT count(*), count(DISTINCT media_uid) FROM media_assets")])
    assert check[0].rows == [(300, 300)]
    assert report.rows_written == 0  # D1 wrote them in the attempt whose answer was lost
    # schema, DDL, read, the write twice (its first answer lost), the count above
    assert d1_server.requests["raw"] == 6


def test_verbose_logs_every_request(local_d1, caplog):
    caplog.set_level("INFO", logger="inventory-test")
    with local_d1.connect() as db:
        sync_snapshot(
            db, snap(many(50)), SyncOptions(verbose=True), log=logging.getLogger("inventory-test")
        )
    assert any(
        m.startswith("request 1/1: 3 statement(s)") and "50 row(s) inserted" in m
        for m in caplog.messages
    )
