"""Automation shared by the domains' sensors: one run per campaign over its date range."""

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from .partitions import CAMPAIGNS, campaigns_partitions, partition_key


def campaign_runs(
    context: dg.SensorEvaluationContext,
    ranges: dict[str, tuple[date, date]],
    run_key: Callable[[str], str],
    cursor: str,
    tags: Callable[[str], dict[str, str]] = lambda slug: {},
    run_config: Callable[[str], dict[str, Any]] = lambda slug: {},
    asset_events: Sequence[Any] = (),
    asset: dg.AssetKey | None = None,
) -> dg.SensorResult:
    """One run per campaign over its date range, adding campaigns the instance does not know.

    ``asset`` is stored as the run's asset selection, which the UI shows as the run's target
    (without it a sensor's run lists no asset)."""
    known = set(context.instance.get_dynamic_partitions(CAMPAIGNS))
    new_campaigns = sorted(set(ranges) - known)
    run_requests = [
        dg.RunRequest(
            run_key=run_key(slug),
            tags={
                ASSET_PARTITION_RANGE_START_TAG: str(partition_key(slug, lo)),
                ASSET_PARTITION_RANGE_END_TAG: str(partition_key(slug, hi)),
                **tags(slug),
            },
            run_config=run_config(slug),
            asset_selection=[asset] if asset else None,
        )
        for slug, (lo, hi) in sorted(ranges.items())
    ]
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[campaigns_partitions.build_add_request(new_campaigns)]
        if new_campaigns
        else [],
        cursor=cursor,
        asset_events=list(asset_events),
    )
