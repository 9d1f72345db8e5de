"""What the status endpoint answers: pending, completed (with the transcript and its keys) or failed."""

from __future__ import annotations

import sqlalchemy as sa

from ..catalog.tables import audio_files, transcription_claims, transcription_failures, transcriptions
from ..transcription.queue import COMPLETED


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def audio_status(engine: sa.Engine, audio_file_id: int) -> dict | None:
    a, t, f, c = audio_files, transcriptions, transcription_failures, transcription_claims
    with engine.connect() as conn:
        audio = conn.execute(sa.select(a.c.id, a.c.b2_object_key, a.c.campaign_name).where(a.c.id == audio_file_id)).first()
        if audio is None:
            return None
        done = conn.execute(sa.select(t).where(t.c.audio_file_id == audio_file_id)).first()
        failure = conn.execute(sa.select(f).where(f.c.audio_file_id == audio_file_id)).first()
        claim = conn.execute(sa.select(c).where(c.c.audio_file_id == audio_file_id)).first()
    base = {"audio_file_id": audio_file_id, "b2_key": audio.b2_object_key}
    if done is not None and done.status == COMPLETED:
        meta = done.metadata or {}
        return {**base, "status": "completed", "transcript": done.transcript_text, "metadata": {
            "provider": done.provider, "model": done.model, "completed_at": _iso(done.completed_at),
            "language": meta.get("language"), "duration": meta.get("duration"),
            "b2_transcript_json_key": meta.get("b2_transcript_json_key") or done.b2_transcript_key,
            "b2_transcript_txt_key": meta.get("b2_transcript_txt_key"),
        }}
    if failure is not None:
        return {**base, "status": "failed", "transcript": None, "metadata": {
            "failure": failure.status, "error": failure.error, "error_code": failure.error_code,
            "attempts": failure.attempts, "last_attempt_at": _iso(failure.last_attempt_at),
            # transient failures are retried by the sensor after their cooldown; permanent ones wait for /rerun
            "next_retry_at": _iso(failure.ignore_until) if failure.status == "transient" else None,
        }}
    return {**base, "status": "pending", "transcript": None,
            "metadata": {"in_progress": claim is not None, "claimed_by": claim.claimed_by if claim else None}}


def clear_failure(engine: sa.Engine, audio_file_id: int) -> bool:
    """Re-queue a failed file: its failure row goes, so the sensor sees it as pending."""
    with engine.begin() as conn:
        deleted = conn.execute(sa.delete(transcription_failures).where(
            transcription_failures.c.audio_file_id == audio_file_id)).rowcount
    return bool(deleted)
