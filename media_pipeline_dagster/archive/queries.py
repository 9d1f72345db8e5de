"""Reads and writes of post_media, the same SQL on PostgreSQL and SQLite.

Timestamps are compared as the column holds them: datetimes on PostgreSQL, ISO text
('YYYY-MM-DD HH:MM:SS' or with a 'T') on SQLite, where text order is time order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

COLUMNS = "media_id, post_id, media_type, local_file_path, md5_sum, file_size, mime_type, archive_url, created_at"
SAMPLE_IDS = 50


@dataclass(frozen=True)
class MediaRow:
    media_id: str
    post_id: str | None
    media_type: str | None
    local_file_path: str | None
    md5_sum: str | None
    file_size: int | None
    mime_type: str | None
    archive_url: str | None
    created_at: datetime | None  # naive UTC; None when NULL or unreadable
    created_at_raw: str | None  # as stored, for messages


def parse_created_at(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _row(r: sa.Row) -> MediaRow:
    return MediaRow(
        media_id=str(r.media_id),
        post_id=r.post_id,
        media_type=r.media_type,
        local_file_path=r.local_file_path,
        md5_sum=r.md5_sum,
        file_size=r.file_size,
        mime_type=r.mime_type,
        archive_url=r.archive_url,
        created_at=parse_created_at(r.created_at),
        created_at_raw=None if r.created_at is None else str(r.created_at),
    )


def _bound(conn: sa.Connection, moment: datetime) -> object:
    if conn.dialect.name != "sqlite":
        return moment
    # Month bounds are midnights: a bare date compares right against '2025-12-01', '2025-12-01 10:00'
    # and '2025-12-01T10:00Z' alike, where '2025-12-01 00:00:00' would put a bare date before it.
    return moment.strftime(
        "%Y-%m-%d" if moment.time() == datetime.min.time() else "%Y-%m-%d %H:%M:%S"
    )


def _limit(limit: int | None) -> str:
    return f" LIMIT {int(limit)}" if limit is not None else ""


def rows_between(
    conn: sa.Connection,
    start: datetime,
    end: datetime,
    *,
    include_archived: bool,
    limit: int | None = None,
) -> list[MediaRow]:
    """Rows with start <= created_at < end, oldest first (archive_url NULL only unless include_archived)."""
    unarchived = "" if include_archived else " AND archive_url IS NULL"
    sql = (
        f"SELECT {COLUMNS} FROM post_media WHERE created_at >= :start AND created_at < :end{unarchived}"
        f" ORDER BY created_at, media_id{_limit(limit)}"
    )
    result = conn.execute(sa.text(sql), {"start": _bound(conn, start), "end": _bound(conn, end)})
    return [_row(r) for r in result]


def rows_outside(
    conn: sa.Connection,
    start: datetime,
    end: datetime,
    *,
    include_archived: bool,
    limit: int | None = None,
) -> list[MediaRow]:
    """Rows no partition covers: created_at NULL, before ``start`` or from ``end`` on."""
    unarchived = "" if include_archived else " AND archive_url IS NULL"
    sql = (
        f"SELECT {COLUMNS} FROM post_media WHERE (created_at IS NULL OR created_at < :start OR created_at >= :end)"
        f"{unarchived} ORDER BY media_id{_limit(limit)}"
    )
    result = conn.execute(sa.text(sql), {"start": _bound(conn, start), "end": _bound(conn, end)})
    return [_row(r) for r in result]


@dataclass(frozen=True)
class Unpartitioned:
    """Unarchived rows outside the monthly partitions."""

    undated: int
    before_start: int
    after_end: int
    sample_ids: list[str]

    @property
    def total(self) -> int:
        return self.undated + self.before_start + self.after_end


def unpartitioned(conn: sa.Connection, start: datetime, end: datetime) -> Unpartitioned:
    params = {"start": _bound(conn, start), "end": _bound(conn, end)}
    counts = conn.execute(
        sa.text(
            "SELECT SUM(CASE WHEN created_at IS NULL THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN created_at < :start THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN created_at >= :end THEN 1 ELSE 0 END)"
            " FROM post_media WHERE archive_url IS NULL"
        ),
        params,
    ).one()
    ids = conn.scalars(
        sa.text(
            "SELECT media_id FROM post_media WHERE archive_url IS NULL"
            " AND (created_at IS NULL OR created_at < :start OR created_at >= :end)"
            f" ORDER BY media_id LIMIT {SAMPLE_IDS}"
        ),
        params,
    ).all()
    undated, before_start, after_end = (int(c or 0) for c in counts)
    return Unpartitioned(undated, before_start, after_end, sample_ids=[str(i) for i in ids])


def set_archive_urls(conn: sa.Connection, urls: Sequence[tuple[str, str]]) -> None:
    """One executemany for a batch of (media_id, archive_url)."""
    if urls:
        conn.execute(
            sa.text("UPDATE post_media SET archive_url = :archive_url WHERE media_id = :media_id"),
            [{"media_id": m, "archive_url": u} for m, u in urls],
        )


def unarchived_md5s(conn: sa.Connection, md5s: Iterable[str]) -> set[str]:
    """Which of these md5 sums some unarchived row still needs (their files must stay)."""
    wanted = sorted({m.lower() for m in md5s})
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        stmt = sa.text(
            "SELECT DISTINCT lower(md5_sum) FROM post_media WHERE archive_url IS NULL"
            " AND lower(md5_sum) IN :md5s"
        ).bindparams(sa.bindparam("md5s", expanding=True))
        found.update(conn.scalars(stmt, {"md5s": wanted[i : i + 500]}))
    return found


@dataclass(frozen=True)
class MonthState:
    month: str  # YYYY-MM
    rows: int
    unarchived: int
    newest: str  # newest created_at, as text


def months_with_unarchived_rows(conn: sa.Connection) -> list[MonthState]:
    """Per month that still has rows without archive_url: its row count, unarchived count, newest created_at."""
    sqlite = conn.dialect.name == "sqlite"
    month = "substr(created_at, 1, 7)" if sqlite else "to_char(created_at, 'YYYY-MM')"
    newest = "MAX(created_at)" if sqlite else "to_char(MAX(created_at), 'YYYY-MM-DD HH24:MI:SS.US')"
    unarchived = "SUM(CASE WHEN archive_url IS NULL THEN 1 ELSE 0 END)"
    result = conn.execute(
        sa.text(
            f"SELECT {month} AS month, COUNT(*) AS n, {unarchived} AS unarchived, {newest} AS newest FROM post_media"
            f" WHERE created_at IS NOT NULL GROUP BY {month} HAVING {unarchived} > 0 ORDER BY 1"
        )
    )
    return [MonthState(str(r.month), int(r.n), int(r.unarchived), str(r.newest)) for r in result]


def archived_rows(
    conn: sa.Connection, *, limit: int | None, sample: bool
) -> tuple[int, list[MediaRow]]:
    """(how many rows have an archive_url, up to ``limit`` of them: random when ``sample``, else oldest)."""
    total = int(
        conn.scalar(sa.text("SELECT COUNT(*) FROM post_media WHERE archive_url IS NOT NULL")) or 0
    )
    order = "RANDOM()" if sample and limit is not None and limit < total else "created_at, media_id"
    rows = conn.execute(
        sa.text(
            f"SELECT {COLUMNS} FROM post_media WHERE archive_url IS NOT NULL ORDER BY {order}{_limit(limit)}"
        )
    )
    return total, [_row(r) for r in rows]


def unarchived_rows(conn: sa.Connection) -> list[MediaRow]:
    rows = conn.execute(
        sa.text(f"SELECT {COLUMNS} FROM post_media WHERE archive_url IS NULL ORDER BY media_id")
    )
    return [_row(r) for r in rows]
