"""Stream audio from its URL into the object store, hashing and counting on the way.

Bytes are never held whole in memory above ``multipart_threshold``: the body is fed
chunk by chunk to a multipart upload, and a memory budget bounds what all concurrent
transfers hold together. Transfers run on one asyncio loop; downloads and uploads are
done by native clients (see ``transfer_paths``), which is what makes thousands of small
files per second possible.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence

from . import transfer_paths as paths
from .transfer_core import MiB, MemoryBudget, Sink, TransferError, TransferJob, TransferOutcome, TransferSettings

__all__ = ["MiB", "TransferClients", "TransferJob", "TransferOutcome", "TransferSettings", "run_transfers", "transfer_one"]


class TransferClients:
    """What transfers share: HTTP clients and the memory budget; one per run, or one per
    server process (the gateway), whose requests then reuse connections and one budget."""

    def __init__(self, settings: TransferSettings):
        self.http = paths.AiohttpClient(settings)
        self.native = paths.NativeOrigins(settings)
        self.budget = MemoryBudget(settings.memory_budget)

    async def close(self) -> None:
        await self.http.close()


async def _attempt(clients: TransferClients, store, job: TransferJob, settings: TransferSettings, sink: Sink, attempt: int) -> None:
    if job.url.lower().startswith("file://"):
        return await paths.local_file(store, job, settings, sink, clients.budget)
    route = paths.native_route(job.url)
    if route is not None and attempt == 1:
        return await paths.native(clients.native, route, store, job, settings, sink, clients.budget)
    # Retries take the path that reads Retry-After and reports exact statuses.
    return await paths.via_aiohttp(clients.http, store, job, settings, sink, clients.budget)


async def transfer_one(clients: TransferClients, store, job: TransferJob, settings: TransferSettings) -> TransferOutcome:
    """Download → hash → upload one file, retrying transient failures with backoff."""
    started = time.perf_counter()
    attempt = 0
    while True:
        attempt += 1
        sink = Sink(job.keep_local_path, settings.max_bytes)
        try:
            await _attempt(clients, store, job, settings, sink, attempt)
            sink.finish()
            return TransferOutcome(job, True, size=sink.size, sha256=sink.sha256.hexdigest(),
                                   attempts=attempt, seconds=time.perf_counter() - started)
        except TransferError as exc:
            sink.abort()
            error, permanent, code, wait = str(exc), exc.permanent, exc.code, exc.retry_after
        except Exception as exc:  # upload failures after obstore's own retries
            sink.abort()
            error, permanent, code, wait = f"upload of {job.key} failed: {type(exc).__name__}: {exc}", False, None, None
        if permanent or attempt >= settings.max_attempts:
            return TransferOutcome(job, False, error=error[:2000], error_code=code, permanent=permanent,
                                   attempts=attempt, seconds=time.perf_counter() - started)
        backoff = min(settings.backoff_max, settings.backoff_base * 2 ** (attempt - 1)) * (0.5 + random.random())
        await asyncio.sleep(min(settings.backoff_max, wait) if wait is not None else backoff)


async def run_transfers(
    jobs: Sequence[TransferJob],
    store,
    settings: TransferSettings,
    on_outcome: Callable[[TransferOutcome], Awaitable[None]],
) -> None:
    """Run every job with at most ``settings.concurrency`` in flight."""
    pending = iter(jobs)
    clients = TransferClients(settings)

    async def worker() -> None:
        for job in pending:  # a shared iterator: each job is taken by exactly one worker
            await on_outcome(await transfer_one(clients, store, job, settings))

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(settings.concurrency, len(jobs))))))
    finally:
        await clients.close()
