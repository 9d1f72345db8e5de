"""Verification of transcriptions (orphans, and the objects and claims the runs leave)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from ..catalog.tables import audio_files, transcriptions
from . import queue
from .queue import COMPLETED, partition_filters


def orphan_transcriptions(engine: sa.Engine) -> int:
    t, a = transcriptions, audio_files
    stmt = (
        sa.select(sa.func.count())
        .select_from(t.outerjoin(a, a.c.id == t.c.audio_file_id))
        .where(a.c.id.is_(None))
    )
    with engine.connect() as conn:
        return conn.scalar(stmt) or 0


@dataclass(frozen=True)
class ObjectsCheck:
    checked: int
    missing: list[tuple[int, str]]  # (audio_file_id, key)


def transcript_objects(engine: sa.Engine, store, wanted: dict[str, set[date]]) -> ObjectsCheck:
    """Every completed transcription of these partitions has its JSON and TXT objects."""
    t, a = transcriptions, audio_files
    with engine.connect() as conn:
        terms = partition_filters(conn, wanted)
        if not terms:
            return ObjectsCheck(0, [])
        stmt = (
            sa.select(
                t.c.audio_file_id,
                t.c.b2_transcript_key,
                t.c.metadata,
                a.c.started,
                a.c.campaign_name,
            )
            .join(a, a.c.id == t.c.audio_file_id)
            .where(t.c.status == COMPLETED, sa.or_(*terms))
        )
        rows = list(conn.execute(stmt))
    expected: list[tuple[int, str]] = []
    for row in rows:
        meta = row.metadata or {}
        keys = {
            meta.get("b2_transcript_json_key") or row.b2_transcript_key,
            meta.get("b2_transcript_txt_key"),
        }
        expected.extend((row.audio_file_id, k) for k in keys if k)
    sizes = asyncio.run(store.sizes([k for _, k in expected])) if expected else {}
    return ObjectsCheck(len(rows), [(i, k) for i, k in expected if sizes.get(k) is None])


def stale_claims(engine: sa.Engine, ttl: timedelta) -> list[sa.Row]:
    with engine.connect() as conn:
        return queue.stale_claims(conn, now=queue.now_utc(), ttl=ttl)
