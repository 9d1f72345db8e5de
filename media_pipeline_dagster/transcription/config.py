"""Run configuration of ``transcriptions``: the legacy worker's flags, as Launchpad fields."""

from enum import Enum
from typing import ClassVar

from pydantic import Field

from ..kernel.run_config import (
    Concurrency,
    DryRun,
    Force,
    Limit,
    RenamedFields,
    RetryFailed,
    deprecated_name_of,
)


class ProviderChoice(str, Enum):
    openai = "openai"
    local = "local"


class TimestampGranularity(str, Enum):
    none = "none"
    segment = "segment"
    word = "word"


class TranscriptionConfig(DryRun, Limit, Concurrency, RetryFailed, Force, RenamedFields):
    RENAMED: ClassVar[dict[str, str]] = {"max_files": "limit", "retranscribe": "force"}

    provider: ProviderChoice | None = Field(
        default=None,
        description="'openai' or 'local' (faster-whisper); default: the profile's (MEDIA_PIPELINE_TRANSCRIBER).",
    )
    model: str | None = Field(
        default=None,
        description="whisper-1, gpt-4o-transcribe, gpt-4o-mini-transcribe, gpt-4o-transcribe-diarize; "
        "or a local faster-whisper model name (tiny.en, base, small, large-v3-turbo...) or directory.",
    )
    timestamps: TimestampGranularity = Field(
        default=TimestampGranularity.segment,
        description="Timestamp granularity (whisper-1 and local).",
    )
    language: str | None = Field(
        default=None,
        description="Expected language, ISO-639-1, e.g. 'de': sent to OpenAI; locally, audio "
        "in another language fails. Default: MEDIA_PIPELINE_TRANSCRIBE_LANGUAGE, else any.",
    )
    limit: int | None = Field(
        default=None, ge=0, description="Transcribe at most this many files in this run."
    )
    concurrency: int = Field(default=8, ge=1, le=64, description="Files in flight at once.")
    force: bool = Field(
        default=False,
        description="Transcribe again files that already have a completed transcription.",
    )
    retry_failed: bool = Field(
        default=False,
        description="Ignore recorded failures (permanent ones and cooldowns) for this run.",
    )
    dry_run: bool = Field(
        default=False,
        description="List what would be transcribed; no claims, no API calls, no writes.",
    )
    claim_ttl_minutes: float | None = Field(
        default=None, gt=0, description="Claim lifetime; default: the resource's (60)."
    )
    cooldown_minutes: float | None = Field(
        default=None,
        ge=0,
        description="Wait after a transient failure; default: the resource's (60).",
    )
    max_files: int | None = Field(default=None, ge=0, description=deprecated_name_of("limit"))
    retranscribe: bool | None = Field(default=None, description=deprecated_name_of("force"))
