"""Resolving a request in ``public.recordings`` (the source of truth), as the old gateway did.

Portable SQL (PostgreSQL in production; a SQLite file attached as ``public`` in the
local profile). By id: exact ``r.id::text = :id`` first, then a location containing the id, the user's
text escaped so ``%`` and ``_`` are literals. That fallback needs at least
``MIN_FALLBACK_CHARS`` characters and exactly one match: a short id (``0.0``, ``/``) would
match every URL, and several matches raise ``AmbiguousRecording`` instead of taking the
first. By URL: ``r.location`` must equal it, so the gateway never downloads a URL a
client made up. Phone and campaign come from the
joined ``contacts`` (and ``campaign_map`` when present), never from the client.
"""

from __future__ import annotations

import weakref
from typing import Any

import sqlalchemy as sa

MAX_ID_CHARS = 512
MIN_FALLBACK_CHARS = 8

_SELECT = """
SELECT CAST(r.id AS TEXT) AS id, r.location, CAST(r.started AS TEXT) AS started, CAST(r.stopped AS TEXT) AS stopped,
       c."$phone" AS phone, c."$campaign_id" AS campaign_id, {name} AS campaign_name,
       COUNT(*) OVER () AS matches
FROM public.recordings r
JOIN public.contacts c ON r.contact_id = c."$id"
{join}
WHERE {where}
ORDER BY r.id
LIMIT 1
"""


class AmbiguousRecording(LookupError):
    def __init__(self, text: str, matches: int):
        super().__init__(
            f"recording_id {text!r} is part of the location of {matches} recordings; "
            "send the exact public.recordings.id (or the full url)"
        )
        self.matches = matches


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_HAS_CAMPAIGN_MAP: weakref.WeakKeyDictionary[sa.Engine, bool] = weakref.WeakKeyDictionary()


def _has_campaign_map(conn: sa.Connection) -> bool:
    # Looked up once per engine: a table the dialer's schema has or has not, not a per-request question.
    if conn.engine not in _HAS_CAMPAIGN_MAP:
        _HAS_CAMPAIGN_MAP[conn.engine] = sa.inspect(conn).has_table("campaign_map", schema="public")
    return _HAS_CAMPAIGN_MAP[conn.engine]


def _query(conn: sa.Connection, where: str, params: dict[str, Any]) -> list[dict]:
    has_map = _has_campaign_map(conn)
    sql = _SELECT.format(
        name='COALESCE(cm.campaign, c."$campaign_id")' if has_map else 'c."$campaign_id"',
        join='LEFT JOIN public.campaign_map cm ON cm.campaign_id = c."$campaign_id"'
        if has_map
        else "",
        where=where,
    )
    return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def find_recording(
    engine: sa.Engine, *, recording_id: str | None = None, url: str | None = None
) -> dict | None:
    """The recording a request names, or None. Ids longer than any real one match nothing."""
    with engine.connect() as conn:
        if recording_id:
            if len(recording_id) > MAX_ID_CHARS:
                return None
            rows = _query(conn, "CAST(r.id AS TEXT) = :rid", {"rid": recording_id})
            if not rows and len(recording_id) >= MIN_FALLBACK_CHARS:
                rows = _query(
                    conn,
                    "r.location LIKE ('%' || :pattern || '%') ESCAPE '\\'",
                    {"pattern": escape_like(recording_id)},
                )
                if rows and rows[0]["matches"] > 1:
                    raise AmbiguousRecording(recording_id, rows[0]["matches"])
            return rows[0] if rows else None
        if url:
            rows = _query(conn, "r.location = :url", {"url": url})
            return rows[0] if rows else None
    return None
