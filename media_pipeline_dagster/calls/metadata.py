"""What a materialization of ``audio_files`` tells the UI: counts, bytes, speed, failures, a preview."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import dagster as dg

from ..kernel.metadata import markdown_table, metadata_value, metadata_values, per_second
from .ingest import Failure, IngestReport
from .rows import RejectedRow

PREVIEW_ROWS = 10


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0].split(" from ")[0][:60]


def build_metadata(
    report: IngestReport, rejected: Sequence[RejectedRow], *, target: str, dry_run: bool
) -> dict[str, dg.MetadataValue]:
    failures = list(report.failures) + [Failure(r.origin, r.url, r.reason, True) for r in rejected]
    seconds = report.transfer_seconds
    mib = report.bytes_uploaded / 2**20
    meta = metadata_values(
        {
            "dry_run": dry_run,
            "target": target,
            "rows_seen": report.rows_seen + len(rejected),
            "new": len(report.inserted),
            "already_cataloged": report.already_cataloged,
            "objects_attached_to_existing_rows": report.objects_attached,
            "failed": len(failures),
            "skipped_known_permanent_failures": report.known_permanent_failures,
            "not_attempted_over_limit": report.not_attempted_limit,
            "bytes_uploaded": report.bytes_uploaded,
            "transfer_seconds": float(round(seconds, 3)),
            "files_per_second": per_second(report.downloads, seconds, 1),
            "mib_per_second": per_second(mib, seconds, 2),
        }
    )
    if failures:
        by_kind = Counter(_reason_kind(f.reason) for f in failures)
        meta["failures_by_reason"] = metadata_value(dict(by_kind.most_common()))
        meta["failures"] = markdown_table(
            ["source", "url", "reason", "retried next run"],
            [(f.origin, f.url, f.reason, "no" if f.permanent else "yes") for f in failures[:50]],
        )
    if report.inserted:
        meta["new_by_company"] = metadata_value(
            dict(Counter(r["company"] or "(none)" for r in report.inserted).most_common())
        )
        meta["preview"] = markdown_table(
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
    if report.planned:
        meta["planned"] = metadata_value(len(report.planned))
        meta["plan_preview"] = markdown_table(
            ["source", "url", "b2_object_key"],
            [(p["origin"], p["url"], p["b2_object_key"]) for p in report.planned[:PREVIEW_ROWS]],
        )
    return meta
