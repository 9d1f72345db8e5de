"""Audio waiting for a transcript for too long: the sign of a stopped sensor, a dead worker
queue or a provider that keeps failing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..catalog.tables import audio_files, transcription_failures, transcriptions

COMPLETED = "completed"
PERMANENT = "permanent"


@dataclass(frozen=True)
class PendingBacklog:
    count: int
    oldest: datetime | None
    by_campaign: dict[str, int]


def overdue_audio(engine: sa.Engine, *, now: datetime, max_age: timedelta) -> PendingBacklog:
    """Audio cataloged more than ``max_age`` ago with neither a completed transcription nor a
    permanent failure (a permanent failure is a decision someone must take, not a backlog).
    Rows without ``created_at`` (older catalogs) are aged by their call's start."""
    a, t, f = audio_files, transcriptions, transcription_failures
    since = sa.func.coalesce(a.c.created_at, a.c.started)
    waiting = sa.and_(
        since < now - max_age,
        sa.not_(sa.exists().where(t.c.audio_file_id == a.c.id, t.c.status == COMPLETED)),
        sa.not_(sa.exists().where(f.c.audio_file_id == a.c.id, f.c.status == PERMANENT)),
    )
    stmt = (
        sa.select(a.c.campaign_name, sa.func.count(), sa.func.min(since))
        .where(waiting)
        .group_by(a.c.campaign_name)
    )
    with engine.connect() as conn:
        rows = list(conn.execute(stmt))
    oldest = min((r[2] for r in rows if r[2] is not None), default=None)
    return PendingBacklog(
        count=sum(r[1] for r in rows),
        oldest=oldest,
        by_campaign={(r[0] or "(no campaign)"): r[1] for r in rows},
    )
