"""Writing outcomes to the catalog: a transcription upserted per audio file, failures with a cooldown or as permanent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..catalog.queries import dialect_insert
from ..catalog.tables import transcription_failures, transcriptions
from .queue import COMPLETED, release

ERROR_CHARS = 2000  # messages stay at ~2k characters, as the old worker stored them

TRANSIENT = "transient"
PERMANENT = "permanent"


def upsert_transcription(conn: sa.Connection, row: dict[str, Any]) -> None:
    """One transcription per audio file: insert, or update it in place (ON CONFLICT on audio_file_id)."""
    insert = dialect_insert(conn, transcriptions)
    columns = (
        "provider",
        "model",
        "status",
        "completed_at",
        "transcript_text",
        "segments",
        "diarization",
        "metadata",
        "raw_response",
        "b2_transcript_key",
    )
    stmt = insert.values(**row).on_conflict_do_update(
        index_elements=["audio_file_id"], set_={name: insert.excluded[name] for name in columns}
    )
    conn.execute(stmt)


def record_failure(
    conn: sa.Connection,
    *,
    audio_file_id: int,
    provider: str,
    model: str,
    status: str,
    error: str,
    error_code: int | None,
    now: datetime,
    cooldown: timedelta,
) -> None:
    """Upsert the file's failure: ``attempts`` grows; transient ones cool down, permanent ones wait for a person."""
    insert = dialect_insert(conn, transcription_failures)
    f = transcription_failures
    values = {
        "audio_file_id": audio_file_id,
        "provider": provider,
        "model": model,
        "status": status,
        "error_code": error_code,
        "error": error[:ERROR_CHARS],
        "attempts": 1,
        "last_attempt_at": now,
        "ignore_until": now + cooldown if status == TRANSIENT else None,
    }
    stmt = insert.values(**values).on_conflict_do_update(
        index_elements=["audio_file_id"],
        set_={
            "provider": insert.excluded.provider,
            "model": insert.excluded.model,
            "status": insert.excluded.status,
            "error_code": insert.excluded.error_code,
            "error": insert.excluded.error,
            "attempts": f.c.attempts + 1,
            "last_attempt_at": insert.excluded.last_attempt_at,
            "ignore_until": insert.excluded.ignore_until,
        },
    )
    conn.execute(stmt)


def complete(conn: sa.Connection, row: dict[str, Any], *, worker: str) -> None:
    """Success: the transcription lands, any earlier failure is cleared, the claim is released —
    in one transaction, so another worker's re-check sees the result before the claim is gone."""
    upsert_transcription(conn, {**row, "status": COMPLETED})
    conn.execute(
        sa.delete(transcription_failures).where(
            transcription_failures.c.audio_file_id == row["audio_file_id"]
        )
    )
    release(conn, [row["audio_file_id"]], worker=worker)


def fail(conn: sa.Connection, *, worker: str, **failure: Any) -> None:
    record_failure(conn, **failure)
    release(conn, [failure["audio_file_id"]], worker=worker)
