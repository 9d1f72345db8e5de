"""How call sources are read (time zone of naive timestamps, campaign -> company), built by
settings from MEDIA_PIPELINE_CALL_TIMEZONE and MEDIA_PIPELINE_CAMPAIGN_COMPANIES."""

import json
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
from pydantic import Field

from ..kernel.keys import slugify


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
