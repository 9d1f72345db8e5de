"""What the CSV inbox holds, file by file, and what an operator must see about it.

The sensor scans each new or changed file once (``scan_file`` never raises because of
what a file contains) and reports on the ``csv_inbox`` asset: one observation per file
version, and the ``csv_files_readable`` check listing unreadable files and rows no run
will ingest (no campaign, a path-like campaign, a call date before the first partition).
Rows rejected within a campaign that has runs are shown by those runs instead.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, tzinfo
from pathlib import Path

import dagster as dg

from ..kernel.markdown import md_table
from ..kernel.metadata import metadata_values
from ..kernel.partitions import CALL_DATE_START, in_partition_range
from .csv_source import CsvFileError, read_csv

INBOX_ASSET = dg.AssetKey("csv_inbox")
INBOX_CHECK = "csv_files_readable"
ROWS_KEPT_PER_FILE = 20  # in the sensor cursor; the observation of the file lists up to TABLE_ROWS
TABLE_ROWS = 200
REASON_CHARS = 300


@dataclass
class FileScan:
    name: str
    digest: str
    encoding: str | None = None
    fallback: bool = False
    problem: str | None = None  # why the whole file cannot be read
    ranges: dict[str, tuple[date, date]] = field(
        default_factory=dict
    )  # campaign slug -> first, last call date
    rows: int = 0
    rejected: int = 0
    unpartitioned: list[list[str]] = field(
        default_factory=list
    )  # [source, column, reason]: rows no run will show

    def summary(self) -> dict | None:
        """What the cursor keeps about this file version (None: nothing to report)."""
        if not (self.problem or self.unpartitioned or self.fallback):
            return None
        return {
            "problem": self.problem,
            "encoding": self.encoding if self.fallback else None,
            "rows": self.unpartitioned[:ROWS_KEPT_PER_FILE],
            "rows_total": len(self.unpartitioned),
        }


def scan_file(path: Path, digest: str, naive_zone: tzinfo) -> FileScan:
    """Read one inbox file for the sensor: campaign date ranges, and everything wrong with it."""
    scan = FileScan(path.name, digest)
    try:
        parsed = read_csv(path, naive_zone)
    except CsvFileError as exc:
        scan.problem = str(exc)[:REASON_CHARS]
        return scan
    except (
        OSError,
        csv.Error,
        UnicodeError,
    ) as exc:  # unreadable, or vanished between listing and reading
        scan.problem = f"{path.name}: cannot be read: {type(exc).__name__}: {exc}"[:REASON_CHARS]
        return scan
    scan.encoding, scan.fallback = parsed.encoding.label, parsed.encoding.fallback
    scan.rows, scan.rejected = len(parsed.rows) + len(parsed.rejected), len(parsed.rejected)
    for row in parsed.rows:
        if not in_partition_range(row.call_date):
            scan.unpartitioned.append(
                [
                    row.origin,
                    "started",
                    (
                        f"call date {row.call_date} is before the first call-date partition ({CALL_DATE_START}); not ingested"
                    ),
                ]
            )
            continue
        lo, hi = scan.ranges.get(row.campaign_slug, (row.call_date, row.call_date))
        scan.ranges[row.campaign_slug] = (min(lo, row.call_date), max(hi, row.call_date))
    scan.unpartitioned.extend(
        [r.origin, r.column or "", r.reason[:REASON_CHARS]]
        for r in parsed.rejected
        if r.campaign_slug not in scan.ranges
    )
    return scan


def observation(scan: FileScan) -> dg.AssetObservation:
    """One event on ``csv_inbox`` per file version read: the file's own report card."""
    metadata: dict[str, object] = {
        "file": scan.name,
        "sha256_prefix": scan.digest,
        "readable": scan.problem is None,
    }
    if scan.problem:
        metadata["problem"] = dg.MetadataValue.text(scan.problem)
    else:
        metadata.update(
            {
                "encoding": scan.encoding,
                "rows": dg.MetadataValue.int(scan.rows),
                "rows_rejected": dg.MetadataValue.int(scan.rejected),
                "rows_without_partition": dg.MetadataValue.int(len(scan.unpartitioned)),
                "campaigns": dg.MetadataValue.json(
                    {
                        s: [lo.isoformat(), hi.isoformat()]
                        for s, (lo, hi) in sorted(scan.ranges.items())
                    }
                ),
            }
        )
    if scan.unpartitioned:
        metadata["rows_not_ingested"] = dg.MetadataValue.md(
            md_table(["source", "column", "reason"], scan.unpartitioned[:TABLE_ROWS])
        )
    return dg.AssetObservation(asset_key=INBOX_ASSET, metadata=metadata_values(metadata))


def inbox_check(summaries: dict[str, dict]) -> tuple[bool, str, dict[str, dg.MetadataValue]]:
    """(passed, description, metadata) of ``csv_files_readable`` from the per-file summaries."""
    bad = {name: s["problem"] for name, s in sorted(summaries.items()) if s.get("problem")}
    rows = [row for _, s in sorted(summaries.items()) for row in s.get("rows") or []]
    rows_total = sum(s.get("rows_total") or 0 for s in summaries.values())
    fallback = {name: s["encoding"] for name, s in sorted(summaries.items()) if s.get("encoding")}
    passed = not bad and not rows_total
    parts = []
    if bad:
        parts.append(f"{len(bad)} file(s) cannot be read: {', '.join(bad)}")
    if rows_total:
        parts.append(f"{rows_total} row(s) belong to no partition and are not ingested")
    description = (
        "; ".join(parts) or "every CSV in the inbox is readable and every row has a partition"
    )
    metadata: dict[str, object] = {
        "unreadable_files": dg.MetadataValue.int(len(bad)),
        "rows_without_partition": dg.MetadataValue.int(rows_total),
    }
    if bad:
        metadata["files"] = dg.MetadataValue.md(
            md_table(["file", "why it is not read"], list(bad.items()))
        )
    if rows:
        metadata["rows"] = dg.MetadataValue.md(md_table(["source", "column", "reason"], rows))
    if fallback:
        metadata["read_with_fallback_encoding"] = dg.MetadataValue.json(fallback)
    return passed, description, metadata_values(metadata)


def check_evaluation(summaries: dict[str, dict]) -> dg.AssetCheckEvaluation:
    passed, description, metadata = inbox_check(summaries)
    return dg.AssetCheckEvaluation(
        asset_key=INBOX_ASSET,
        check_name=INBOX_CHECK,
        passed=passed,
        metadata=metadata,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
    )
