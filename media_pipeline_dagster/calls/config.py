"""Run configuration of ``audio_files`` (the downloader's flags, as Launchpad fields) and
the settings of the call sources."""

from typing import ClassVar

from pydantic import Field

from ..kernel.run_config import (
    Concurrency,
    DryRun,
    Limit,
    RenamedFields,
    RetryFailed,
    deprecated_name_of,
)


class AudioIngestConfig(DryRun, Limit, Concurrency, RetryFailed, RenamedFields):
    RENAMED: ClassVar[dict[str, str]] = {"retry_permanent_failures": "retry_failed"}

    dry_run: bool = Field(
        default=False,
        description="Plan and report only: no downloads, no uploads, no catalog writes.",
    )
    limit: int | None = Field(
        default=None, ge=0, description="Ingest at most this many new files in this run."
    )
    b2_prefix: str | None = Field(
        default=None,
        description="Key prefix in the bucket, e.g. 'dexter-audio'. Defaults to MEDIA_PIPELINE_B2_PREFIX (else none).",
    )
    concurrency: int = Field(default=32, ge=1, le=256, description="Files transferred at once.")
    keep_local: bool = Field(
        default=False, description="Also keep a local copy under local_dir and record local_path."
    )
    local_dir: str = Field(
        default="audio_tmp",
        description="Where keep_local copies go (relative to the working directory).",
    )
    retry_failed: bool = Field(
        default=False, description="Try again URLs that failed permanently before (404, not audio)."
    )
    csv_files: list[str] | None = Field(
        default=None,
        description="Read only these inbox files (names, as the sensor sets them). Unset: every CSV in the inbox.",
    )
    retry_permanent_failures: bool | None = Field(
        default=None, description=deprecated_name_of("retry_failed")
    )
