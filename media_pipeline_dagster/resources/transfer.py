"""Stream audio from its URL into the object store, hashing and counting on the way.

Bytes are never held whole in memory above ``multipart_threshold``: the body is fed
chunk by chunk to a multipart upload, and a memory budget bounds what all concurrent
transfers hold together. Transfers run on one asyncio loop; every download goes through
the fetch policy (see ``transfer_paths``) and uploads go through the bucket (obstore's native client).
An upload error that concerns the bucket rather than the file (credentials refused, bucket
missing, endpoint unreachable) stops every transfer at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import tenacity

from ..kernel.resilience import backoff_wait
from . import transfer_paths as paths
from .bucket import StorageUnavailable
from .transfer_core import (
    MemoryBudget,
    MiB,
    Sink,
    TransferError,
    TransferJob,
    TransferOutcome,
    TransferSettings,
)

__all__ = [
    "MiB",
    "TransferClients",
    "TransferJob",
    "TransferOutcome",
    "TransferSettings",
    "run_transfers",
    "transfer_one",
]


class TransferClients:
    """What transfers share: HTTP clients and the memory budget; one per run, or one per
    server process (the gateway), whose requests then reuse connections and one budget."""

    def __init__(self, settings: TransferSettings):
        self.http = paths.HttpClient(settings)
        self.budget = MemoryBudget(settings.memory_budget)

    async def close(self) -> None:
        await self.http.close()


async def _attempt(
    clients: TransferClients, store, job: TransferJob, settings: TransferSettings, sink: Sink
) -> None:
    if job.url[:5].lower() == "file:":
        return await paths.local_file(store, job, settings, sink, clients.budget)
    return await paths.via_http(clients.http, store, job, settings, sink, clients.budget)


async def _attempt_once(
    clients: TransferClients, store, job: TransferJob, settings: TransferSettings
) -> Sink:
    sink = Sink(job.keep_local_path, settings.max_bytes)
    try:
        await _attempt(clients, store, job, settings, sink)
    except (TransferError, StorageUnavailable):
        # StorageUnavailable: every other upload would fail alike: stop the run, never retry
        sink.abort()
        raise
    except Exception as exc:  # upload failures after the bucket's own retries
        sink.abort()
        raise TransferError(
            f"upload of {job.key} failed: {type(exc).__name__}: {exc}", permanent=False
        ) from exc
    sink.finish()
    return sink


async def transfer_one(
    clients: TransferClients, store, job: TransferJob, settings: TransferSettings
) -> TransferOutcome:
    """Download → hash → upload one file, retrying transient failures with backoff.

    The first attempt runs bare: nearly every file needs only one, and setting up the retry
    loop costs about as much as the rest of a small file's bookkeeping (30 µs). A file whose
    first attempt failed transiently enters the loop with that failure as its attempt 1."""
    started = time.perf_counter()
    attempts = 1
    try:
        try:
            sink = await _attempt_once(clients, store, job, settings)
        except TransferError as exc:
            if exc.permanent or settings.max_attempts < 2:
                raise
            retrying = _retry_loop(settings)
            try:
                sink = await retrying(_replaying(exc), clients, store, job, settings)
            finally:
                attempts = retrying.statistics.get("attempt_number", 1)
    except TransferError as exc:
        return TransferOutcome(
            job,
            False,
            error=str(exc)[:2000],
            error_code=exc.code,
            permanent=exc.permanent,
            attempts=attempts,
            seconds=time.perf_counter() - started,
        )
    return TransferOutcome(
        job,
        True,
        size=sink.size,
        sha256=sink.sha256.hexdigest(),
        attempts=attempts,
        seconds=time.perf_counter() - started,
    )


def _retry_loop(settings: TransferSettings) -> tenacity.AsyncRetrying:
    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(settings.max_attempts),
        wait=backoff_wait(settings.backoff_base, settings.backoff_max),
        retry=tenacity.retry_if_exception(
            lambda exc: isinstance(exc, TransferError) and not exc.permanent
        ),
        reraise=True,
    )


def _replaying(first_failure: TransferError):
    """``_attempt_once``, whose first call raises ``first_failure`` again: the retry loop
    then counts it as attempt 1 and waits before attempt 2 exactly as it would have."""
    pending = [first_failure]

    async def attempt(*args) -> Sink:
        if pending:
            raise pending.pop()
        return await _attempt_once(*args)

    return attempt


async def run_transfers(
    jobs: Sequence[TransferJob],
    store,
    settings: TransferSettings,
    on_outcome: Callable[[TransferOutcome], Awaitable[None]],
) -> None:
    """Run every job with at most ``settings.concurrency`` in flight.

    A systemic storage failure (StorageUnavailable) cancels the transfers in flight and
    is raised as it is; outcomes already reported stay reported."""
    pending = iter(jobs)
    clients = TransferClients(settings)

    async def worker() -> None:
        for job in pending:  # a shared iterator: each job is taken by exactly one worker
            await on_outcome(await transfer_one(clients, store, job, settings))

    try:
        async with asyncio.TaskGroup() as group:  # the first error cancels the other workers
            for _ in range(max(1, min(settings.concurrency, len(jobs)))):
                group.create_task(worker())
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    finally:
        await clients.close()
