"""Queueing a recording: the ingestion path for one row (stream → hash → upload → catalog insert).

Order of effects: take the recording's lock, answer its row if the catalog has one,
else transfer the audio, then catalog it. Under the request deadline are the lock, the
look-up and the transfer; the catalog write is not cut short (a row half-written by a
cancelled request would be worse than a late answer). Every exit that leaves no row
for the uploaded key removes the object (deadline passed, catalog refused, another
row won), so a failed request leaves no object without its row. Database work runs
in threads, one short statement batch at a time, never while a connection is held
for something else: the pool serves bursts instead of deadlocking on them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import anyio
import sqlalchemy as sa

from ..calls.ingest import IngestReport, object_key_for, record_outcomes
from ..calls.recordings_source import SOURCE_TABLE
from ..calls.rows import CallRow, RejectedRow, build_call_row
from ..catalog.tables import audio_files
from ..kernel.keys import UnsafeKeyError, content_type_for
from ..kernel.resilience import SystemicFailure
from ..resources.bucket import Bucket
from ..resources.transfer import (
    TransferClients,
    TransferJob,
    TransferOutcome,
    TransferSettings,
    transfer_one,
)
from .db import Database
from .locks import RecordingLocks

log = logging.getLogger("media_pipeline_dagster.gateway")
MAX_KEY_BYTES = 1024  # S3's (and B2's) limit for an object key


class SubmitError(Exception):
    """``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class QueueResult:
    audio_file_id: int
    b2_key: str | None
    created: bool


def _existing(engine: sa.Engine, url_sha1: str, recording_id: str | None):
    """The row of this URL, else the row holding the recording under another URL (one statement)."""
    a = audio_files.c
    by_url = a.url_sha1 == url_sha1
    match = sa.or_(by_url, a.recording_id == recording_id) if recording_id else by_url
    select = (
        sa.select(a.id, a.b2_object_key)
        .where(match)
        .order_by(sa.case((by_url, 0), else_=1))
        .limit(1)
    )
    with engine.connect() as conn:
        return conn.execute(select).first()


def call_row(recording: dict, prefix: str) -> tuple[CallRow, TransferJob]:
    """The catalog row and the transfer a recording makes; 422 before any download when it cannot be stored."""
    source_row_id = (
        recording["id"] if str(recording["id"]).isdigit() else None
    )  # numeric ids only, as the old gateway
    row = build_call_row(
        {
            "url": recording["location"],
            "campaign_name": recording["campaign_name"],
            "phone": recording["phone"],
            "started": recording["started"],
            "stopped": recording["stopped"],
            "source_row_id": source_row_id,
        },
        origin=f"{SOURCE_TABLE}#{recording['id']}",
        source_table=SOURCE_TABLE,
    )
    if isinstance(row, RejectedRow):
        raise SubmitError(422, f"recording {recording['id']} cannot be queued: {row.reason}")
    try:
        key = object_key_for(row, prefix)
    except UnsafeKeyError as exc:
        raise SubmitError(422, f"recording {recording['id']} cannot be stored: {exc}") from None
    if len(key.encode()) > MAX_KEY_BYTES:
        raise SubmitError(
            422,
            f"the object key for recording {recording['id']} would be {len(key.encode())} bytes, "
            f"more than the bucket's {MAX_KEY_BYTES}; use a shorter b2_prefix",
        )
    return row, TransferJob(url=row.url, key=key, content_type=content_type_for(row.extension))


class Submitter:
    def __init__(
        self,
        catalog: Database,
        store: Bucket,
        transfer: TransferSettings,
        locks: RecordingLocks,
        concurrency: int,
    ):
        self.catalog, self.engine, self.store, self.locks = catalog, catalog.engine, store, locks
        self.transfer = dataclasses.replace(transfer, concurrency=concurrency)
        self.transfers = anyio.CapacityLimiter(concurrency)
        # Shared by every request: HTTP connections are reused, and one memory budget bounds
        # the audio all submits in flight hold together.
        self.clients = TransferClients(self.transfer)

    async def db(self, fn: Callable, *args):
        return await self.catalog.call(fn, *args)

    async def queue(self, recording: dict, prefix: str, deadline: float) -> QueueResult:
        row, job = call_row(recording, prefix)
        async with AsyncExitStack() as stack:
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    await stack.enter_async_context(self.locks.hold(row.url_sha1))
                    found = await self.db(_existing, self.engine, row.url_sha1, row.recording_id)
                    if found is not None and found.b2_object_key:
                        return QueueResult(found.id, found.b2_object_key, created=False)
                    try:
                        outcome = await self._transfer(job)
                    except (
                        SystemicFailure
                    ) as exc:  # the bucket itself is down or refuses us: not this recording's fault
                        raise SubmitError(
                            503, f"could not store the audio of recording {recording['id']}: {exc}"
                        ) from None
            except TimeoutError:
                with anyio.CancelScope(shield=True):
                    await self._remove_unless_cataloged(row, job.key)
                raise SubmitError(
                    504,
                    f"recording {recording['id']}: the request deadline passed before the audio was "
                    "stored; nothing was cataloged. Try again later",
                ) from None
            with anyio.CancelScope(shield=True):
                return await self._catalog(recording, row, outcome)
        raise AssertionError(
            "unreachable: the block above returns or raises"
        )  # for the type checker

    async def _transfer(self, job: TransferJob) -> TransferOutcome:
        async with self.transfers:
            return await transfer_one(self.clients, self.store, job, self.transfer)

    async def close(self) -> None:
        await self.clients.close()

    async def _catalog(
        self, recording: dict, row: CallRow, outcome: TransferOutcome
    ) -> QueueResult:
        report = IngestReport(rows_seen=1)
        try:
            await self.db(record_outcomes, self.engine, [outcome], {outcome.job.key: row}, report)
            if report.inserted:
                return QueueResult(report.inserted[0]["id"], outcome.job.key, created=True)
            found = await self.db(_existing, self.engine, row.url_sha1, row.recording_id)
        except sa.exc.SQLAlchemyError as exc:
            if outcome.ok:
                await self._remove_unless_cataloged(row, outcome.job.key)
            log.error("cataloging recording %s failed: %s", recording["id"], exc)
            raise SubmitError(
                503,
                f"recording {recording['id']}: the catalog did not take the row "
                f"({type(getattr(exc, 'orig', exc)).__name__}); nothing was kept. Try again later",
            ) from None
        if report.failures:
            failure = report.failures[0]
            raise SubmitError(
                422 if failure.permanent else 503,
                f"could not store the audio of recording {recording['id']}: {failure.reason}",
            )
        if found is None or found.b2_object_key != outcome.job.key:
            await self._remove_unless_cataloged(
                row, outcome.job.key
            )  # another row won; ours would be an orphan
        if found is None:
            raise SubmitError(
                503, f"recording {recording['id']}: the catalog did not take the row; try again"
            )
        return QueueResult(
            found.id, found.b2_object_key, created=bool(report.inserted or report.objects_attached)
        )

    async def _remove_unless_cataloged(self, row: CallRow, key: str) -> None:
        """Delete ``key`` unless the row of this recording points at it (keys derive from the row)."""
        try:
            found = await self.db(_existing, self.engine, row.url_sha1, row.recording_id)
            if found is not None and found.b2_object_key == key:
                return
            await self.store.delete_async(key)
        except Exception as exc:  # the bucket or the catalog is down too: say which object to check
            log.error(
                "could not make sure %s has no object without a row (%s: %s); delete it if no row points at it",
                key,
                type(exc).__name__,
                exc,
            )
