"""The old verify_s3_archive.py as plain functions: archived objects exist; rows without a local file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from . import queries
from .locate import MediaCache, normalize_md5
from .objects import stored_object


@dataclass
class ObjectVerification:
    rows_archived: int
    rows_checked: int
    sampled: bool
    missing: list[tuple[str, str | None]] = field(default_factory=list)  # (media_id, archive_url)
    differs: list[tuple[str, str | None, str | None, str | None]] = field(
        default_factory=list
    )  # (id, url, md5_sum, stored md5)
    elsewhere: list[tuple[str, str | None]] = field(
        default_factory=list
    )  # archive_url outside this bucket: not checked

    @property
    def passed(self) -> bool:
        return not self.missing and not self.differs


def verify_archived_objects(
    engine: sa.Engine, bucket, *, limit: int | None, sample: bool, concurrency: int
) -> ObjectVerification:
    """HEAD the objects of archived rows (up to ``limit``, sampled at random when there are more)."""
    with engine.connect() as conn:
        total, rows = queries.archived_rows(conn, limit=limit, sample=sample)
    result = ObjectVerification(
        rows_archived=total, rows_checked=len(rows), sampled=limit is not None and total > limit
    )
    keyed = []
    for row in rows:
        key = bucket.key_of(row.archive_url)
        if key is None:
            result.elsewhere.append((row.media_id, row.archive_url))
        else:
            keyed.append((row, key))
    heads = bucket.head_many(sorted({k for _, k in keyed}), concurrency=concurrency)
    for row, key in keyed:
        stored = stored_object(heads.get(key))
        expected = normalize_md5(row.md5_sum)
        if stored is None:
            result.missing.append((row.media_id, row.archive_url))
        elif stored.md5 and expected and stored.md5 != expected:
            result.differs.append((row.media_id, row.archive_url, expected, stored.md5))
    return result


@dataclass
class LocalFileReport:
    rows: int
    unarchived_without_file: list[
        tuple[str, str | None, str | None]
    ]  # (media_id, media_type, md5_sum)
    archived_without_file: int  # fine: e.g. deleted after upload
    unpartitioned: queries.Unpartitioned

    @property
    def passed(self) -> bool:
        return not self.unarchived_without_file and not self.unpartitioned.total


def check_local_files(
    engine: sa.Engine, cache: MediaCache, span: tuple[datetime, datetime]
) -> LocalFileReport:
    """Which unarchived rows have no file in the cache (the old --check-local), and which no partition covers."""
    with engine.connect() as conn:
        unarchived = queries.unarchived_rows(conn)
        archived_total, archived = queries.archived_rows(conn, limit=None, sample=False)
        outside = queries.unpartitioned(conn, *span)
    missing = [
        (r.media_id, r.media_type, r.md5_sum) for r in unarchived if cache.locate(r).path is None
    ]
    archived_gone = sum(1 for r in archived if cache.locate(r).path is None)
    return LocalFileReport(len(unarchived) + archived_total, missing, archived_gone, outside)
