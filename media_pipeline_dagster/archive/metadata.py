"""What a materialization of ``post_media_archive`` tells the UI: counts, bytes, statistics, problems."""

from __future__ import annotations

import dagster as dg

from ..kernel.metadata import markdown_table, metadata_value, metadata_values, per_second
from .queries import Unpartitioned
from .stats import ArchiveStatistics
from .upload import (
    ARCHIVED,
    FAILED,
    INVALID,
    MISMATCH,
    MISSING,
    PLANNED,
    PRESENT,
    REFUSED,
    UPLOADED,
    ArchiveReport,
)

PREVIEW_ROWS = 10
LISTED = 100


def statistics_table(stats: ArchiveStatistics) -> dg.TableMetadataValue:
    columns = [
        dg.TableColumn("media_type", "string"),
        dg.TableColumn("total", "int"),
        dg.TableColumn("archived", "int"),
        dg.TableColumn("not_archived", "int"),
        dg.TableColumn("archived_pct", "float"),
    ]
    records = [
        dg.TableRecord(
            {
                "media_type": t.media_type,
                "total": t.total,
                "archived": t.archived,
                "not_archived": t.not_archived,
                "archived_pct": t.archived_pct,
            }
        )
        for t in [stats.overall, *stats.by_type]
    ]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def build_metadata(
    report: ArchiveReport,
    stats: ArchiveStatistics,
    outside: Unpartitioned,
    *,
    target: str,
    database: str,
    dry_run: bool,
) -> dict[str, dg.MetadataValue]:
    seconds = report.seconds
    meta = metadata_values(
        {
            "dry_run": dry_run,
            "target": target,
            "post_media_database": database,
            "rows_selected": len(report.outcomes),
            "uploaded": report.count(UPLOADED),
            "already_in_bucket": report.count(PRESENT),
            "archive_url_written": report.rows_updated,
            "missing_local_files": report.count(MISSING),
            "md5_mismatches": report.count(MISMATCH),
            "refused_paths": len(report.refused_paths),
            "invalid_rows": report.count(INVALID),
            "upload_failures": report.count(FAILED),
            "objects_uploaded": report.objects_uploaded,
            "bytes_uploaded": report.bytes_uploaded,
            "local_files_deleted": len(report.deleted_local),
            "seconds": float(round(seconds, 3)),
            "mib_per_second": per_second(report.bytes_uploaded / 2**20, seconds, 2),
            "statistics": statistics_table(stats),
            "archived_pct": float(stats.overall.archived_pct),
            "unpartitioned_unarchived_rows": outside.total,
        }
    )
    if dry_run:
        meta["planned"] = metadata_value(report.count(PLANNED))
    missing = report.with_status(MISSING)
    if missing:
        meta["missing_local_file_ids"] = metadata_value(
            [
                {
                    "media_id": o.row.media_id,
                    "media_type": o.row.media_type,
                    "md5_sum": o.row.md5_sum,
                    "local_file_path": o.row.local_file_path,
                }
                for o in missing[:LISTED]
            ]
        )
    problems = report.with_status(MISMATCH, REFUSED, INVALID, FAILED)
    if problems:
        meta["problems"] = markdown_table(
            ["media_id", "status", "reason"],
            [(o.row.media_id, o.status, o.reason) for o in problems[:LISTED]],
        )
    if report.refused_paths:
        meta["refused_path_ids"] = metadata_value(
            [{"media_id": m, "path": p} for m, p in report.refused_paths[:LISTED]]
        )
    if report.unknown_mime_types:
        meta["unknown_mime_types"] = metadata_value(dict(report.unknown_mime_types.most_common(20)))
    if outside.total:
        meta["unpartitioned"] = metadata_value(
            {
                "created_at_null": outside.undated,
                "before_first_partition": outside.before_start,
                "after_last_partition": outside.after_end,
                "media_ids": outside.sample_ids,
            }
        )
    shown = [o for o in report.outcomes if o.status in (*ARCHIVED, PLANNED)][:PREVIEW_ROWS]
    if shown:
        meta["preview"] = markdown_table(
            ["media_id", "status", "key", "bytes"],
            [(o.row.media_id, o.status, o.key, o.size) for o in shown],
        )
    return meta
