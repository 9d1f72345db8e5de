"""The SQL sent to D1 for ``media_assets``: values only ever as bound parameters.

Statements are sized to D1's limits (100 bound parameters, 100,000 bytes per statement);
full chunks share one SQL text, so D1 prepares each shape once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ..resources.d1 import MAX_PARAMS_PER_STATEMENT, MAX_STATEMENT_BYTES, Statement
from .listing import InventoryObject
from .media_uid import media_uid

TABLE = "media_assets"
INSERT_COLUMNS = ("media_uid", "b2_key", "b2_file_id", "size", "etag")
LAST_SEEN = "last_seen_at"
ENRICH_COLUMNS = ("content_type", "user_metadata", "metadata_fetched_at")
# Statement kinds, to count what each request did.
INSERT, INSERT_WITH_METADATA, ENRICH, TOUCH = "insert", "insert with metadata", "enrich", "touch"


@dataclass(frozen=True)
class AssetRow:
    media_uid: str
    b2_key: str
    b2_file_id: str
    size: int
    etag: str | None

    def params(self) -> tuple:
        return (self.media_uid, self.b2_key, self.b2_file_id, self.size, self.etag)


@dataclass(frozen=True)
class ObjectMetadata:
    """What a HEAD of the object said: its Content-Type and its user metadata (x-amz-meta-*)."""

    content_type: str | None
    user_metadata: Mapping[str, str]

    def as_json(self) -> str:
        return json.dumps(
            dict(self.user_metadata), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )

    def params(self, fetched_at: str | None) -> tuple:
        return (self.content_type, self.as_json(), fetched_at)


def asset_rows(objects: Iterable[InventoryObject]) -> list[AssetRow]:
    """One row per distinct media_uid, in inventory order."""
    rows: dict[str, AssetRow] = {}
    for o in objects:
        uid = media_uid(o.file_id, o.key)
        rows.setdefault(uid, AssetRow(uid, o.key, o.file_id, o.size, o.etag))
    return list(rows.values())


def _chunks(items: Sequence, per_item_params: int, fixed_params: int, size_of) -> Iterator[list]:
    """Runs of items whose statement stays under both D1 limits."""
    most = (MAX_PARAMS_PER_STATEMENT - fixed_params) // per_item_params
    budget = MAX_STATEMENT_BYTES - 2_000  # SQL text and JSON punctuation
    chunk: list = []
    size = 0
    for item in items:
        cost = size_of(item)
        if chunk and (len(chunk) >= most or size + cost > budget):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += cost
    if chunk:
        yield chunk


def _row_bytes(row: AssetRow) -> int:
    return (
        len(row.media_uid)
        + len(row.b2_key.encode())
        + len(row.b2_file_id.encode())
        + len(row.etag or "")
        + 40
    )


def _values(rows: Sequence[AssetRow], columns: Sequence[str], extra) -> tuple[str, tuple]:
    placeholders = ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * len(rows))
    params: list = []
    for row in rows:
        params.extend(row.params())
        params.extend(extra(row))
    return placeholders, tuple(params)


def insert_statements(
    rows: Sequence[AssetRow],
    *,
    last_seen_at: str | None = None,
    metadata: Mapping[str, ObjectMetadata] | None = None,
    fetched_at: str | None = None,
) -> list[Statement]:
    """INSERT OR IGNORE: a row already in D1 (same media_uid) is left exactly as it is.
    With ``metadata`` (every row's, by media_uid), the rows carry their content type and user metadata."""
    columns = (
        INSERT_COLUMNS
        + ((LAST_SEEN,) if last_seen_at else ())
        + (ENRICH_COLUMNS if metadata is not None else ())
    )

    def extra(row: AssetRow) -> tuple:
        seen = (last_seen_at,) if last_seen_at else ()
        return seen + (metadata[row.media_uid].params(fetched_at) if metadata is not None else ())

    def size(row: AssetRow) -> int:
        return _row_bytes(row) + (
            len(metadata[row.media_uid].as_json().encode()) + 80 if metadata is not None else 0
        )

    out = []
    for chunk in _chunks(rows, len(columns), 0, size):
        placeholders, params = _values(chunk, columns, extra)
        kind = INSERT if metadata is None else INSERT_WITH_METADATA
        out.append(
            Statement(
                f"INSERT OR IGNORE INTO {TABLE} ({', '.join(columns)}) VALUES {placeholders}",
                params,
                kind,
            )
        )
    return out


def enrich_statements(
    rows: Sequence[AssetRow], metadata: Mapping[str, ObjectMetadata], *, fetched_at: str
) -> list[Statement]:
    """Content type and user metadata for rows already in D1, set once: a row that has them keeps them.

    An upsert carries many rows per statement (an UPDATE would need one statement per row);
    only the three enrichment columns are ever updated.
    """
    columns = INSERT_COLUMNS + ENRICH_COLUMNS
    updates = ", ".join(f"{c} = excluded.{c}" for c in ENRICH_COLUMNS)
    out = []
    for chunk in _chunks(
        rows,
        len(columns),
        0,
        lambda r: _row_bytes(r) + len(metadata[r.media_uid].as_json().encode()) + 80,
    ):
        placeholders, params = _values(
            chunk, columns, lambda r: metadata[r.media_uid].params(fetched_at)
        )
        out.append(
            Statement(
                f"INSERT INTO {TABLE} ({', '.join(columns)}) VALUES {placeholders} ON CONFLICT(media_uid) DO UPDATE SET "
                f"{updates} WHERE {TABLE}.metadata_fetched_at IS NULL",
                params,
                ENRICH,
            )
        )
    return out


def known_page(
    after: str, limit: int, *, with_last_seen: bool = False, with_enrichment: bool = False
) -> Statement:
    """The next ``limit`` media_uids after ``after``, read along the UNIQUE index (keyset paging),
    with last_seen_at and whether the row has its object metadata, when asked."""
    columns = ["media_uid"]
    columns += [LAST_SEEN] if with_last_seen else []
    columns += ["metadata_fetched_at IS NOT NULL"] if with_enrichment else []
    return Statement(
        f"SELECT {', '.join(columns)} FROM {TABLE} WHERE media_uid > ? ORDER BY media_uid LIMIT {int(limit)}",
        (after,),
    )


def touch_statements(uids: Sequence[str], *, seen_at: str, day: str) -> list[Statement]:
    """last_seen_at = seen_at for these rows, unless already set that day or later."""
    out = []
    for chunk in _chunks(uids, 1, 2, lambda uid: len(uid) + 3):
        out.append(
            Statement(
                f"UPDATE {TABLE} SET last_seen_at = ? WHERE (last_seen_at IS NULL OR last_seen_at < ?) "
                f"AND media_uid IN ({', '.join('?' * len(chunk))})",
                (seen_at, day, *chunk),
                TOUCH,
            )
        )
    return out
