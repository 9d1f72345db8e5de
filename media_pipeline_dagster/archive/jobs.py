"""``setup_archive_bucket``: create and configure the archive bucket once (idempotent; check_only reports)."""

from dataclasses import asdict

import dagster as dg

from ..kernel.metadata import metadata_values
from ..resources.bucket import Bucket, BucketCredentialsError, BucketSetupError, SetupOptions
from .config import SetupArchiveBucketConfig
from .locate import CACHE_PREFIX


@dg.op(
    description="Create the archive bucket in its region if missing, add the Glacier lifecycle rule, "
    "optionally enable versioning, and prove we can write; or, with check_only, only report."
)
def configure_archive_bucket(
    context: dg.OpExecutionContext,
    config: SetupArchiveBucketConfig,
    archive_bucket: Bucket,
) -> dg.Output[dict]:
    options = SetupOptions(
        region=config.region,  # None: the bucket's own region
        lifecycle_prefix=CACHE_PREFIX,
        check_only=config.check_only,
        enable_versioning=config.enable_versioning,
        glacier_after_days=config.glacier_after_days,
        write_test=config.write_test,
    )
    try:
        report = archive_bucket.setup(options)
    except (BucketSetupError, BucketCredentialsError) as exc:
        raise dg.Failure(description=str(exc)) from None
    metadata = metadata_values(
        {
            "target": archive_bucket.describe(),
            "existed": report.existed,
            "created": report.created,
            "region": report.region or "",
            "lifecycle": report.lifecycle,
            "versioning": report.versioning,
            "write_test": report.write_test,
            "changes": dg.MetadataValue.json(report.changes),
            "problems": dg.MetadataValue.json(report.problems),
            "unsupported": dg.MetadataValue.json(report.unsupported),
        }
    )
    for line in report.changes or ["no changes"]:
        context.log.info(f"{archive_bucket.describe()}: {line}")
    if report.unsupported:
        done = "; ".join(report.changes) or "nothing else to change"
        raise dg.Failure(
            description=f"{archive_bucket.describe()} can take the archive but is not set up as asked, because the "
            "store lacks a feature: "
            + "; ".join(report.unsupported)
            + f". Done: {done}; write test: {report.write_test}. Uploads work without it; for Glacier transitions "
            "use AWS S3 (leave ARCHIVE_S3_ENDPOINT_URL empty).",
            metadata=metadata,
        )
    if report.problems:
        raise dg.Failure(
            description=f"{archive_bucket.describe()} is not ready: {'; '.join(report.problems)}. "
            "Run setup_archive_bucket without check_only to set it up.",
            metadata=metadata,
        )
    return dg.Output(asdict(report), metadata=metadata)


@dg.job(
    description="One-time (and repeatable) setup of the S3 archive bucket: the old setup_s3_bucket.py."
)
def setup_archive_bucket():
    configure_archive_bucket()
