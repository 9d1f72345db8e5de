"""What a materialization of ``audio_files`` tells the UI: counts, bytes, speed, failures, a preview."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import dagster as dg

from ..kernel.markdown import md_table
from .ingest import Failure, IngestReport
from .rows import RejectedRow

PREVIEW_ROWS = 10


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0].split(" from ")[0][:60]


def build_metadata(
    report: IngestReport, rejected: Sequence[RejectedRow], *, target: str, dry_run: bool
) -> dict:
    failures = list(report.failures) + [Failure(r.origin, r.url, r.reason, True) for r in rejected]
    seconds = report.transfer_seconds
    mib = report.bytes_uploaded / 2**20
    meta: dict[str, object] = {
        "dry_run": dry_run,
        "target": target,
        "rows_seen": dg.MetadataValue.int(report.rows_seen + len(rejected)),
        "new": dg.MetadataValue.int(len(report.inserted)),
        "already_cataloged": dg.MetadataValue.int(report.already_cataloged),
        "objects_attached_to_existing_rows": dg.MetadataValue.int(report.objects_attached),
        "failed": dg.MetadataValue.int(len(failures)),
        "skipped_known_permanent_failures": dg.MetadataValue.int(report.known_permanent_failures),
        "not_attempted_over_limit": dg.MetadataValue.int(report.not_attempted_limit),
        "bytes_uploaded": dg.MetadataValue.int(report.bytes_uploaded),
        "transfer_seconds": dg.MetadataValue.float(round(seconds, 3)),
        "files_per_second": dg.MetadataValue.float(
            round(report.downloads / seconds, 1) if seconds else 0.0
        ),
        "mib_per_second": dg.MetadataValue.float(round(mib / seconds, 2) if seconds else 0.0),
    }
    if failures:
        by_kind = Counter(_reason_kind(f.reason) for f in failures)
        meta["failures_by_reason"] = dg.MetadataValue.json(dict(by_kind.most_common()))
        meta["failures"] = dg.MetadataValue.md(
            md_table(
                ["source", "url", "reason", "retried next run"],
                [
                    (f.origin, f.url, f.reason, "no" if f.permanent else "yes")
                    for f in failures[:50]
                ],
            )
        )
    if report.inserted:
        meta["new_by_company"] = dg.MetadataValue.json(
            dict(Counter(r["company"] or "(none)" for r in report.inserted).most_common())
        )
        meta["preview"] = dg.MetadataValue.md(
            md_table(
                [
                    "id",
                    "phone",
                    "campaign_name",
                    "company",
                    "started",
                    "b2_object_key",
                    "file_size_bytes",
                ],
                [
                    (
                        r["id"],
                        r["phone"],
                        r["campaign_name"],
                        r["company"],
                        r["started"].isoformat(),
                        r["b2_object_key"],
                        r["file_size_bytes"],
                    )
                    for r in report.inserted[:PREVIEW_ROWS]
                ],
            )
        )
    if report.planned:
        meta["planned"] = dg.MetadataValue.int(len(report.planned))
        meta["plan_preview"] = dg.MetadataValue.md(
            md_table(
                ["source", "url", "b2_object_key"],
                [
                    (p["origin"], p["url"], p["b2_object_key"])
                    for p in report.planned[:PREVIEW_ROWS]
                ],
            )
        )
    return meta
