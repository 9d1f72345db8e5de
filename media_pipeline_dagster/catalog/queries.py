"""Catalog queries shared by every domain: idempotent inserts and batched look-ups."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from .tables import audio_files, ingest_failures

T = TypeVar("T")

# Bound parameters per statement stay far below both backends' limits.
LOOKUP_CHUNK = 1000
INSERT_CHUNK = 500

AUDIO_COLUMNS = (
    "phone",
    "campaign_name",
    "recording_id",
    "url",
    "url_sha1",
    "content_sha256",
    "started",
    "stopped",
    "duration_seconds",
    "index_in_phone",
    "b2_object_key",
    "local_path",
    "file_size_bytes",
    "source_table",
    "source_row_id",
    "company",
)


def chunks(values: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of up to ``size`` items, taken lazily (``itertools.batched`` is Python 3.12)."""
    iterator = iter(values)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def dialect_insert(conn: sa.Connection, table: sa.Table):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _one_of(conn: sa.Connection, column: sa.Column, values: Sequence[str]):
    """``column IN (values)``; on PostgreSQL ``= ANY(array)``, one parameter instead of a
    thousand to render and parse (a re-run looks up every URL hash it reads)."""
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(sa.Text)))
    return column.in_(values)


def existing_audio_keys(conn: sa.Connection, sha1s: Iterable[str]) -> dict[str, str | None]:
    """url_sha1 -> b2_object_key (None for rows cataloged without an object, e.g. by the
    legacy SQL backfill) for the URL hashes the catalog holds: one query per 1,000 keys."""
    wanted = sorted(set(sha1s))
    found: dict[str, str | None] = {}
    for chunk in chunks(wanted, LOOKUP_CHUNK):
        stmt = sa.select(audio_files.c.url_sha1, audio_files.c.b2_object_key).where(
            _one_of(conn, audio_files.c.url_sha1, chunk)
        )
        found.update({sha1: key for sha1, key in conn.execute(stmt)})
    return found


