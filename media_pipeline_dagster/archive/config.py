"""Run configuration: the old archive scripts' flags as Launchpad fields."""

import dagster as dg
from pydantic import Field

from ..kernel.run_config import Concurrency, DryRun, Force, Limit


class ArchiveConfig(DryRun, Limit, Force, Concurrency):
    """``post_media_archive`` (the old upload_to_s3.py)."""

    dry_run: bool = Field(
        default=False,
        description="Locate and verify files, report the keys; no uploads, no database writes.",
    )
    limit: int | None = Field(
        default=None,
        ge=0,
        description="Consider at most this many rows in this run (oldest first).",
    )
    batch_size: int = Field(
        default=50,
        ge=1,
        le=5000,
        description="Rows per batch; archive_url is written once per batch.",
    )
    force: bool = Field(
        default=False,
        description="Also rows that already have an archive_url: objects missing or different in the bucket are "
        "uploaded again and archive_url rewritten. Verified objects are never uploaded twice.",
    )
    concurrency: int = Field(
        default=8, ge=1, le=64, description="Files hashed and uploaded at once."
    )
    delete_local_after_upload: bool = Field(
        default=False,
        description="Delete a cached file once its object is verified in the bucket (HEAD: same size and MD5) and no "
        "unarchived row needs it any more.",
    )
    include_unpartitioned: bool = Field(
        default=False,
        description="Also archive the unarchived rows no monthly partition covers: created_at NULL (key "
        "cache/undated/<md5>.<ext>) or outside the partitions' range (their own month's key). Set it on one run, "
        "not on every month of a backfill.",
    )


class VerifyArchiveConfig(Limit, Concurrency):
    """``archived_objects_exist`` (the old verify_s3_archive.py --verify-s3)."""

    limit: int | None = Field(
        default=1000, ge=1, description="HEAD at most this many archived rows; empty: all of them."
    )
    sample: bool = Field(
        default=True,
        description="Pick the rows at random (else the oldest) when there are more than limit.",
    )
    concurrency: int = Field(default=16, ge=1, le=64, description="HEAD requests at once.")


class SetupArchiveBucketConfig(dg.Config):
    """``setup_archive_bucket`` (the old setup_s3_bucket.py)."""

    region: str | None = Field(
        default=None,
        description="Region to create the bucket in; empty: the resource's (ARCHIVE_S3_REGION).",
    )
    check_only: bool = Field(
        default=False,
        description="Only report; fail if the bucket is missing or not set up as below.",
    )
    enable_versioning: bool = Field(
        default=False, description="Turn versioning on (it is never turned off by this job)."
    )
    glacier_after_days: int = Field(
        default=90,
        ge=1,
        description="Lifecycle rule: objects under cache/ move to Glacier after this many days.",
    )
    write_test: bool = Field(default=True, description="Put, HEAD and delete a small test object.")
