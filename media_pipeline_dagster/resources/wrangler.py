"""Where wrangler keeps a local D1 database, so the local profile can share its file.

wrangler 4 (through miniflare) keeps the local copy of a D1 database at
``<state>/v3/d1/miniflare-D1DatabaseObject/<object id>.sqlite``: ``<state>`` is
``.wrangler/state`` beside wrangler.toml, or the ``--persist-to`` folder; the object id is the
Durable Object id miniflare derives from the database's id. The file is plain SQLite.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

WRANGLER_D1_FOLDER = ("v3", "d1", "miniflare-D1DatabaseObject")
_MINIFLARE_D1_UNIQUE_KEY = "miniflare-D1DatabaseObject"


def wrangler_object_id(database_id: str) -> str:
    """The file name (without .sqlite) wrangler gives the local copy of ``database_id``.

    miniflare's ``durableObjectNamespaceIdFromName`` (as workerd's ``idFromName``): with
    key = SHA-256 of the namespace's unique key ``miniflare-D1DatabaseObject``, the id is the
    first 16 bytes of HMAC-SHA256(key, database_id) followed by the first 16 bytes of
    HMAC-SHA256(key, those 16 bytes), in hex. wrangler passes ``preview_database_id`` when
    wrangler.toml sets one, else ``database_id``, else the binding name.
    """
    if not database_id.strip():
        raise ValueError("the database id for a wrangler local D1 is empty")
    key = hashlib.sha256(_MINIFLARE_D1_UNIQUE_KEY.encode()).digest()
    name_mac = hmac.new(key, database_id.encode(), hashlib.sha256).digest()[:16]
    return (name_mac + hmac.new(key, name_mac, hashlib.sha256).digest()[:16]).hex()


def wrangler_local_file(state_dir: Path, database_id: str) -> Path:
    """``<state_dir>/v3/d1/miniflare-D1DatabaseObject/<object id>.sqlite``: what ``wrangler d1
    execute --local`` (with ``--persist-to <state_dir>``, default ``.wrangler/state``) opens."""
    return Path(state_dir).joinpath(
        *WRANGLER_D1_FOLDER, f"{wrangler_object_id(database_id)}.sqlite"
    )
