"""The old GitHub Action as a schedule: inventory, then D1, every day at 06:17 UTC."""

import dagster as dg

from .assets import b2_inventory, d1_media_assets

# Also the "Run workflow" button: launch this job (or either asset) by hand in the UI.
b2_to_d1_job = dg.define_asset_job(
    "b2_to_d1_sync",
    selection=dg.AssetSelection.assets(b2_inventory, d1_media_assets),
    description="Snapshot the bucket, then insert its new objects into D1 media_assets (and check coverage).",
)

b2_to_d1_daily = dg.ScheduleDefinition(
    name="b2_to_d1_daily",
    job=b2_to_d1_job,
    cron_schedule="17 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 06:17 UTC, as the old GitHub workflow: b2_inventory, then d1_media_assets.",
)
