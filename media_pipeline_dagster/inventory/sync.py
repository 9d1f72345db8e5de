"""Mirror an inventory snapshot into D1 ``media_assets``: insert what D1 does not know yet.

D1 is the truth for what is known: its media_uids are read in a few large keyset pages
(one request per ``read_page_size`` rows), compared with the snapshot here, and only the
new rows are sent, many statements per atomic request. An unchanged bucket costs the
schema check plus the reads and writes nothing. Rows are never deleted, and updated only
where an option asks for it: ``last_seen_at`` when tracking is on (at most once per row
and UTC day), the object metadata columns when enrichment is on (once per row, when empty).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..resources.d1 import D1Connection, D1Error, Statement, pack_requests
from .enrich import EnrichmentAccessError, HeadOutcome
from .schema import SchemaState, ensure_schema
from .snapshot import Snapshot
from .statements import (
    ENRICH,
    INSERT,
    INSERT_WITH_METADATA,
    TOUCH,
    AssetRow,
    asset_rows,
    enrich_statements,
    insert_statements,
    known_page,
    touch_statements,
)

DEFAULT_READ_PAGE = 20_000


@dataclass
class SyncOptions:
    dry_run: bool = False
    verbose: bool = False
    track_last_seen: bool = False
    read_page_size: int = DEFAULT_READ_PAGE
    max_statements_per_request: int = 50
    max_request_bytes: int = 1_000_000
    # Enrichment: the object metadata of these rows (HEADs); None = off.
    object_metadata: Callable[[list[AssetRow]], HeadOutcome] | None = None
    enrich_max_objects: int = 10_000


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
    enrich_wanted: int = 0  # rows without object metadata (new ones included)
    enrich_heads: int = 0
    enriched: int = 0  # rows written with their object metadata
    enrich_gone: list[str] = field(default_factory=list)
    enrich_failed: list[str] = field(default_factory=list)
    enrich_error: str | None = (
        None  # the store refused the HEADs: the mirror was written without them
    )
    schema: SchemaState | None = None
    planned: list[list[Statement]] = field(
        default_factory=list
    )  # dry run: the requests it would send
    seconds: float = 0.0


@dataclass(frozen=True)
class Known:
    last_seen_at: str | None = None
    has_metadata: bool = False


def read_known(
    db: D1Connection, *, page_size: int, with_last_seen: bool = False, with_enrichment: bool = False
) -> dict[str, Known]:
    """Every media_uid in D1 (with its last_seen_at, and whether it has its object metadata, when asked)."""
    known: dict[str, Known] = {}
    after = ""
    while True:
        (page,) = db.run(
            [
                known_page(
                    after, page_size, with_last_seen=with_last_seen, with_enrichment=with_enrichment
                )
            ]
        )
        for row in page.rows:
            rest = list(row[1:])
            seen = rest.pop(0) if with_last_seen else None
            known[row[0]] = Known(seen, bool(int(rest[0] or 0)) if with_enrichment else False)
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
    return pack_requests(
        statements,
        max_statements=options.max_statements_per_request,
        max_bytes=options.max_request_bytes,
    )


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


def _sync(
    db: D1Connection,
    snapshot: Snapshot,
    options: SyncOptions,
    log: logging.Logger,
    report: SyncReport,
) -> None:
    enrich = options.object_metadata is not None
    report.schema = ensure_schema(
        db, track_last_seen=options.track_last_seen, enrich_metadata=enrich, dry_run=options.dry_run
    )
    tracking_ready = report.schema.has_last_seen
    known = (
        read_known(
            db,
            page_size=options.read_page_size,
            with_last_seen=tracking_ready,
            with_enrichment=enrich and report.schema.has_object_metadata,
        )
        if report.schema.table_exists
        else {}
    )
    report.known_in_d1 = len(known)
    rows = asset_rows(snapshot.objects)
    report.new = [r for r in rows if r.media_uid not in known]
    report.already_known = len(rows) - len(report.new)

    heads = _heads(rows, known, options, log, report) if enrich else HeadOutcome()
    found = heads.found
    seen_at = _d1_timestamp(snapshot.taken_at) if options.track_last_seen else None
    statements = insert_statements(
        [r for r in report.new if r.media_uid not in found], last_seen_at=seen_at
    )
    new_enriched = [r for r in report.new if r.media_uid in found]
    statements += insert_statements(
        new_enriched, last_seen_at=seen_at, metadata=found, fetched_at=heads.fetched_at
    )
    old_enriched = [r for r in rows if r.media_uid in known and r.media_uid in found]
    statements += enrich_statements(old_enriched, found, fetched_at=heads.fetched_at)
    if seen_at:
        day = seen_at[:10]
        stale = [
            r.media_uid
            for r in rows
            if r.media_uid in known and (known[r.media_uid].last_seen_at or "") < day
        ]
        statements += touch_statements(stale, seen_at=seen_at, day=day)
    requests = pack(statements, options)
    report.statements = len(statements)
    if report.schema.statements:
        verb = "would apply" if options.dry_run else "applied"
        log.info(
            "media_assets schema: %s %s; recorded in d1_migrations: %s",
            verb,
            ", ".join(report.schema.applied) or "nothing",
            ", ".join(report.schema.applied + report.schema.newly_recorded),
        )
    log.info(
        "%d objects in the snapshot, %d already in D1 (%d rows there), %d new: %d statement(s) in %d request(s)%s",
        report.discovered,
        report.already_known,
        report.known_in_d1,
        len(report.new),
        len(statements),
        len(requests),
        " (dry run: nothing sent)" if options.dry_run else "",
    )
    if options.dry_run:
        report.planned = requests
    else:
        _send(db, requests, report, options, log)


def _heads(
    rows: list[AssetRow], known: dict[str, Known], options: SyncOptions, log, report: SyncReport
) -> HeadOutcome:
    """The object metadata of up to ``enrich_max_objects`` rows that lack it, new rows first."""
    wanted = [r for r in rows if r.media_uid not in known]
    wanted += [r for r in rows if r.media_uid in known and not known[r.media_uid].has_metadata]
    report.enrich_wanted = len(wanted)
    selected = wanted[: options.enrich_max_objects]
    if options.dry_run or not selected or options.object_metadata is None:
        log.info(
            "object metadata: %d row(s) without it, %d HEAD(s) %s",
            len(wanted),
            len(selected),
            "would be sent (dry run)" if options.dry_run else "needed",
        )
        return HeadOutcome()
    try:
        outcome = options.object_metadata(selected)
    except EnrichmentAccessError as exc:
        report.enrich_error = str(exc)
        log.error("object metadata not read, the rows are written without it: %s", exc)
        return HeadOutcome()
    report.enrich_heads = outcome.requests
    report.enrich_gone, report.enrich_failed = outcome.gone, outcome.failed
    log.info(
        "object metadata: %d HEAD(s) for %d of %d row(s) without it: %d read, %d gone since the inventory, %d failed",
        outcome.requests,
        len(selected),
        len(wanted),
        len(outcome.found),
        len(outcome.gone),
        len(outcome.failed),
    )
    return outcome


def _send(
    db: D1Connection, requests: list[list[Statement]], report: SyncReport, options: SyncOptions, log
) -> None:
    every = max(1, len(requests) // 10)
    for number, request in enumerate(requests, 1):
        t0 = time.perf_counter()
        results = db.run(request)
        changes = {INSERT: 0, INSERT_WITH_METADATA: 0, ENRICH: 0, TOUCH: 0}
        for statement, result in zip(request, results):
            changes[statement.kind] += result.changes
        inserted, touched = changes[INSERT] + changes[INSERT_WITH_METADATA], changes[TOUCH]
        report.rows_written += inserted + touched + changes[ENRICH]
        report.last_seen_updated += touched
        report.enriched += changes[INSERT_WITH_METADATA] + changes[ENRICH]
        report.write_requests += 1
        if options.verbose:
            log.info(
                "request %d/%d: %d statement(s), %d bytes, %d row(s) inserted, %d last_seen_at updated, %.2f s",
                number,
                len(requests),
                len(request),
                sum(s.wire_bytes for s in request),
                inserted,
                touched,
                time.perf_counter() - t0,
            )
        elif number % every == 0 or number == len(requests):
            log.info(
                "D1 writes: %d/%d requests, %d rows written so far",
                number,
                len(requests),
                report.rows_written,
            )
