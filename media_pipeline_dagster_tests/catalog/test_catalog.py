"""The catalog on both backends: schema, idempotent inserts, uniques, look-ups, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from media_pipeline_dagster.catalog import queries
from media_pipeline_dagster.catalog.derive import url_sha1
from media_pipeline_dagster.catalog.schema import (
    CATALOG_TABLES,
    create_catalog_engine,
    ensure_schema,
    missing_columns,
    missing_tables,
)

T0 = datetime(2025, 8, 27, 9, 0, tzinfo=UTC)


def audio_row(url: str, **extra) -> dict:
    return {
        "url": url,
        "url_sha1": url_sha1(url),
        "phone": "+4915110635004",
        "campaign_name": "Dexter",
        "started": T0,
        **extra,
    }


@pytest.fixture
def engine(catalog_url: str):
    engine = create_catalog_engine(catalog_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


def test_schema_has_every_table_and_is_idempotent(engine):
    ensure_schema(engine)
    ensure_schema(engine)
    with engine.connect() as conn:
        assert missing_tables(conn) == []
        indexes = {
            ix["name"]
            for ix in sa.inspect(conn).get_indexes("audio_files", schema="media_pipeline")
        }
    assert {
        "uq_audio_files_recording_id",
        "uq_audio_files_url_sha1",
        "ix_audio_files_phone",
        "ix_audio_files_started",
    } <= indexes


def test_a_catalog_from_before_the_company_column_gets_it_and_keeps_its_rows(engine):
    """As a catalog created by the previous release: every table there, no company column."""
    with engine.begin() as conn:
        queries.insert_audio_files(conn, [audio_row("https://x.example/old.mp3")])
        conn.exec_driver_sql("DROP INDEX media_pipeline.ix_audio_files_company")
        conn.exec_driver_sql("ALTER TABLE media_pipeline.audio_files DROP COLUMN company")
        assert missing_columns(conn) == [("audio_files", "company")]
    ensure_schema(engine)
    ensure_schema(
        engine
    )  # the second time there is nothing to add (SQLite has no ADD COLUMN IF NOT EXISTS)
    with engine.begin() as conn:
        assert missing_columns(conn) == []
        queries.insert_audio_files(
            conn, [audio_row("https://x.example/new.mp3", company="Dexter GmbH")]
        )
        rows = dict(
            conn.execute(sa.text("SELECT url, company FROM media_pipeline.audio_files")).all()
        )
        indexes = {
            ix["name"]
            for ix in sa.inspect(conn).get_indexes("audio_files", schema="media_pipeline")
        }
    assert rows == {"https://x.example/old.mp3": None, "https://x.example/new.mp3": "Dexter GmbH"}
    assert "ix_audio_files_company" in indexes
    assert len(CATALOG_TABLES) == 6


def test_insert_is_idempotent_on_url_sha1(engine):
    rows = [
        audio_row("https://vault.example/vr/PR_a.mp3"),
        audio_row("https://vault.example/vr/PR_b.mp3"),
    ]
    with engine.begin() as conn:
        first = queries.insert_audio_files(conn, rows)
    with engine.begin() as conn:
        again = queries.insert_audio_files(conn, rows)
        count = conn.scalar(sa.text("SELECT COUNT(*) FROM media_pipeline.audio_files"))
    assert len(first) == 2 and again == {} and count == 2


def test_partial_unique_on_recording_id(engine):
    with engine.begin() as conn:
        queries.insert_audio_files(
            conn, [audio_row("https://a.example/1.mp3", recording_id="PR_x")]
        )
        # Same recording under another URL is skipped; the rest of the batch lands.
        inserted = queries.insert_audio_files(
            conn,
            [
                audio_row("https://a.example/2.mp3", recording_id="PR_x"),
                audio_row("https://a.example/3.mp3", recording_id=None),
                audio_row("https://a.example/4.mp3", recording_id=None),
            ],
        )
        total = conn.scalar(sa.text("SELECT COUNT(*) FROM media_pipeline.audio_files"))
    assert set(inserted) == {
        url_sha1("https://a.example/3.mp3"),
        url_sha1("https://a.example/4.mp3"),
    }
    assert total == 3


def test_batched_lookups(engine):
    urls = [f"https://a.example/{i}.mp3" for i in range(2500)]
    with engine.begin() as conn:
        queries.insert_audio_files(
            conn,
            [
                audio_row(u, b2_object_key=None if i % 2 else f"k/{i}")
                for i, u in enumerate(urls[:1500])
            ],
        )
    with engine.connect() as conn:
        keys = queries.existing_audio_keys(conn, [url_sha1(u) for u in urls])
        rids = queries.existing_recording_ids(conn, ["PR_none", None])
    assert len(keys) == 1500
    assert keys[url_sha1(urls[0])] == "k/0" and keys[url_sha1(urls[1])] is None
    assert rids == set()


def test_timestamps_round_trip_timezone_aware(engine):
    berlin = timezone(timedelta(hours=2))
    started = datetime(2025, 8, 27, 8, 0, tzinfo=berlin)
    with engine.begin() as conn:
        queries.insert_audio_files(conn, [audio_row("https://a.example/tz.mp3", started=started)])
        row = conn.execute(sa.select(queries.audio_files)).one()
    assert row.started.tzinfo is not None
    assert row.started == started and row.started.astimezone(UTC).hour == 6
    assert row.created_at is not None and row.created_at.tzinfo is not None


def test_naive_timestamps_are_refused(engine):
    with engine.begin() as conn, pytest.raises(sa.exc.StatementError, match="timezone-aware"):
        queries.insert_audio_files(
            conn, [audio_row("https://a.example/naive.mp3", started=datetime(2025, 1, 1))]
        )


def test_index_in_phone_is_chronological(engine):
    rows = [
        audio_row("https://a.example/late.mp3", started=T0 + timedelta(hours=2)),
        audio_row("https://a.example/early.mp3", started=T0),
        audio_row("https://a.example/other.mp3", phone="+431", started=T0),
    ]
    with engine.begin() as conn:
        queries.insert_audio_files(conn, rows)
        queries.refresh_index_in_phone(conn, ["+4915110635004", "+431"])
        got = dict(
            conn.execute(
                sa.text("SELECT url, index_in_phone FROM media_pipeline.audio_files")
            ).all()
        )
    assert got == {
        "https://a.example/early.mp3": 1,
        "https://a.example/late.mp3": 2,
        "https://a.example/other.mp3": 1,
    }


def test_duplicate_guard_query_reports_duplicates(engine):
    # The unique index forbids duplicates, so the guard can only see them if it is dropped:
    # this proves the query finds them rather than trusting the index.
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX media_pipeline.uq_audio_files_url_sha1")
        conn.execute(sa.insert(queries.audio_files), [audio_row("https://a.example/d.mp3")] * 2)
        assert queries.duplicate_url_sha1s(conn) == [(url_sha1("https://a.example/d.mp3"), 2)]


def test_ingest_failures_upsert_counts_attempts(engine):
    now = datetime.now(UTC)
    failure = {
        "url_sha1": "abc",
        "url": "https://a.example/x",
        "campaign_name": "c",
        "status": "transient",
        "error_code": 500,
        "error": "HTTP 500",
        "attempts": 1,
        "first_failed_at": now,
        "last_attempt_at": now,
    }
    with engine.begin() as conn:
        queries.record_ingest_failures(conn, [failure])
        queries.record_ingest_failures(
            conn, [{**failure, "status": "permanent", "error_code": 404, "error": "HTTP 404"}]
        )
        row = queries.failures_for(conn, ["abc"])["abc"]
        assert (row.status, row.error_code, row.attempts) == ("permanent", 404, 2)
        queries.clear_ingest_failures(conn, ["abc"])
        assert queries.failures_for(conn, ["abc"]) == {}


def test_attach_objects_fills_only_missing_keys(engine):
    with engine.begin() as conn:
        queries.insert_audio_files(
            conn,
            [
                audio_row("https://a.example/legacy.mp3"),
                audio_row("https://a.example/keyed.mp3", b2_object_key="old/key"),
            ],
        )

        def update(url):
            return {
                "url_sha1": url_sha1(url),
                "b2_object_key": "new/key",
                "content_sha256": "00",
                "file_size_bytes": 3,
            }

        attached = queries.attach_objects(
            conn, [update("https://a.example/legacy.mp3"), update("https://a.example/keyed.mp3")]
        )
        keys = dict(
            conn.execute(sa.text("SELECT url, b2_object_key FROM media_pipeline.audio_files")).all()
        )
    assert attached == {url_sha1("https://a.example/legacy.mp3")}
    assert keys == {
        "https://a.example/legacy.mp3": "new/key",
        "https://a.example/keyed.mp3": "old/key",
    }
