"""One transfer per recording at a time, without tying up the connection pool.

In this process an asyncio lock per URL serialises the requests; across gateway
processes a PostgreSQL session advisory lock does. Every advisory lock of the process
lives on one dedicated connection (outside the pool) and is taken with
``pg_try_advisory_lock``, polled while another process holds it: no request ever holds
a pooled connection while it waits, so a burst of different recordings cannot exhaust
the pool. Should that connection drop, PostgreSQL releases its locks; the worst case is
then two processes uploading the same deterministic key, and the catalog's unique
``url_sha1`` still keeps one row.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import sqlalchemy as sa

_TRY = sa.text("SELECT pg_try_advisory_lock(hashtext(:k))")
_UNLOCK = sa.text("SELECT pg_advisory_unlock(hashtext(:k))")
FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 0.05, 1.0


class RecordingLocks:
    def __init__(self, engine: sa.Engine):
        self._local: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._pg = engine.dialect.name == "postgresql"
        self._engine = (
            sa.create_engine(
                engine.url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 5}
            )
            if self._pg
            else None
        )
        self._conn: sa.Connection | None = None
        self._guard = threading.Lock()  # one statement at a time on the shared connection
        self._limiter = anyio.CapacityLimiter(1)

    def _execute(self, statement, key: str) -> bool:
        with self._guard:
            for attempt in (1, 2):
                if self._conn is None:
                    assert self._engine is not None  # statements are sent on PostgreSQL only
                    self._conn = self._engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT"
                    )
                try:
                    return bool(self._conn.execute(statement, {"k": "gateway:" + key}).scalar())
                except sa.exc.DBAPIError as exc:
                    self._drop()
                    if attempt == 2 or not exc.connection_invalidated:
                        raise
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sa.exc.SQLAlchemyError:
                pass
            self._conn = None

    async def _call(self, statement, key: str) -> bool:
        return await anyio.to_thread.run_sync(self._execute, statement, key, limiter=self._limiter)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._local.setdefault(key, asyncio.Lock())
        async with lock:
            if not self._pg:  # SQLite: one process writes; its writers serialise anyway
                yield
                return
            wait = FIRST_POLL_SECONDS
            while not await self._call(_TRY, key):
                await anyio.sleep(wait)
                wait = min(MAX_POLL_SECONDS, wait * 2)
            try:
                yield
            finally:
                with anyio.CancelScope(shield=True):  # a request past its deadline still unlocks
                    try:
                        await self._call(_UNLOCK, key)
                    except sa.exc.SQLAlchemyError:
                        self._drop()  # the session's locks go with it

    def close(self) -> None:
        with self._guard:
            self._drop()
        if self._engine is not None:
            self._engine.dispose()
