"""Partitions of the call audio: campaign (dynamic, slug) × call date (UTC day of ``started``).

Keys read ``<campaign-slug>|<YYYY-MM-DD>``. Daily keys start at CALL_DATE_START, which
keeps campaign × day well under Dagster's 100,000 partitions for ~60 campaigns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg

CALL_DATE_START = "2024-01-01"
CAMPAIGN_DIMENSION = "campaign"
DATE_DIMENSION = "date"

CAMPAIGNS = "campaigns"
campaigns_partitions = dg.DynamicPartitionsDefinition(name=CAMPAIGNS)
call_date_partitions = dg.DailyPartitionsDefinition(
    start_date=CALL_DATE_START, timezone="UTC", end_offset=1
)

call_partitions = dg.MultiPartitionsDefinition(
    {CAMPAIGN_DIMENSION: campaigns_partitions, DATE_DIMENSION: call_date_partitions}
)


def partition_key(campaign_slug: str, call_date: date) -> str:
    return dg.MultiPartitionKey(
        {CAMPAIGN_DIMENSION: campaign_slug, DATE_DIMENSION: call_date.isoformat()}
    )


def dates_by_campaign(partition_keys: Iterable[str]) -> dict[str, set[date]]:
    """'acme|2024-05-01' keys grouped as {'acme': {date(2024, 5, 1)}}."""
    grouped: dict[str, set[date]] = defaultdict(set)
    for key in partition_keys:
        slug, _, day = str(key).partition("|")
        grouped[slug].add(date.fromisoformat(day))
    return dict(grouped)


def utc_bounds(days: Iterable[date]) -> tuple[datetime, datetime]:
    """[start of the first day, start of the day after the last) in UTC."""
    ordered = sorted(days)
    start = datetime.combine(ordered[0], time.min, tzinfo=UTC)
    end = datetime.combine(ordered[-1] + timedelta(days=1), time.min, tzinfo=UTC)
    return start, end


def in_partition_range(call_date: date) -> bool:
    return call_date >= date.fromisoformat(CALL_DATE_START)
