"""Database work off the event loop, shaped so that a burst cannot starve the pool.

Each call runs in a worker thread on a connection of its own, held for that call only,
and at most ``limiter.total`` calls run at once, no more than the connections set aside
for them. So no thread ever waits for a pooled connection while it holds one, and no
request holds a connection while it waits for a thread (a sync dependency yielding a
connection to a sync endpoint does exactly that: the threads of 40 requests waiting for
the pool block the 10 that hold a connection from getting a thread to use it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import sqlalchemy as sa

T = TypeVar("T")


class Database:
    def __init__(self, engine: sa.Engine, connections: int):
        self.engine = engine
        self.limiter = anyio.CapacityLimiter(max(1, connections))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` in a worker thread, on a connection held for this call only."""
        return await anyio.to_thread.run_sync(self._with_connection, fn, args, limiter=self.limiter)

    async def call(self, fn: Callable[..., T], *args: Any, abandon_on_cancel: bool = False) -> T:
        """``fn(*args)`` (a function that opens its own connections, one at a time) in a worker thread."""
        return await anyio.to_thread.run_sync(
            fn, *args, limiter=self.limiter, abandon_on_cancel=abandon_on_cancel
        )

    def _with_connection(self, fn: Callable[..., T], args: tuple) -> T:
        # Autocommit: each statement is its own transaction, so no ROLLBACK round trip on return.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return fn(conn, *args)
