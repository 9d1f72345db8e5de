"""The SQL sent to D1 for ``media_assets``: values only ever as bound parameters.

Statements are sized to D1's limits (100 bound parameters, 100,000 bytes per statement);
full chunks share one SQL text, so D1 prepares each shape once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from ..resources.d1 import MAX_PARAMS_PER_STATEMENT, MAX_STATEMENT_BYTES, Statement
from .listing import InventoryObject
from .media_uid import media_uid

TABLE = "media_assets"
INSERT_COLUMNS = ("media_uid", "b2_key", "b2_file_id", "size", "etag")


@dataclass(frozen=True)
class AssetRow:
    media_uid: str
    b2_key: str
    b2_file_id: str
    size: int
    etag: str | None

    def params(self) -> tuple:
        return (self.media_uid, self.b2_key, self.b2_file_id, self.size, self.etag)


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
    return len(row.media_uid) + len(row.b2_key.encode()) + len(row.b2_file_id.encode()) + len(row.etag or "") + 40


def insert_statements(rows: Sequence[AssetRow], *, last_seen_at: str | None = None) -> list[Statement]:
    """INSERT OR IGNORE: a row already in D1 (same media_uid) is left exactly as it is."""
    columns = INSERT_COLUMNS + (("last_seen_at",) if last_seen_at else ())
    out = []
    for chunk in _chunks(rows, len(columns), 0, _row_bytes):
        placeholders = ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * len(chunk))
        params: list = []
        for row in chunk:
            params.extend(row.params())
            if last_seen_at:
                params.append(last_seen_at)
        out.append(Statement(f"INSERT OR IGNORE INTO {TABLE} ({', '.join(columns)}) VALUES {placeholders}", tuple(params)))
    return out


def known_page(after: str, limit: int, *, with_last_seen: bool = False) -> Statement:
    """The next ``limit`` media_uids after ``after``, read along the UNIQUE index (keyset paging)."""
    columns = "media_uid, last_seen_at" if with_last_seen else "media_uid"
    return Statement(f"SELECT {columns} FROM {TABLE} WHERE media_uid > ? ORDER BY media_uid LIMIT {int(limit)}", (after,))


def touch_statements(uids: Sequence[str], *, seen_at: str, day: str) -> list[Statement]:
    """last_seen_at = seen_at for these rows, unless already set that day or later."""
    out = []
    for chunk in _chunks(uids, 1, 2, lambda uid: len(uid) + 3):
        out.append(Statement(
            f"UPDATE {TABLE} SET last_seen_at = ? WHERE (last_seen_at IS NULL OR last_seen_at < ?) "
            f"AND media_uid IN ({', '.join('?' * len(chunk))})",
            (seen_at, day, *chunk),
        ))
    return out
