"""Run configuration of ``audio_files`` (the downloader's flags, as Launchpad fields) and
the settings of the call sources."""

import json
from collections.abc import Mapping
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
from pydantic import Field

from ..kernel.run_config import (
    Concurrency,
    DryRun,
    Limit,
    RenamedFields,
    RetryFailed,
    deprecated_name_of,
)
from .keys import slugify


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


class CallSourcesResource(dg.ConfigurableResource):
    """How call sources are read: the zone of timestamps written without an offset, and
    the company each campaign belongs to (MEDIA_PIPELINE_CALL_TIMEZONE,
    MEDIA_PIPELINE_CAMPAIGN_COMPANIES)."""

    timezone: str = "UTC"
    campaign_companies: dict[str, str] = Field(
        default={},
        description="campaign name (or its slug) -> company; a CSV 'company' column wins.",
    )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def company_for(self, campaign_name: str) -> str | None:
        by_slug = {slugify(name): company for name, company in self.campaign_companies.items()}
        return by_slug.get(slugify(campaign_name))


def call_sources_from_env(env: Mapping[str, str]) -> CallSourcesResource:
    """MEDIA_PIPELINE_CALL_TIMEZONE (IANA zone of timestamps without an offset, default UTC) and
    MEDIA_PIPELINE_CAMPAIGN_COMPANIES (a JSON object: campaign name -> company), checked:
    a ValueError names the variable and what is wrong with it."""
    zone = (env.get("MEDIA_PIPELINE_CALL_TIMEZONE") or "").strip() or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"MEDIA_PIPELINE_CALL_TIMEZONE={zone!r} is not an IANA time zone; use e.g. UTC or Europe/Berlin"
        ) from None
    text = (env.get("MEDIA_PIPELINE_CAMPAIGN_COMPANIES") or "").strip()
    example = 'e.g. {"Dexter Outbound": "Dexter GmbH", "Dexter Süd": "Dexter GmbH"}'
    try:
        companies = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"MEDIA_PIPELINE_CAMPAIGN_COMPANIES is not valid JSON ({exc}); {example}"
        ) from None
    if not isinstance(companies, dict) or not all(
        isinstance(v, str) and v.strip() for v in companies.values()
    ):
        raise ValueError(
            f"MEDIA_PIPELINE_CAMPAIGN_COMPANIES must map campaign names to company names; {example}"
        )
    by_slug: dict[str, tuple[str, str]] = {}
    for name, company in companies.items():
        first = by_slug.setdefault(slugify(name), (name, company))
        if first[1] != company:
            raise ValueError(
                f"MEDIA_PIPELINE_CAMPAIGN_COMPANIES names {first[0]!r} and {name!r}, which are the same campaign "
                f"({slugify(name)}), with different companies ({first[1]!r}, {company!r})"
            )
    return CallSourcesResource(
        timezone=zone, campaign_companies={k: v.strip() for k, v in companies.items()}
    )
