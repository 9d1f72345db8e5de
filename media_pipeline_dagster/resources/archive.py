"""The media archive's systems: the post_media database and the local media cache.

The archive bucket is a ``Bucket`` (resources/bucket): AWS S3 in production (credentials
from the AWS profile, default ``ab-power-user``, or explicit keys), a folder locally.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from ..catalog.schema import mask_database_url, normalize_database_url
from ..kernel.engines import EngineCache
from .post_media_table import create_post_media_engine, ensure_post_media

_ENGINES = EngineCache(create_post_media_engine)


class PostMediaDatabaseResource(dg.ConfigurableResource):
    """The social-tui ``post_media`` table (ARCHIVE_DATABASE_URL): PostgreSQL in production, SQLite locally."""

    database_url: str
    create_table: bool = False  # local profile and tests: create post_media when missing

    _ready: bool = PrivateAttr(default=False)

    @property
    def engine(self) -> sa.Engine:
        url = normalize_database_url(self.database_url)
        engine = _ENGINES.get(url)
        if not self._ready:
            ensure_post_media(engine, create=self.create_table)
            self._ready = True
        return engine

    @property
    def display_url(self) -> str:
        return mask_database_url(self.database_url)


class MediaCacheResource(dg.ConfigurableResource):
    """The local media cache (MEDIA_CACHE_DIR): ``images/``, ``videos/``, ``documents/`` of ``<md5>.<ext>`` files."""

    path: str

    def root(self) -> Path:
        """The cache folder; the archive domain looks rows' files up in it (``archive/locate.py``)."""
        root = Path(self.path).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(
                f"media cache {root} is not a folder: set MEDIA_CACHE_DIR to the cache/media folder"
            )
        return root
