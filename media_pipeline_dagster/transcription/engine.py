"""The transcription run: claim pending audio in batches, keep N files in flight, write each outcome.

Order of effects per file: transcript objects uploaded, then (one transaction) the
transcription upserted, its failure cleared and its claim released. A run killed at any
point leaves at worst a claim that expires after its TTL and objects a later run
overwrites under the same keys. A file waiting out a 429 gives its slot to another file.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import tempfile
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from ..kernel.fetch import FetchPolicy
from ..kernel.resilience import backoff_delay
from ..resources.transcriber.models import estimate_cost_usd
from ..resources.transcriber.providers import Provider, TranscribeRequest, TranscriptionError
from . import queue, results
from .work import TranscribedFile, process

PROGRESS_SECONDS = 10.0
# Results are written in small batches: one transaction per file would serialise the run on
# the catalog's commits. A crash loses at most this much finished work (redone after the TTL).
WRITE_BATCH = 16
WRITE_INTERVAL_SECONDS = 0.5


@dataclass(frozen=True)
class TranscribeOptions:
    request: TranscribeRequest
    worker: str
    concurrency: int = 8
    limit: int | None = None
    force: bool = False
    retry_failed: bool = False
    dry_run: bool = False
    claim_ttl: timedelta = timedelta(minutes=60)
    cooldown: timedelta = timedelta(minutes=60)
    max_attempts: int = 3  # transient errors, within this run
    max_rate_limited: int = 8  # 429s, within this run
    backoff_seconds: float = 1.0
    fetch_timeout: float = 60.0
    fetch_policy: FetchPolicy = FetchPolicy()  # where audio URLs may lead (kernel/fetch.py)


@dataclass
class FailedFile:
    audio_file_id: int
    kind: str
    reason: str
    code: int | None


@dataclass
class TranscribeReport:
    pending: int = 0
    held_back: dict[str, int] = field(default_factory=dict)
    claimed_elsewhere: int = 0
    transcribed: list[dict] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)
    planned: list[dict] = field(default_factory=list)
    rate_limited: int = 0
    retried: int = 0
    audio_seconds: float = 0.0
    cost_usd: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    fatal: str | None = None


@dataclass
class _Job:
    row: sa.Row
    attempts: int = 0
    rate_limited: int = 0


def transcribe_partitions(
    engine: sa.Engine,
    store,
    provider: Provider,
    wanted: dict[str, set[date]],
    options: TranscribeOptions,
    log: logging.Logger | None = None,
) -> TranscribeReport:
    log = log or logging.getLogger(__name__)
    started_at = queue.now_utc()
    force_since = started_at if options.force else None
    report = TranscribeReport()
    with engine.connect() as conn:
        rows, report.held_back = queue.pending_audio(
            conn,
            wanted,
            now=started_at,
            claim_ttl=options.claim_ttl,
            force_since=force_since,
            retry_failed=options.retry_failed,
            limit=options.limit,
        )
    report.pending = len(rows)
    if options.dry_run:
        from .keys import transcript_keys

        report.planned = [
            {"id": r.id, "audio": r.b2_object_key or r.url, "json_key": transcript_keys(r)[0]}
            for r in rows
        ]
        return report
    if rows:
        _Run(engine, store, provider, options, report, log, force_since).run(rows)
    report.seconds = (queue.now_utc() - started_at).total_seconds()
    return report


class _Run:
    def __init__(
        self, engine, store, provider, options: TranscribeOptions, report, log, force_since
    ):
        self.engine, self.store, self.provider, self.options = engine, store, provider, options
        self.report, self.log, self.force_since = report, log, force_since
        self.unclaimed: deque[sa.Row] = deque()
        self.ready: deque[_Job] = deque()
        self.delayed: list[tuple[float, int, _Job]] = []
        self.seq = itertools.count()
        self.claim_batch = max(2 * options.concurrency, 4)
        self.unwritten: list[tuple[dict, dict]] = []  # (transcriptions row, report entry)
        self.first_unwritten = 0.0

    def run(self, rows: list[sa.Row]) -> None:
        self.unclaimed.extend(rows)
        in_flight: dict[Future, _Job] = {}
        last_progress = time.monotonic()
        with (
            tempfile.TemporaryDirectory(prefix="transcribe-") as tmp,
            ThreadPoolExecutor(self.options.concurrency) as pool,
        ):
            try:
                while self.unclaimed or self.ready or self.delayed or in_flight:
                    if (
                        self.report.fatal is None
                        and len(self.ready) + len(self.delayed) + len(in_flight) < self.claim_batch
                    ):
                        self._claim_more()
                    now = time.monotonic()
                    while self.delayed and self.delayed[0][0] <= now:
                        self.ready.appendleft(
                            heapq.heappop(self.delayed)[2]
                        )  # retries first: no tail
                    while (
                        self.ready
                        and len(in_flight) < self.options.concurrency
                        and self.report.fatal is None
                    ):
                        job = self.ready.popleft()
                        in_flight[
                            pool.submit(
                                process,
                                job.row,
                                store=self.store,
                                provider=self.provider,
                                request=self.options.request,
                                work_root=Path(tmp),
                                fetch_policy=self.options.fetch_policy,
                                fetch_timeout=self.options.fetch_timeout,
                            )
                        ] = job
                    if self.report.fatal is not None and not in_flight:
                        break
                    timeout = (
                        max(0.0, self.delayed[0][0] - time.monotonic()) if self.delayed else None
                    )
                    if not in_flight:
                        if timeout is not None:
                            time.sleep(min(timeout, 1.0))
                        continue
                    done, _ = wait(
                        in_flight,
                        timeout=min(timeout, 1.0) if timeout is not None else 1.0,
                        return_when=FIRST_COMPLETED,
                    )
                    for future in done:
                        self._settle(in_flight.pop(future), future)
                    if self.unwritten and (
                        len(self.unwritten) >= WRITE_BATCH
                        or not in_flight
                        or time.monotonic() - self.first_unwritten >= WRITE_INTERVAL_SECONDS
                    ):
                        self._write()
                    if time.monotonic() - last_progress >= PROGRESS_SECONDS:
                        last_progress = time.monotonic()
                        self.log.info(
                            "transcriptions: %d done, %d failed, %d in flight, %d waiting",
                            len(self.report.transcribed),
                            len(self.report.failed),
                            len(in_flight),
                            len(self.unclaimed) + len(self.ready) + len(self.delayed),
                        )
            finally:
                self._write()
                held = [j.row.id for j in self.ready] + [j.row.id for _, _, j in self.delayed]
                held += [j.row.id for j in in_flight.values()]
                if held:  # a fatal error or an interrupted run hands its claims back
                    with self.engine.begin() as conn:
                        queue.release(conn, held, worker=self.options.worker)

    def _claim_more(self) -> None:
        batch = [
            self.unclaimed.popleft() for _ in range(min(self.claim_batch, len(self.unclaimed)))
        ]
        if not batch:
            return
        with self.engine.begin() as conn:
            won = set(
                queue.claim(
                    conn,
                    [r.id for r in batch],
                    worker=self.options.worker,
                    ttl=self.options.claim_ttl,
                    force_since=self.force_since,
                    retry_failed=self.options.retry_failed,
                )
            )
        self.report.claimed_elsewhere += len(batch) - len(won)
        self.ready.extend(_Job(r) for r in batch if r.id in won)

    def _later(self, job: _Job, delay: float) -> None:
        self.report.retried += 1
        heapq.heappush(self.delayed, (time.monotonic() + delay, next(self.seq), job))

    def _settle(self, job: _Job, future: Future) -> None:
        try:
            done: TranscribedFile = future.result()
        except TranscriptionError as exc:
            self._failed(job, exc)
            return
        except (
            Exception
        ) as exc:  # a bug or an unexpected library error: transient, keep the run going
            self.log.exception("transcribing audio_file %s failed unexpectedly", job.row.id)
            self._failed(job, TranscriptionError("transient", f"{type(exc).__name__}: {exc}"))
            return
        self._completed(job, done)

    def _failed(self, job: _Job, exc: TranscriptionError) -> None:
        if exc.kind == "fatal" or (self.report.fatal is not None and exc.kind != "permanent"):
            # The run is stopping (bad key, no credit, ...): the file did nothing wrong, so it gets
            # its claim handed back and no cooldown; only the first cause is reported.
            self.report.fatal = self.report.fatal or str(exc)
            with self.engine.begin() as conn:
                queue.release(conn, [job.row.id], worker=self.options.worker)
            return
        if exc.kind == "rate_limited" and job.rate_limited < self.options.max_rate_limited:
            job.rate_limited += 1
            self.report.rate_limited += 1
            self._later(
                job,
                exc.retry_after if exc.retry_after is not None else self.options.backoff_seconds,
            )
            return
        if exc.kind == "transient" and job.attempts + 1 < self.options.max_attempts:
            job.attempts += 1
            self._later(job, backoff_delay(job.attempts, self.options.backoff_seconds, math.inf))
            return
        status = results.PERMANENT if exc.kind == "permanent" else results.TRANSIENT
        with self.engine.begin() as conn:
            results.fail(
                conn,
                worker=self.options.worker,
                audio_file_id=job.row.id,
                provider=self.provider.name,
                model=self.options.request.model,
                status=status,
                error=str(exc),
                error_code=exc.code,
                now=queue.now_utc(),
                cooldown=self.options.cooldown,
            )
        self.report.failed.append(FailedFile(job.row.id, status, str(exc), exc.code))
        self.log.warning("audio_file %s: %s failure: %s", job.row.id, status, exc)

    def _completed(self, job: _Job, done: TranscribedFile) -> None:
        t = done.transcript
        seconds = float(t.duration or job.row.duration_seconds or 0.0)
        cost = estimate_cost_usd(t.model, seconds, t.usage)
        row = {
            "audio_file_id": job.row.id,
            "provider": t.provider,
            "model": t.model,
            "completed_at": queue.now_utc(),
            "transcript_text": t.text,
            "segments": t.segments,
            "diarization": t.diarization,
            "metadata": {
                "language": t.language,
                "duration": t.duration,
                "b2_transcript_json_key": done.json_key,
                "b2_transcript_txt_key": done.txt_key,
                "cost_usd": round(cost, 6),
                "usage": t.usage,
                "pieces": t.pieces,
                "timestamps": self.options.request.timestamps,
                "audio_source": done.audio_source,
                "audio_bytes": done.audio_bytes,
                "elapsed_seconds": round(done.seconds, 3),
                "worker": self.options.worker,
            },
            "raw_response": t.raw,
            "b2_transcript_key": done.json_key,
        }
        if not self.unwritten:
            self.first_unwritten = time.monotonic()
        self.unwritten.append(
            (
                row,
                {
                    "id": job.row.id,
                    "json_key": done.json_key,
                    "text": t.text,
                    "seconds": seconds,
                    "pieces": t.pieces,
                    "model": t.model,
                    "cost": cost,
                },
            )
        )

    def _write(self) -> None:
        if not self.unwritten:
            return
        batch, self.unwritten = self.unwritten, []
        with self.engine.begin() as conn:
            for row, _ in batch:
                results.complete(conn, row, worker=self.options.worker)
        for _, entry in batch:
            self.report.audio_seconds += entry["seconds"]
            self.report.cost_usd[entry["model"]] = (
                self.report.cost_usd.get(entry["model"], 0.0) + entry["cost"]
            )
            self.report.transcribed.append(entry)
