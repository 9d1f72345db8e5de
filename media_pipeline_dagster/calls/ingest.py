"""Ingest call rows: skip what the catalog holds, stream the rest into the bucket, catalog them.

Order of effects per file: upload, then insert. Keys are derived from the row, so a run
killed between the two re-uploads the same key and inserts on the next run: the end
state equals an uninterrupted run. A systemic storage failure (StorageUnavailable) stops
the transfers, records what finished, and is raised to the caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from ..catalog import queries
from ..kernel.heap import heap_frozen
from ..kernel.keys import audio_object_key, content_type_for
from ..resources.transfer import TransferJob, TransferOutcome, TransferSettings, run_transfers
from .rows import CallRow

INSERT_BATCH = 200
INSERT_INTERVAL_SECONDS = 2.0
PROGRESS_INTERVAL_SECONDS = 10.0


@dataclass(frozen=True)
class IngestOptions:
    prefix: str = ""
    dry_run: bool = False
    limit: int | None = None
    keep_local_dir: Path | None = None
    retry_failed: bool = False
    transfer: TransferSettings = field(default_factory=TransferSettings)


@dataclass(frozen=True)
class Failure:
    origin: str
    url: str | None
    reason: str
    permanent: bool


@dataclass
class IngestReport:
    rows_seen: int = 0
    already_cataloged: int = 0
    objects_attached: int = 0
    known_permanent_failures: int = 0
    skipped_failures: list[Failure] = field(
        default_factory=list
    )  # the known permanent ones, with their recorded reason
    not_attempted_limit: int = 0
    inserted: list[dict] = field(default_factory=list)
    planned: list[dict] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    bytes_uploaded: int = 0
    transfer_seconds: float = 0.0
    downloads: int = 0
    attempted: int = 0  # rows planned for a transfer so far (the limit counts them)

    @property
    def failed(self) -> int:
        return len(self.failures)


def object_key_for(row: CallRow, prefix: str) -> str:
    return audio_object_key(
        prefix=prefix,
        campaign_slug=row.campaign_slug,
        phone=row.phone,
        started=row.started,
        recording_id=row.recording_id,
        url_sha1=row.url_sha1,
        ext=row.extension,
    )


class _Unique:
    """One row per URL and per recording_id (the catalog's two unique keys), across the chunks
    of a run: remembers url_sha1s and, per recording_id, where its first row came from."""

    def __init__(self) -> None:
        self.sha1s: set[str] = set()
        self.recordings: dict[str, str] = {}  # recording_id -> origin of its first row

    def __call__(self, rows: Iterable[CallRow], report: IngestReport) -> list[CallRow]:
        out = []
        for row in rows:
            if row.url_sha1 in self.sha1s:
                continue
            first = self.recordings.get(row.recording_id) if row.recording_id else None
            if first is not None:
                report.failures.append(
                    Failure(
                        row.origin,
                        row.url,
                        f"recording_id {row.recording_id} also listed at {first} with another URL",
                        True,
                    )
                )
                continue
            self.sha1s.add(row.url_sha1)
            if row.recording_id:
                self.recordings[row.recording_id] = row.origin
            out.append(row)
        return out


def plan(
    engine: sa.Engine,
    rows: Sequence[CallRow],
    options: IngestOptions,
    report: IngestReport,
    unique: _Unique | None = None,
) -> list[CallRow]:
    """Which rows need a transfer: one batched catalog look-up per 1,000 rows, not one per row.

    ``unique`` carries the URLs and recording ids of earlier chunks of the same run."""
    candidates = (unique or _Unique())(rows, report)
    with engine.connect() as conn:
        have = queries.existing_audio_keys(conn, (r.url_sha1 for r in candidates))
        todo = [r for r in candidates if r.url_sha1 not in have or have[r.url_sha1] is None]
        have_recordings = queries.existing_recording_ids(conn, (r.recording_id for r in todo))
        failures = queries.failures_for(conn, (r.url_sha1 for r in todo))
    report.already_cataloged += len(candidates) - len(todo)
    result = []
    for row in todo:
        if row.recording_id in have_recordings and row.url_sha1 not in have:
            report.already_cataloged += 1  # cataloged under another URL of the same recording
            continue
        failure = failures.get(row.url_sha1)
        if failure is not None and failure.status == "permanent" and not options.retry_failed:
            report.known_permanent_failures += 1
            report.skipped_failures.append(
                Failure(
                    row.origin, row.url, f"{failure.error} (failed before; not fetched again)", True
                )
            )
            continue
        result.append(row)
    if options.limit is not None:
        room = max(0, options.limit - report.attempted)
        report.not_attempted_limit += max(0, len(result) - room)
        result = result[:room]
    report.attempted += len(result)
    return result


class _CatalogWriter:
    """Batches catalog writes off the event loop: inserts, failure bookkeeping, index_in_phone."""

    def __init__(
        self, engine: sa.Engine, report: IngestReport, by_key: dict[str, CallRow], keep_local: bool
    ):
        self.engine = engine
        self.report = report
        self.by_key = by_key
        self.keep_local = keep_local
        self.pending: list[TransferOutcome] = []
        self.last_flush = time.monotonic()
        self.lock = asyncio.Lock()

    async def add(self, outcome: TransferOutcome) -> None:
        self.pending.append(outcome)
        if (
            len(self.pending) >= INSERT_BATCH
            or time.monotonic() - self.last_flush > INSERT_INTERVAL_SECONDS
        ):
            await self.flush()

    async def flush(self) -> None:
        async with self.lock:
            batch, self.pending = self.pending, []
            self.last_flush = time.monotonic()
            if batch:
                await asyncio.to_thread(self._write, batch)

    def _write(self, batch: list[TransferOutcome]) -> None:
        record_outcomes(self.engine, batch, self.by_key, self.report, keep_local=self.keep_local)


def record_outcomes(
    engine: sa.Engine,
    batch: Sequence[TransferOutcome],
    by_key: dict[str, CallRow],
    report: IngestReport,
    *,
    keep_local: bool = False,
) -> None:
    """Catalog finished transfers in one transaction: rows for the stored objects, failures for
    the others (``ingest_failures``), index_in_phone refreshed; counts go into ``report``."""
    now = datetime.now(UTC)
    values, failures, done = [], [], []
    for outcome in batch:
        row = by_key[outcome.job.key]
        if outcome.ok:
            values.append(
                {
                    **row.catalog_values(),
                    "content_sha256": outcome.sha256,
                    "file_size_bytes": outcome.size,
                    "b2_object_key": outcome.job.key,
                    "local_path": str(outcome.job.keep_local_path) if keep_local else None,
                }
            )
            done.append(row.url_sha1)
        else:
            failures.append(
                {
                    "url_sha1": row.url_sha1,
                    "url": row.url,
                    "campaign_name": row.campaign_name,
                    "status": "permanent" if outcome.permanent else "transient",
                    "error_code": outcome.error_code,
                    "error": outcome.error,
                    "attempts": 1,
                    "first_failed_at": now,
                    "last_attempt_at": now,
                }
            )
            report.failures.append(
                Failure(row.origin, row.url, outcome.error or "unknown error", outcome.permanent)
            )
    with engine.begin() as conn:
        inserted = queries.insert_audio_files(conn, values)
        attached = queries.attach_objects(
            conn, [v for v in values if v["url_sha1"] not in inserted]
        )
        queries.clear_ingest_failures(conn, done)
        queries.record_ingest_failures(conn, failures)
        queries.refresh_index_in_phone(
            conn, (v["phone"] for v in values if v["url_sha1"] in inserted)
        )
    report.objects_attached += len(attached)
    for value in values:
        if value["url_sha1"] in inserted:
            report.inserted.append({**value, "id": inserted[value["url_sha1"]]})
        elif value["url_sha1"] not in attached:
            report.already_cataloged += 1  # another writer got there first


def _run_loop(coro):
    """Run the transfers on uvloop where it is installed: every native future completes
    by waking the loop from a Rust thread, and uvloop's wake-ups cost far less CPU
    (benchmarks/: about a quarter less client CPU per small file)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


CHUNK_ROWS = 10_000


def ingest(
    engine: sa.Engine,
    store,
    rows: Iterable[CallRow],
    options: IngestOptions,
    log: logging.Logger | None = None,
) -> IngestReport:
    """Plan and (unless dry-run) execute the ingestion of these rows, CHUNK_ROWS at a time:
    a re-run over a million cataloged rows holds one chunk of rows, plus a url_sha1 and
    recording_id per row for the run's de-duplication."""
    log = log or logging.getLogger(__name__)
    report = IngestReport()
    unique = _Unique()
    for chunk in queries.chunks(rows, CHUNK_ROWS):
        report.rows_seen += len(chunk)
        _ingest_chunk(
            engine, store, plan(engine, chunk, options, report, unique), options, report, log
        )
    if options.dry_run:
        log.info("dry run: %d of %d rows would be ingested", len(report.planned), report.rows_seen)
    return report


def _ingest_chunk(engine, store, todo: list[CallRow], options: IngestOptions, report, log) -> None:
    jobs: list[TransferJob] = []
    by_key: dict[str, CallRow] = {}
    for row in todo:
        key = object_key_for(row, options.prefix)
        local = options.keep_local_dir / key if options.keep_local_dir else None
        jobs.append(
            TransferJob(
                url=row.url,
                key=key,
                content_type=content_type_for(row.extension),
                keep_local_path=local,
            )
        )
        by_key[key] = row
    if options.dry_run:
        report.planned.extend(
            {"origin": r.origin, "url": r.url, "b2_object_key": j.key} for r, j in zip(todo, jobs)
        )
        return
    if not jobs:
        return
    log.info(
        "ingesting %d files (%d rows seen, %d already cataloged)",
        len(jobs),
        report.rows_seen,
        report.already_cataloged,
    )
    with heap_frozen():
        _run_loop(_execute(engine, store, jobs, by_key, options, report, log))


async def _execute(
    engine, store, jobs, by_key, options: IngestOptions, report: IngestReport, log
) -> None:
    writer = _CatalogWriter(engine, report, by_key, keep_local=options.keep_local_dir is not None)
    started = time.perf_counter()
    last_log = started

    async def on_outcome(outcome: TransferOutcome) -> None:
        nonlocal last_log
        report.downloads += 1
        if outcome.ok:
            report.bytes_uploaded += outcome.size
        await writer.add(outcome)
        now = time.perf_counter()
        if now - last_log > PROGRESS_INTERVAL_SECONDS:
            last_log = now
            elapsed = now - started
            log.info(
                "%d/%d files, %.1f MiB, %.0f files/s",
                report.downloads,
                len(jobs),
                report.bytes_uploaded / 2**20,
                report.downloads / elapsed,
            )

    try:
        await run_transfers(jobs, store, options.transfer, on_outcome)
    finally:
        await writer.flush()
        report.transfer_seconds += time.perf_counter() - started
