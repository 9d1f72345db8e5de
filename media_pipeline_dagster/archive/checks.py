"""Standalone checks on the archive (the old verify_s3_archive.py --verify-s3 and --check-local)."""

import dagster as dg

from ..resources.archive import MediaCacheResource, PostMediaDatabaseResource
from ..resources.bucket import Bucket
from .assets import post_media_archive
from .config import VerifyArchiveConfig
from .locate import MediaCache
from .metadata import LISTED
from .partitions import partitioned_span
from .verify import check_local_files, verify_archived_objects


@dg.asset_check(
    asset=post_media_archive,
    description="Every archived post_media row's object exists in the bucket (HEAD; a random sample of `limit` "
    "rows on large archives) with the row's MD5.",
)
def archived_objects_exist(
    config: VerifyArchiveConfig,
    post_media_db: PostMediaDatabaseResource,
    archive_bucket: Bucket,
) -> dg.AssetCheckResult:
    result = verify_archived_objects(
        post_media_db.engine,
        archive_bucket,
        limit=config.limit,
        sample=config.sample,
        concurrency=config.concurrency,
    )
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows_archived": result.rows_archived,
            "rows_checked": result.rows_checked,
            "sampled": result.sampled,
            "missing": dg.MetadataValue.int(len(result.missing)),
            "missing_objects": dg.MetadataValue.json(
                [{"media_id": m, "archive_url": u} for m, u in result.missing[:LISTED]]
            ),
            "md5_differs": dg.MetadataValue.json(
                [
                    {"media_id": media_id, "archive_url": url, "md5_sum": md5, "in_bucket": stored}
                    for media_id, url, md5, stored in result.differs[:LISTED]
                ]
            ),
            "not_in_this_bucket": dg.MetadataValue.int(len(result.elsewhere)),
            "target": archive_bucket.describe(),
        },
    )


@dg.asset_check(
    asset=post_media_archive,
    description="Rows still to archive have their file in the media cache and a created_at a monthly partition "
    "covers; lists those that do not (they would never be archived).",
)
def unarchived_rows_archivable(
    post_media_db: PostMediaDatabaseResource,
    media_cache: MediaCacheResource,
) -> dg.AssetCheckResult:
    report = check_local_files(
        post_media_db.engine, MediaCache(media_cache.root()), partitioned_span()
    )
    outside = report.unpartitioned
    return dg.AssetCheckResult(
        passed=report.passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rows": report.rows,
            "unarchived_without_local_file": dg.MetadataValue.int(
                len(report.unarchived_without_file)
            ),
            "missing_local_files": dg.MetadataValue.json(
                [
                    {"media_id": media_id, "media_type": media_type, "md5_sum": md5}
                    for media_id, media_type, md5 in report.unarchived_without_file[:LISTED]
                ]
            ),
            "archived_without_local_file": dg.MetadataValue.int(report.archived_without_file),
            "unpartitioned_unarchived_rows": dg.MetadataValue.int(outside.total),
            "unpartitioned": dg.MetadataValue.json(
                {
                    "created_at_null": outside.undated,
                    "before_first_partition": outside.before_start,
                    "after_last_partition": outside.after_end,
                    "media_ids": outside.sample_ids,
                }
            ),
        },
    )
