"""The deployment's choices for the D1 mirror (settings.py fills them from the environment).

A run can override the switches in its run configuration (``D1SyncConfig``); the daily
schedule runs with these.
"""

import dagster as dg
from pydantic import Field


class InventoryOptionsResource(dg.ConfigurableResource):
    track_last_seen: bool = Field(
        default=False,
        description="D1_TRACK_LAST_SEEN: keep media_assets.last_seen_at (sql/d1/0011), once per row and UTC day.",
    )
    enrich_metadata: bool = Field(
        default=False,
        description="D1_ENRICH_METADATA: add each object's Content-Type and user metadata (sql/d1/0012), one HEAD per object, once.",
    )
    enrich_concurrency: int = Field(
        default=8, ge=1, le=64, description="D1_ENRICH_CONCURRENCY: HEADs in flight at a time."
    )
    enrich_max_objects: int = Field(
        default=10_000,
        ge=1,
        description="D1_ENRICH_MAX_OBJECTS: HEADs per run at most; the rest wait for the next run.",
    )
    stale_after_days: int = Field(
        default=30,
        ge=1,
        description="D1_STALE_AFTER_DAYS: a row whose object was not seen for this long is reported stale.",
    )
