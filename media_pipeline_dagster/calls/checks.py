"""Verification of the audio catalog (the seeds' queries), as plain functions the checks call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from ..catalog import queries
from .keys import slugify
from .partitions import utc_bounds


@dataclass(frozen=True)
class ObjectCheck:
    rows_checked: int
    missing: list[tuple[int, str | None]]  # (id, key)
    size_mismatch: list[tuple[int, str, int, int]]  # (id, key, cataloged, in bucket)

    @property
    def passed(self) -> bool:
        return not self.missing and not self.size_mismatch


def partition_audio_rows(engine: sa.Engine, wanted: dict[str, set[date]]) -> list[sa.Row]:
    rows: list[sa.Row] = []
    with engine.connect() as conn:
        names = queries.campaign_names(conn)
        for slug, days in wanted.items():
            start, end = utc_bounds(days)
            matching = [n for n in names if slugify(n) == slug]
            rows.extend(r for r in queries.audio_files_between(conn, matching, start, end) if r.started.date() in days)
    return rows


def check_objects(engine: sa.Engine, store, wanted: dict[str, set[date]]) -> ObjectCheck:
    """Every cataloged row of these partitions has its object, of the recorded size."""
    rows = partition_audio_rows(engine, wanted)
    keyed = [r for r in rows if r.b2_object_key]
    sizes = asyncio.run(store.sizes([r.b2_object_key for r in keyed])) if keyed else {}
    missing = [(r.id, r.b2_object_key) for r in rows if not r.b2_object_key or sizes.get(r.b2_object_key) is None]
    mismatch = [
        (r.id, r.b2_object_key, r.file_size_bytes, sizes[r.b2_object_key])
        for r in keyed
        if sizes.get(r.b2_object_key) is not None
        and r.file_size_bytes is not None
        and sizes[r.b2_object_key] != r.file_size_bytes
    ]
    return ObjectCheck(len(rows), missing, mismatch)


def duplicate_url_sha1s(engine: sa.Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return queries.duplicate_url_sha1s(conn)
