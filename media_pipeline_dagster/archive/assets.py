"""The archive's sources (external) and ``post_media_archive`` (S3 objects + post_media.archive_url)."""

import dagster as dg

from ..kernel.metadata import markdown_table, metadata_values
from ..resources.archive import MediaCacheResource, PostMediaDatabaseResource
from ..resources.bucket import Bucket
from . import queries
from .config import ArchiveConfig
from .locate import MediaCache
from .metadata import LISTED, build_metadata
from .partitions import month_bounds, partitioned_span, post_media_months
from .stats import archive_statistics
from .upload import (
    FAILED,
    INVALID,
    MISMATCH,
    MISSING,
    REFUSED,
    ArchiveOptions,
    ArchiveReport,
    ArchiveTargetError,
    archive_rows,
)

post_media_source = dg.AssetSpec(
    "post_media",
    description="The social-tui post_media table (ARCHIVE_DATABASE_URL): one row per cached image, video or document.",
    group_name="archive_sources",
    kinds={"postgres"},
)
media_cache_source = dg.AssetSpec(
    "media_cache",
    description="The local media cache (MEDIA_CACHE_DIR): images/, videos/, documents/ of <md5>.<ext> files.",
    group_name="archive_sources",
    kinds={"file"},
)

SELECTED_ROWS_ARCHIVED = "selected_rows_archived"


@dg.asset(
    partitions_def=post_media_months,
    deps=[post_media_source, media_cache_source],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="archive",
    kinds={"s3", "postgres"},
    pool="s3_archive",
    check_specs=[
        dg.AssetCheckSpec(
            SELECTED_ROWS_ARCHIVED,
            asset="post_media_archive",
            description="Every row the run selected now has its archive_url; lists the rows left behind and why.",
        )
    ],
)
def post_media_archive(
    context: dg.AssetExecutionContext,
    config: ArchiveConfig,
    post_media_db: PostMediaDatabaseResource,
    media_cache: MediaCacheResource,
    archive_bucket: Bucket,
) -> dg.MaterializeResult:
    """Cached social media of a month (by post_media.created_at) copied to the S3 archive under
    cache/YYYY/MM/<md5>.<ext>, and post_media.archive_url set, so the media outlive the local cache."""
    start, end = month_bounds(context.partition_keys)
    span = partitioned_span()
    engine = post_media_db.engine
    with engine.connect() as conn:
        rows = queries.rows_between(
            conn, start, end, include_archived=config.force, limit=config.limit
        )
        if config.include_unpartitioned and (config.limit is None or len(rows) < config.limit):
            rest = None if config.limit is None else config.limit - len(rows)
            rows += queries.rows_outside(conn, *span, include_archived=config.force, limit=rest)
    context.log.info(
        f"{len(rows)} rows of {start:%Y-%m} .. {end:%Y-%m} (exclusive) to archive to {archive_bucket.describe()}"
    )
    options = ArchiveOptions(
        dry_run=config.dry_run,
        batch_size=config.batch_size,
        concurrency=config.concurrency,
        delete_local_after_upload=config.delete_local_after_upload,
    )
    try:
        report = archive_rows(
            engine, rows, MediaCache(media_cache.root()), archive_bucket, options, log=context.log
        )
    except ArchiveTargetError as exc:
        raise dg.Failure(description=str(exc)) from None
    with engine.connect() as conn:
        stats = archive_statistics(conn)
        outside = queries.unpartitioned(conn, *span)
    if outside.total:
        context.log.warning(
            f"{outside.total} unarchived rows are in no monthly partition (created_at NULL: {outside.undated}); "
            "run with include_unpartitioned to archive them"
        )
    metadata = build_metadata(
        report,
        stats,
        outside,
        target=archive_bucket.describe(),
        database=post_media_db.display_url,
        dry_run=config.dry_run,
    )
    return dg.MaterializeResult(
        metadata=metadata, check_results=[_selected_rows_check(report, config.dry_run)]
    )


def _selected_rows_check(report: ArchiveReport, dry_run: bool) -> dg.AssetCheckResult:
    left = report.with_status(MISSING, MISMATCH, REFUSED, INVALID, FAILED)
    return dg.AssetCheckResult(
        check_name=SELECTED_ROWS_ARCHIVED,
        passed=not left,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata_values(
            {
                "dry_run": dry_run,
                "rows_selected": len(report.outcomes),
                "rows_left_without_archive_url": len(left),
                "rows": markdown_table(
                    ["media_id", "status", "reason"],
                    [(o.row.media_id, o.status, o.reason) for o in left[:LISTED]],
                ),
            }
        ),
    )
