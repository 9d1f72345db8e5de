"""Monthly partitions of ``post_media_archive`` by ``post_media.created_at`` (UTC).

Keys are the first day of the month, e.g. ``2025-12-01``. They start in January 2020:
the social cache is younger than that, and the 80-odd empty months cost nothing. Rows
dated earlier, later than the current month, or not at all (created_at NULL) fall in no
partition; they are counted in every materialization and by the ``unarchived_rows``
check, and archived on request (``include_unpartitioned``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import dagster as dg

ARCHIVE_START = "2020-01-01"

post_media_months = dg.MonthlyPartitionsDefinition(
    start_date=ARCHIVE_START, timezone="UTC", end_offset=1
)


def month_start(key: str) -> datetime:
    """'2025-12-01' -> datetime(2025, 12, 1) (naive, UTC)."""
    try:
        day = datetime.strptime(key, "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"partition key {key!r} is not a month start like 2025-12-01") from None
    return day.replace(day=1)


def next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def month_bounds(keys: Sequence[str]) -> tuple[datetime, datetime]:
    """[first day of the earliest month, first day after the latest) of these keys."""
    starts = sorted(month_start(k) for k in keys)
    return starts[0], next_month(starts[-1])


def partitioned_span(current_time: datetime | None = None) -> tuple[datetime, datetime]:
    """What the partitions cover right now: ARCHIVE_START up to the end of the current month."""
    keys = post_media_months.get_partition_keys(current_time=current_time)
    return month_bounds([keys[0], keys[-1]])
