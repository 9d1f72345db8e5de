"""The catalog database (media_pipeline schema) and the optional recordings source database."""

from __future__ import annotations

from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from ..catalog.schema import (
    create_catalog_engine,
    ensure_schema,
    mask_database_url,
    normalize_database_url,
)
from ..kernel.engines import EngineCache
from ..kernel.resilience import SystemicFailure

_ENGINES = EngineCache(create_catalog_engine)


class CatalogResource(dg.ConfigurableResource):
    """The media_pipeline catalog: PostgreSQL in production, SQLite in the local profile."""

    database_url: str
    _ready: bool = PrivateAttr(default=False)

    @property
    def engine(self) -> sa.Engine:
        """The engine, after a first connection has proved the catalog answers and holds our tables.

        Raises SystemicFailure naming the database (password masked) when it cannot be reached."""
        engine = _ENGINES.get(normalize_database_url(self.database_url))
        if not self._ready:
            try:
                ensure_schema(engine)
            except sa.exc.OperationalError as exc:
                reason = str(exc.orig or exc).strip().splitlines()[0][:300]
                raise SystemicFailure(
                    f"catalog database {self.display_url} cannot be reached: {reason}. "
                    "Check DATABASE_URL and that the server accepts connections."
                ) from None
            self._ready = True
        return engine

    @property
    def display_url(self) -> str:
        return mask_database_url(self.database_url)


class RecordingsDatabaseResource(dg.ConfigurableResource):
    """``public.recordings`` + ``public.contacts`` (+ ``campaign_map``); off when no URL is set."""

    database_url: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.database_url)

    @property
    def engine(self) -> sa.Engine:
        if not self.database_url:
            raise RuntimeError(
                "no recordings source database configured (set RECORDINGS_DATABASE_URL)"
            )
        url = normalize_database_url(self.database_url)
        return _RECORDINGS_ENGINES.get(url)

    def describe(self) -> dict[str, Any]:
        return {
            "recordings_source": mask_database_url(self.database_url)
            if self.database_url
            else "off"
        }


def _recordings_engine(url: str) -> sa.Engine:
    """PostgreSQL as it is; a SQLite file (local profile, demo) is attached as schema ``public``
    so the same schema-qualified SQL reads it."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    path = parsed.database
    engine = sa.create_engine(
        "sqlite://", poolclass=sa.pool.NullPool
    )  # a fresh connection (and attach) per use

    @sa.event.listens_for(engine, "connect")
    def _attach(dbapi_conn, _record):
        dbapi_conn.execute("ATTACH DATABASE ? AS public", (path,))

    return engine


_RECORDINGS_ENGINES = EngineCache(_recordings_engine)
