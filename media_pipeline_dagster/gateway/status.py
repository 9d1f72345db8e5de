"""What the status endpoint answers: pending, completed (with the transcript and its keys) or failed."""

from __future__ import annotations

import sqlalchemy as sa

from ..catalog.tables import (
    audio_files,
    transcription_claims,
    transcription_failures,
    transcriptions,
)
from ..transcription.queue import COMPLETED


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def audio_status(conn: sa.Connection, audio_file_id: int) -> dict | None:
    """One query (audio ⟕ transcription ⟕ failure ⟕ claim): the endpoint answers under load."""
    a, t, f, c = audio_files, transcriptions, transcription_failures, transcription_claims
    stmt = (
        sa.select(
            a.c.b2_object_key,
            t.c.status.label("t_status"),
            t.c.provider,
            t.c.model,
            t.c.completed_at,
            t.c.transcript_text,
            t.c.metadata.label("t_metadata"),
            t.c.b2_transcript_key,
            f.c.status.label("f_status"),
            f.c.error,
            f.c.error_code,
            f.c.attempts,
            f.c.last_attempt_at,
            f.c.ignore_until,
            c.c.claimed_by,
        )
        .select_from(
            a.outerjoin(t, t.c.audio_file_id == a.c.id)
            .outerjoin(f, f.c.audio_file_id == a.c.id)
            .outerjoin(c, c.c.audio_file_id == a.c.id)
        )
        .where(a.c.id == audio_file_id)
    )
    row = conn.execute(stmt).first()
    if row is None:
        return None
    base = {"audio_file_id": audio_file_id, "b2_key": row.b2_object_key}
    if row.t_status == COMPLETED:
        meta = row.t_metadata or {}
        return {
            **base,
            "status": "completed",
            "transcript": row.transcript_text,
            "metadata": {
                "provider": row.provider,
                "model": row.model,
                "completed_at": _iso(row.completed_at),
                "language": meta.get("language"),
                "duration": meta.get("duration"),
                "b2_transcript_json_key": meta.get("b2_transcript_json_key")
                or row.b2_transcript_key,
                "b2_transcript_txt_key": meta.get("b2_transcript_txt_key"),
            },
        }
    if row.f_status is not None:
        return {
            **base,
            "status": "failed",
            "transcript": None,
            "metadata": {
                "failure": row.f_status,
                "error": row.error,
                "error_code": row.error_code,
                "attempts": row.attempts,
                "last_attempt_at": _iso(row.last_attempt_at),
                # transient failures are retried by the sensor after their cooldown; permanent ones wait for /rerun
                "next_retry_at": _iso(row.ignore_until) if row.f_status == "transient" else None,
            },
        }
    return {
        **base,
        "status": "pending",
        "transcript": None,
        "metadata": {"in_progress": row.claimed_by is not None, "claimed_by": row.claimed_by},
    }


def clear_failure(conn: sa.Connection, audio_file_id: int) -> bool:
    """Re-queue a failed file: its failure row goes, so the sensor sees it as pending."""
    deleted = conn.execute(
        sa.delete(transcription_failures).where(
            transcription_failures.c.audio_file_id == audio_file_id
        )
    ).rowcount
    conn.commit()
    return bool(deleted)


def rerun(conn: sa.Connection, audio_file_id: int) -> tuple[dict | None, bool]:
    """The file's status and whether a failure was cleared (never for a missing or completed file)."""
    found = audio_status(conn, audio_file_id)
    if found is None or found["status"] == "completed":
        return found, False
    return found, clear_failure(conn, audio_file_id)