def attach_objects(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Give rows cataloged without an object their uploaded object; never overwrites a key."""
    stmt = (
        sa.update(audio_files)
        .where(
            audio_files.c.url_sha1 == sa.bindparam("k_sha1"), audio_files.c.b2_object_key.is_(None)
        )
        .values(
            b2_object_key=sa.bindparam("k_key"),
            content_sha256=sa.bindparam("k_sha256"),
            file_size_bytes=sa.bindparam("k_size"),
            local_path=sa.func.coalesce(audio_files.c.local_path, sa.bindparam("k_local")),
        )
    )
    updated: set[str] = set()
    for row in rows:
        result = conn.execute(
            stmt,
            {
                "k_sha1": row["url_sha1"],
                "k_key": row["b2_object_key"],
                "k_sha256": row["content_sha256"],
                "k_size": row["file_size_bytes"],
                "k_local": row.get("local_path"),
            },
        )
        if result.rowcount:
            updated.add(row["url_sha1"])
    return updated


def existing_recording_ids(conn: sa.Connection, recording_ids: Iterable[str | None]) -> set[str]:
    wanted = sorted({rid for rid in recording_ids if rid})
    found: set[str] = set()
    for chunk in chunks(wanted, LOOKUP_CHUNK):
        stmt = sa.select(audio_files.c.recording_id).where(
            _one_of(conn, audio_files.c.recording_id, chunk)
        )
        found.update(conn.scalars(stmt))
    return found


def insert_audio_files(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert rows with ``ON CONFLICT (url_sha1) DO NOTHING``; returns url_sha1 -> new id.

    Rows whose URL is already cataloged are silently kept as they are. A row whose
    ``recording_id`` is already taken by another URL (the partial unique index) is
    skipped too: the batch is retried row by row inside savepoints so the rest lands.
    One cached statement runs over the whole batch (SQLAlchemy's insertmanyvalues).
    """
    stmt = (
        dialect_insert(conn, audio_files)
        .on_conflict_do_nothing(index_elements=["url_sha1"])
        .returning(audio_files.c.url_sha1, audio_files.c.id)
    )
    inserted: dict[str, int] = {}
    for chunk in chunks(rows, INSERT_CHUNK):
        values = [{col: row.get(col) for col in AUDIO_COLUMNS} for row in chunk]
        try:
            with conn.begin_nested():
                inserted.update({sha1: id_ for sha1, id_ in conn.execute(stmt, values)})
        except IntegrityError:
            for value in values:
                try:
                    with conn.begin_nested():
                        inserted.update({sha1: id_ for sha1, id_ in conn.execute(stmt, [value])})
                except IntegrityError:
                    continue
    return inserted


def refresh_index_in_phone(conn: sa.Connection, phones: Iterable[str | None]) -> None:
    """Recompute ``index_in_phone`` (chronological position per phone) for these phones."""
    wanted = sorted({p for p in phones if p})
    if conn.dialect.name == "postgresql":
        sql = sa.text(
            """
            UPDATE media_pipeline.audio_files a SET index_in_phone = o.rn
            FROM (SELECT id, row_number() OVER (PARTITION BY phone ORDER BY started NULLS LAST, id) AS rn
                  FROM media_pipeline.audio_files WHERE phone = ANY(:phones)) o
            WHERE a.id = o.id AND a.index_in_phone IS DISTINCT FROM o.rn
            """
        )
        for chunk in chunks(wanted, LOOKUP_CHUNK):
            conn.execute(sql, {"phones": list(chunk)})
        return
    sql = sa.text(
        """
        UPDATE media_pipeline.audio_files SET index_in_phone = o.rn
        FROM (SELECT id, row_number() OVER (PARTITION BY phone ORDER BY started NULLS LAST, id) AS rn
              FROM media_pipeline.audio_files WHERE phone IN :phones) AS o
        WHERE audio_files.id = o.id AND audio_files.index_in_phone IS NOT o.rn
        """
    ).bindparams(sa.bindparam("phones", expanding=True))
    for chunk in chunks(wanted, LOOKUP_CHUNK):
        conn.execute(sql, {"phones": list(chunk)})


def duplicate_url_sha1s(conn: sa.Connection, limit: int = 20) -> list[tuple[str, int]]:
    """The old ingest script's dedupe guard: url_sha1 values held by more than one row."""
    stmt = (
        sa.select(audio_files.c.url_sha1, sa.func.count().label("c"))
        .group_by(audio_files.c.url_sha1)
        .having(sa.func.count() > 1)
        .order_by(sa.desc("c"))
        .limit(limit)
    )
    return [(sha1, count) for sha1, count in conn.execute(stmt)]


def campaign_names(conn: sa.Connection) -> list[str]:
    stmt = (
        sa.select(audio_files.c.campaign_name)
        .distinct()
        .where(audio_files.c.campaign_name.is_not(None))
    )
    return list(conn.scalars(stmt))


def audio_objects_between(
    conn: sa.Connection, names: Sequence[str], start: datetime, end: datetime, chunk: int
) -> Iterator[list[sa.Row]]:
    """(id, b2_object_key, file_size_bytes, started) of these campaigns' rows whose call started
    in [start, end), in key order (rows without a key first), ``chunk`` rows at a time from a
    server-side cursor."""
    if not names:
        return
    a = audio_files
    stmt = (
        sa.select(a.c.id, a.c.b2_object_key, a.c.file_size_bytes, a.c.started)
        .where(a.c.campaign_name.in_(list(names)))
        .where(a.c.started >= start, a.c.started < end)
        .order_by(a.c.b2_object_key.nulls_first(), a.c.id)
    )
    result = conn.execution_options(yield_per=chunk).execute(stmt)
    for partition in result.partitions():
        yield list(partition)


# -- ingest failures (additive table: media_pipeline.ingest_failures) -----------------


def failures_for(conn: sa.Connection, sha1s: Iterable[str]) -> dict[str, sa.Row]:
    wanted = sorted(set(sha1s))
    found: dict[str, sa.Row] = {}
    for chunk in chunks(wanted, LOOKUP_CHUNK):
        stmt = sa.select(ingest_failures).where(_one_of(conn, ingest_failures.c.url_sha1, chunk))
        found.update({row.url_sha1: row for row in conn.execute(stmt)})
    return found


def record_ingest_failures(conn: sa.Connection, failures: Sequence[dict[str, Any]]) -> None:
    """Upsert failures: ``attempts`` grows, the latest status and error win."""
    if not failures:
        return
    insert = dialect_insert(conn, ingest_failures)
    stmt = insert.on_conflict_do_update(
        index_elements=["url_sha1"],
        set_={
            "status": insert.excluded.status,
            "error_code": insert.excluded.error_code,
            "error": insert.excluded.error,
            "campaign_name": insert.excluded.campaign_name,
            "attempts": ingest_failures.c.attempts + 1,
            "last_attempt_at": insert.excluded.last_attempt_at,
        },
    )
    for chunk in chunks(failures, INSERT_CHUNK):
        conn.execute(stmt.values(list(chunk)))


def clear_ingest_failures(conn: sa.Connection, sha1s: Iterable[str]) -> None:
    wanted = sorted(set(sha1s))
    for chunk in chunks(wanted, LOOKUP_CHUNK):
        conn.execute(sa.delete(ingest_failures).where(ingest_failures.c.url_sha1.in_(chunk)))
