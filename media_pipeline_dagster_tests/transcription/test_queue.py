"""The pending selection, claims and outcome writes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from media_pipeline_dagster.resources.databases import CatalogResource
from media_pipeline_dagster.transcription import queue, results

from .helpers import DAY, now, seed_audio, table

TTL = timedelta(minutes=60)
WANTED = {"dexter-outbound": {date.fromisoformat(DAY)}}


@pytest.fixture
def engine(catalog_url):
    return CatalogResource(database_url=catalog_url).engine


def pending_ids(engine, **kw):
    with engine.connect() as conn:
        rows, held = queue.pending_audio(
            conn, WANTED, now=kw.pop("at", None) or now(), claim_ttl=TTL, **kw
        )
    return [r.id for r in rows], held


def complete(engine, audio_id, worker="w"):
    with engine.begin() as conn:
        results.complete(
            conn,
            {
                "audio_file_id": audio_id,
                "provider": "OpenAI",
                "model": "whisper-1",
                "completed_at": now(),
                "transcript_text": "hi",
                "segments": [],
                "diarization": None,
                "metadata": {},
                "raw_response": {},
                "b2_transcript_key": "k.json",
            },
            worker=worker,
        )


def fail(engine, audio_id, status, worker="w", cooldown=TTL):
    with engine.begin() as conn:
        results.fail(
            conn,
            worker=worker,
            audio_file_id=audio_id,
            provider="OpenAI",
            model="whisper-1",
            status=status,
            error="boom",
            error_code=500,
            now=now(),
            cooldown=cooldown,
        )


def test_pending_leaves_out_done_failed_cooling_and_claimed(engine):
    ids = seed_audio(engine, None, [b"a", b"b", b"c", b"d", b"e"])
    other_day = seed_audio(engine, None, [b"f"], day="2025-08-28")
    other_campaign = seed_audio(engine, None, [b"g"], campaign="Other")
    complete(engine, ids[0])
    fail(engine, ids[1], "permanent")
    fail(engine, ids[2], "transient")
    with engine.begin() as conn:
        assert queue.claim(conn, [ids[3]], worker="legacy-host", ttl=TTL) == [ids[3]]
    pending, held = pending_ids(engine)
    assert pending == [ids[4]]
    assert held == {
        "already_transcribed": 1,
        "permanent_failure": 1,
        "cooling_down": 1,
        "claimed_elsewhere": 1,
    }
    assert other_day[0] not in pending and other_campaign[0] not in pending
    # force: done ones come back; retry_failed: failures come back
    assert pending_ids(engine, force_since=now())[0] == [ids[0], ids[4]]
    assert pending_ids(engine, retry_failed=True)[0] == [ids[1], ids[2], ids[4]]
    # a cooldown that ended makes the row pending again
    assert ids[2] in pending_ids(engine, at=now() + 2 * TTL)[0]


def test_claims_are_exclusive_and_expire(engine):
    ids = seed_audio(engine, None, [b"a", b"b", b"c"])
    with engine.begin() as conn:
        first = queue.claim(conn, ids[:2], worker="run-1", ttl=TTL)
    with engine.begin() as conn:
        second = queue.claim(conn, ids, worker="run-2", ttl=TTL)
    assert first == ids[:2] and second == ids[2:]
    # run-1 died: after its TTL, run-3 takes its claims over
    with engine.begin() as conn:
        later = queue.claim(
            conn, ids, worker="run-3", ttl=TTL, now=now() + TTL + timedelta(seconds=1)
        )
    assert later == ids
    claims = {r.audio_file_id: r.claimed_by for r in table(engine, "transcription_claims")}
    assert claims == dict.fromkeys(ids, "run-3")


def test_legacy_claim_without_expiry_counts_until_ttl(engine):
    (audio_id,) = seed_audio(engine, None, [b"a"])
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO media_pipeline.transcription_claims (audio_file_id, claimed_by, claimed_at, expires_at) "
                "VALUES (:id, 'legacy-worker', :at, NULL)"
            ),
            {"id": audio_id, "at": _db_time(engine, now())},
        )
    with engine.begin() as conn:
        assert queue.claim(conn, [audio_id], worker="me", ttl=TTL) == []
    with engine.begin() as conn:
        assert queue.claim(
            conn, [audio_id], worker="me", ttl=TTL, now=now() + TTL + timedelta(minutes=1)
        ) == [audio_id]


def test_claim_drops_rows_finished_meanwhile_and_release_is_per_worker(engine):
    ids = seed_audio(engine, None, [b"a", b"b"])
    complete(engine, ids[0], worker="someone")  # finished after our pending list was read
    with engine.begin() as conn:
        assert queue.claim(conn, ids, worker="me", ttl=TTL) == [ids[1]]
        queue.release(conn, [ids[1]], worker="not-me")
    assert [r.audio_file_id for r in table(engine, "transcription_claims")] == [ids[1]]


def test_failures_count_attempts_and_success_clears_them(engine):
    (audio_id,) = seed_audio(engine, None, [b"a"])
    fail(engine, audio_id, "transient")
    fail(engine, audio_id, "transient", cooldown=timedelta(minutes=5))
    (row,) = table(engine, "transcription_failures")
    assert row.attempts == 2 and row.status == "transient" and row.error_code == 500
    assert row.ignore_until is not None
    fail(engine, audio_id, "permanent")
    (row,) = table(engine, "transcription_failures")
    assert row.attempts == 3 and row.ignore_until is None
    complete(engine, audio_id)
    assert table(engine, "transcription_failures") == []
    (done,) = table(engine, "transcriptions")
    assert done.status == "completed"
    complete(engine, audio_id)  # upsert: still one row
    assert len(table(engine, "transcriptions")) == 1


def test_pending_summary_groups_by_campaign_and_utc_day(engine):
    seed_audio(engine, None, [b"a", b"b"])
    seed_audio(engine, None, [b"c"], day="2025-08-28")
    done = seed_audio(engine, None, [b"d"], campaign="Other")
    complete(engine, done[0])
    with engine.connect() as conn:
        summary = {
            (r.campaign_name, r.day): r.pending
            for r in queue.pending_summary(conn, now=now(), ttl=TTL)
        }
    assert summary == {("Dexter Outbound", DAY): 2, ("Dexter Outbound", "2025-08-28"): 1}


def _db_time(engine, value):
    return value.isoformat(timespec="microseconds") if engine.dialect.name == "sqlite" else value
