"""The inventory domain's Definitions, merged by the top-level definitions module."""

import dagster as dg

from .assets import b2_inventory, d1_media_assets
from .checks import every_inventory_object_in_d1, no_stale_media_assets
from .schedules import b2_to_d1_daily, b2_to_d1_job

defs = dg.Definitions(
    assets=[b2_inventory, d1_media_assets],
    asset_checks=[every_inventory_object_in_d1, no_stale_media_assets],
    jobs=[b2_to_d1_job],
    schedules=[b2_to_d1_daily],
)
