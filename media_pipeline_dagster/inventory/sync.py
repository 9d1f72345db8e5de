"""Mirror an inventory snapshot into D1 ``media_assets``: insert what D1 does not know yet.

D1 is the truth for what is known: its media_uids are read in a few large keyset pages
(one request per ``read_page_size`` rows), compared with the snapshot here, and only the
new rows are sent, many statements per atomic request. An unchanged bucket costs the
schema check plus the reads and writes nothing. Rows are never updated or deleted, except
``last_seen_at`` when tracking is on (at most once per row and UTC day).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..resources.d1 import D1Connection, D1Error, Statement, pack_requests
from .schema import SchemaState, ensure_schema
from .snapshot import Snapshot
from .statements import AssetRow, asset_rows, insert_statements, known_page, touch_statements

DEFAULT_READ_PAGE = 20_000


@dataclass
class SyncOptions:
    dry_run: bool = False
    verbose: bool = False
    track_last_seen: bool = False
    read_page_size: int = DEFAULT_READ_PAGE
    max_statements_per_request: int = 50
    max_request_bytes: int = 1_000_000


@dataclass
class SyncReport:
    discovered: int = 0
    new: list[AssetRow] = field(default_factory=list)
    already_known: int = 0
    rows_written: int = 0
    last_seen_updated: int = 0
    api_requests: int = 0
    write_requests: int = 0
    statements: int = 0
    known_in_d1: int = 0
    schema: SchemaState | None = None
    planned: list[list[Statement]] = field(default_factory=list)  # dry run: the requests it would send
    seconds: float = 0.0


def read_known(db: D1Connection, *, page_size: int, with_last_seen: bool = False) -> dict[str, str | None]:
    """Every media_uid in D1 (and its last_seen_at when asked)."""
    known: dict[str, str | None] = {}
    after = ""
    while True:
        (page,) = db.run([known_page(after, page_size, with_last_seen=with_last_seen)])
        for row in page.rows:
            known[row[0]] = row[1] if with_last_seen else None
        if len(page.rows) < page_size:
            return known
        after = page.rows[-1][0]


def _d1_timestamp(taken_at: str) -> str:
    # As SQLite's datetime('now') writes ingested_at: 'YYYY-MM-DD HH:MM:SS'.
    return taken_at.replace("T", " ").rstrip("Z")


class SyncError(D1Error):
    """D1 failed part-way; ``report`` says what was done before (all of it committed)."""

    def __init__(self, message: str, report: SyncReport) -> None:
        super().__init__(message)
        self.report = report


def pack(statements: Sequence[Statement], options: SyncOptions) -> list[list[Statement]]:
    return pack_requests(statements, max_statements=options.max_statements_per_request, max_bytes=options.max_request_bytes)


def sync_snapshot(
    db: D1Connection, snapshot: Snapshot, options: SyncOptions, log: logging.Logger | None = None
) -> SyncReport:
    log = log or logging.getLogger(__name__)
    started, requests_before = time.perf_counter(), db.requests
    report = SyncReport(discovered=snapshot.count)
    try:
        _sync(db, snapshot, options, log, report)
    except D1Error as exc:
        report.api_requests = db.requests - requests_before
        done = f"{report.write_requests} write request(s), {report.rows_written} row(s) committed before"
        raise SyncError(f"{exc} [{done}]", report) from exc
    report.api_requests = db.requests - requests_before
    report.seconds = time.perf_counter() - started
    return report


def _sync(db: D1Connection, snapshot: Snapshot, options: SyncOptions, log: logging.Logger, report: SyncReport) -> None:
    report.schema = ensure_schema(db, track_last_seen=options.track_last_seen, dry_run=options.dry_run)
    tracking_ready = report.schema.has_last_seen
    known = (
        read_known(db, page_size=options.read_page_size, with_last_seen=tracking_ready)
        if report.schema.table_exists else {}
    )
    report.known_in_d1 = len(known)
    rows = asset_rows(snapshot.objects)
    report.new = [r for r in rows if r.media_uid not in known]
    report.already_known = len(rows) - len(report.new)

    seen_at = _d1_timestamp(snapshot.taken_at) if options.track_last_seen else None
    statements = insert_statements(report.new, last_seen_at=seen_at)
    if seen_at:
        day = seen_at[:10]
        stale = [r.media_uid for r in rows if r.media_uid in known and (known[r.media_uid] or "") < day]
        statements += touch_statements(stale, seen_at=seen_at, day=day)
    requests = pack(statements, options)
    report.statements = len(statements)
    if report.schema.statements:
        verb = "would apply" if options.dry_run else "applied"
        log.info("media_assets schema: %s %s", verb, ", ".join(report.schema.applied))
    log.info(
        "%d objects in the snapshot, %d already in D1 (%d rows there), %d new: %d statement(s) in %d request(s)%s",
        report.discovered, report.already_known, report.known_in_d1, len(report.new), len(statements), len(requests),
        " (dry run: nothing sent)" if options.dry_run else "",
    )
    if options.dry_run:
        report.planned = requests
    else:
        _send(db, requests, report, options, log)


def _send(db: D1Connection, requests: list[list[Statement]], report: SyncReport, options: SyncOptions, log) -> None:
    every = max(1, len(requests) // 10)
    for number, request in enumerate(requests, 1):
        t0 = time.perf_counter()
        results = db.run(request)
        inserted = sum(r.changes for s, r in zip(request, results) if s.sql.startswith("INSERT"))
        touched = sum(r.changes for s, r in zip(request, results) if s.sql.startswith("UPDATE"))
        report.rows_written += inserted + touched
        report.last_seen_updated += touched
        report.write_requests += 1
        if options.verbose:
            log.info(
                "request %d/%d: %d statement(s), %d bytes, %d row(s) inserted, %d last_seen_at updated, %.2f s",
                number, len(requests), len(request), sum(s.wire_bytes for s in request), inserted, touched,
                time.perf_counter() - t0,
            )
        elif number % every == 0 or number == len(requests):
            log.info("D1 writes: %d/%d requests, %d rows written so far", number, len(requests), report.rows_written)
