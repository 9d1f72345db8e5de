"""What a materialization of ``post_media_archive`` tells the UI: counts, bytes, statistics, problems."""

from __future__ import annotations

import dagster as dg

from ..kernel.markdown import md_table
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
) -> dict[str, object]:
    seconds = report.seconds
    meta: dict[str, object] = {
        "dry_run": dry_run,
        "target": target,
        "post_media_database": database,
        "rows_selected": dg.MetadataValue.int(len(report.outcomes)),
        "uploaded": dg.MetadataValue.int(report.count(UPLOADED)),
        "already_in_bucket": dg.MetadataValue.int(report.count(PRESENT)),
        "archive_url_written": dg.MetadataValue.int(report.rows_updated),
        "missing_local_files": dg.MetadataValue.int(report.count(MISSING)),
        "md5_mismatches": dg.MetadataValue.int(report.count(MISMATCH)),
        "refused_paths": dg.MetadataValue.int(len(report.refused_paths)),
        "invalid_rows": dg.MetadataValue.int(report.count(INVALID)),
        "upload_failures": dg.MetadataValue.int(report.count(FAILED)),
        "objects_uploaded": dg.MetadataValue.int(report.objects_uploaded),
        "bytes_uploaded": dg.MetadataValue.int(report.bytes_uploaded),
        "local_files_deleted": dg.MetadataValue.int(len(report.deleted_local)),
        "seconds": dg.MetadataValue.float(round(seconds, 3)),
        "mib_per_second": dg.MetadataValue.float(
            round(report.bytes_uploaded / 2**20 / seconds, 2) if seconds else 0.0
        ),
        "statistics": statistics_table(stats),
        "archived_pct": dg.MetadataValue.float(stats.overall.archived_pct),
        "unpartitioned_unarchived_rows": dg.MetadataValue.int(outside.total),
    }
    if dry_run:
        meta["planned"] = dg.MetadataValue.int(report.count(PLANNED))
    missing = report.with_status(MISSING)
    if missing:
        meta["missing_local_file_ids"] = dg.MetadataValue.json(
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
        meta["problems"] = dg.MetadataValue.md(
            md_table(
                ["media_id", "status", "reason"],
                [(o.row.media_id, o.status, o.reason) for o in problems[:LISTED]],
            )
        )
    if report.refused_paths:
        meta["refused_path_ids"] = dg.MetadataValue.json(
            [{"media_id": m, "path": p} for m, p in report.refused_paths[:LISTED]]
        )
    if report.unknown_mime_types:
        meta["unknown_mime_types"] = dg.MetadataValue.json(
            dict(report.unknown_mime_types.most_common(20))
        )
    if outside.total:
        meta["unpartitioned"] = dg.MetadataValue.json(
            {
                "created_at_null": outside.undated,
                "before_first_partition": outside.before_start,
                "after_last_partition": outside.after_end,
                "media_ids": outside.sample_ids,
            }
        )
    shown = [o for o in report.outcomes if o.status in (*ARCHIVED, PLANNED)][:PREVIEW_ROWS]
    if shown:
        meta["preview"] = dg.MetadataValue.md(
            md_table(
                ["media_id", "status", "key", "bytes"],
                [(o.row.media_id, o.status, o.key, o.size) for o in shown],
            )
        )
    return meta
