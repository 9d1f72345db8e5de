"""Checks of the call audio: the catalog's verification queries, what a run could not ingest,
and the readability of the CSV inbox."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import dagster as dg
import sqlalchemy as sa

from ..catalog import queries
from ..kernel.keys import audio_folder, slugify
from ..kernel.markdown import md_table
from ..kernel.partitions import utc_bounds
from ..resources.bucket import Bucket
from ..resources.call_sources import CallSourcesResource
from ..resources.inbox import CsvInboxResource
from .csv_source import file_sha256, inbox_files
from .inbox import INBOX_CHECK, inbox_check, scan_file
from .ingest import Failure, IngestReport
from .sources import SourceRows

NO_DUPLICATES = "no_duplicate_url_sha1"
OBJECTS_PRESENT = "objects_in_bucket"
ALL_INGESTED = "all_rows_ingested"
TABLE_ROWS = 50
WARN = dg.AssetCheckSeverity.WARN

CHECK_SPECS = [
    dg.AssetCheckSpec(
        NO_DUPLICATES,
        asset="audio_files",
        description="The catalog's dedupe guard: no url_sha1 twice.",
    ),
    dg.AssetCheckSpec(
        OBJECTS_PRESENT,
        asset="audio_files",
        description="Every row of the run's partitions has its object, of the recorded size; fails (WARN) when there was nothing to check.",
    ),
    dg.AssetCheckSpec(
        ALL_INGESTED,
        asset="audio_files",
        description="Every source row of the run's partitions is cataloged; failed downloads, rejected rows and unreadable CSV files are listed with their reasons (WARN).",
    ),
]


@dataclass(frozen=True)
class ObjectCheck:
    rows_checked: int
    missing: list[tuple[int, str | None]]  # (id, key)
    size_mismatch: list[tuple[int, str, int, int | None]]  # (id, key, cataloged, in bucket)

    @property
    def passed(self) -> bool:
        return self.rows_checked > 0 and not self.missing and not self.size_mismatch


CHECK_CHUNK = 10_000
LISTINGS_IN_FLIGHT = 4  # chunks listed at once: a listing is one round trip per 1,000 keys


def partition_audio_rows(
    engine: sa.Engine, wanted: dict[str, set[date]]
) -> Iterator[list[tuple[int, str | None, int | None]]]:
    """(id, b2_object_key, file_size_bytes) of the cataloged rows of these partitions, in key
    order and CHECK_CHUNK at a time: each chunk's keys are neighbours in one listing."""
    with engine.connect() as conn:
        names = queries.campaign_names(conn)
        for slug, days in wanted.items():
            start, end = utc_bounds(days)
            matching = [n for n in names if slugify(n) == slug]
            for chunk in queries.audio_objects_between(conn, matching, start, end, CHECK_CHUNK):
                yield [(i, key, size) for i, key, size, started in chunk if started.date() in days]


async def _sizes_of(store, chunks: list[list[tuple]]) -> list[dict[str, int | None]]:
    async def one(rows: list[tuple]) -> dict[str, int | None]:
        keys = [key for _, key, _ in rows if key]
        return await store.sizes(keys, folder_of=audio_folder) if keys else {}

    return await asyncio.gather(*(one(rows) for rows in chunks))


def check_objects(engine: sa.Engine, store: Bucket, wanted: dict[str, set[date]]) -> ObjectCheck:
    """Every cataloged row of these partitions has its object, of the recorded size."""
    checked, missing, mismatch = 0, [], []
    for batch in queries.chunks(partition_audio_rows(engine, wanted), LISTINGS_IN_FLIGHT):
        for rows, sizes in zip(batch, asyncio.run(_sizes_of(store, batch))):
            checked += len(rows)
            for row_id, key, size in rows:
                if not key or (found := sizes.get(key)) is None:
                    missing.append((row_id, key))
                elif size is not None and found != size:
                    mismatch.append((row_id, key, size, found))
    return ObjectCheck(checked, sorted(missing, key=lambda m: m[0]), sorted(mismatch))


def duplicate_url_sha1s(engine: sa.Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return queries.duplicate_url_sha1s(conn)


def not_ingested(report: IngestReport, sources: SourceRows) -> list[Failure]:
    """Everything of the run's partitions that is not in the catalog, and why."""
    return [
        *report.failures,
        *report.skipped_failures,
        *(Failure(r.origin, r.url, r.reason, True) for r in sources.rejected),
        *(Failure(problem.split(":", 1)[0], None, problem, True) for problem in sources.unreadable),
    ]


def check_results(
    engine: sa.Engine,
    object_store,
    wanted: dict[str, set[date]],
    report: IngestReport,
    sources: SourceRows,
) -> list[dg.AssetCheckResult]:
    dupes = duplicate_url_sha1s(engine)
    objects = check_objects(engine, object_store, wanted)
    failed = not_ingested(report, sources)
    return [
        dg.AssetCheckResult(
            check_name=NO_DUPLICATES,
            passed=not dupes,
            metadata={
                "duplicates": dg.MetadataValue.json([{"url_sha1": s, "count": c} for s, c in dupes])
            },
        ),
        dg.AssetCheckResult(
            check_name=OBJECTS_PRESENT,
            passed=objects.passed,
            severity=WARN if not objects.rows_checked else dg.AssetCheckSeverity.ERROR,
            description=None
            if objects.rows_checked
            else "nothing to check: these partitions have no cataloged rows",
            metadata={
                "rows_checked": objects.rows_checked,
                "missing": dg.MetadataValue.json(
                    [{"id": i, "key": k} for i, k in objects.missing[:TABLE_ROWS]]
                ),
                "size_mismatch": dg.MetadataValue.json(
                    [
                        {"id": id_, "key": key, "cataloged": cataloged, "in_bucket": stored}
                        for id_, key, cataloged, stored in objects.size_mismatch[:TABLE_ROWS]
                    ]
                ),
            },
        ),
        dg.AssetCheckResult(
            check_name=ALL_INGESTED,
            passed=not failed,
            severity=WARN,
            description=f"{len(failed)} source row(s) or file(s) not ingested" if failed else None,
            metadata={
                "not_ingested": dg.MetadataValue.int(len(failed)),
                "reasons": dg.MetadataValue.md(
                    md_table(
                        ["source", "url", "reason", "retried next run"],
                        [
                            (f.origin, f.url, f.reason, "no" if f.permanent else "yes")
                            for f in failed[:TABLE_ROWS]
                        ],
                    )
                ),
            },
        ),
    ]


@dg.asset_check(
    asset="csv_inbox",
    name=INBOX_CHECK,
    description="Every CSV in the inbox can be read and every row has a partition; lists unreadable files and rows no run ingests (WARN).",
)
def csv_files_readable(
    csv_inbox: CsvInboxResource, call_sources: CallSourcesResource
) -> dg.AssetCheckResult:
    """Reads the whole inbox now (the sensor reports each new file as it arrives)."""
    summaries = {}
    for path in inbox_files(csv_inbox.folder):
        try:
            digest = file_sha256(path)[:16]
        except OSError:
            continue
        if summary := scan_file(path, digest, call_sources.zone).summary():
            summaries[path.name] = summary
    passed, description, metadata = inbox_check(summaries)
    return dg.AssetCheckResult(
        passed=passed, severity=WARN, description=description, metadata=metadata
    )
