"""One SQLAlchemy engine (and so one connection pool) per database URL per process.

Resources are rebuilt for every run and every sensor tick; their engines must not be, or each
tick would open a new pool. Each kind of engine (catalog, recordings source, post_media) has
its own cache, because the same URL can be opened differently by each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa


class EngineCache:
    """Engines made by ``factory``, one per URL, shared by every resource and sensor of the process."""

    def __init__(self, factory: Callable[[str], sa.Engine]):
        self._factory = factory
        self._engines: dict[str, sa.Engine] = {}
        self._lock = threading.Lock()  # two threads asking at once still get one pool

    def get(self, url: str) -> sa.Engine:
        with self._lock:
            engine = self._engines.get(url)
            if engine is None:
                engine = self._engines[url] = self._factory(url)
            return engine

    def pop(self, url: str, default: sa.Engine | None = None) -> sa.Engine | None:
        """Forget the engine of ``url`` (the caller disposes it), e.g. before dropping the database."""
        with self._lock:
            return self._engines.pop(url, default)

    def __contains__(self, url: str) -> bool:
        return url in self._engines
