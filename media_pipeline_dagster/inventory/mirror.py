"""For the demo: mirror the (local) bucket into the (local) D1 file and say what happened."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from ..resources.inventory_options import InventoryOptionsResource
from .assets import b2_inventory, d1_media_assets
from .checks import every_inventory_object_in_d1, no_stale_media_assets

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class MirrorSummary:
    success: bool
    lines: list[str]

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _value(meta: Mapping, name: str) -> object:
    item = meta.get(name)
    return getattr(item, "value", item)


def mirror_bucket_to_d1(
    resources: Mapping[str, Any],
    *,
    instance: dg.DagsterInstance | None = None,
    echo: Callable[[str], None] | None = print,
) -> MirrorSummary:
    """Materialize b2_inventory and d1_media_assets (and their checks) with ``resources``
    (``object_store``, ``d1`` and, optionally, ``inventory_options``); print and return a few
    lines: first what the D1 file is, then the figures."""
    options = resources.get("inventory_options") or InventoryOptionsResource()
    # Staleness means something only where last_seen_at is kept.
    checks = [every_inventory_object_in_d1] + (
        [no_stale_media_assets] if options.track_last_seen else []
    )
    # The asset job, not dg.materialize's ephemeral one: the UI then shows the run's target assets.
    job = dg.Definitions(
        assets=[b2_inventory, d1_media_assets],
        asset_checks=checks,
        resources={
            "object_store": resources["object_store"],
            "d1": resources["d1"],
            "inventory_options": options,
        },
    ).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=[b2_inventory.key, d1_media_assets.key],
        raise_on_error=False,
        run_config=QUIET,
    )
    lines: list[str] = [f"D1 is {resources['d1'].explain()}"]
    for event in result.asset_materializations_for_node("b2_inventory"):
        m = event.metadata
        lines.append(
            f"inventory: {_value(m, 'objects')} objects, {_value(m, 'total_bytes')} bytes "
            f"({_value(m, 'added')} added, {_value(m, 'removed')} removed) -> {_value(m, 'snapshot_key')}"
        )
    for event in result.asset_materializations_for_node("d1_media_assets"):
        m = event.metadata
        lines.append(
            f"d1 {_value(m, 'target')}: {_value(m, 'discovered')} discovered, {_value(m, 'new')} new, "
            f"{_value(m, 'already_known')} already known, {_value(m, 'api_requests')} requests, "
            f"{_value(m, 'rows_written')} rows written"
        )
    for check in result.get_asset_check_evaluations():
        outcome = "passed" if check.passed else f"FAILED ({check.severity.value})"
        lines.append(
            f"check {check.check_name}: {outcome}"
            + (f": {check.description}" if not check.passed and check.description else "")
        )
    for failure in result.get_step_failure_events():
        lines.append(f"FAILED {failure.step_key}: {_error_text(failure)}")
    if echo:
        for line in lines:
            echo(line)
    return MirrorSummary(result.success, lines)


def _error_text(failure: dg.DagsterEvent) -> str:
    error = failure.step_failure_data.error
    return error.message.strip() if error else "(no error recorded)"
