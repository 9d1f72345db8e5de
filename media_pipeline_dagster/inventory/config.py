"""Run configuration of the inventory assets: the old inventory scripts' switches, as Launchpad fields."""

import dagster as dg
from pydantic import Field

from ..kernel.run_config import DryRun
from .collect import DEFAULT_SNAPSHOT_PREFIX
from .sync import DEFAULT_READ_PAGE


class InventoryConfig(dg.Config):
    snapshot_prefix: str = Field(
        default=DEFAULT_SNAPSHOT_PREFIX,
        description="Where the daily snapshot JSON goes in the bucket; objects under it are not inventoried.",
    )
    page_size: int = Field(
        default=1000, ge=1, le=1000, description="Objects per listing request (S3 allows 1,000)."
    )
    verbose: bool = Field(default=False, description="Log the added and removed keys.")


class D1SyncConfig(DryRun):
    dry_run: bool = Field(
        default=False,
        description="Read D1 and show the SQL and counts it would send; write nothing.",
    )
    verbose: bool = Field(
        default=False, description="Log every request: statements, bytes, rows written."
    )
    track_last_seen: bool | None = Field(
        default=None,
        description="Add media_assets.last_seen_at (sql/d1/0011) and set it, once per UTC day, on every object seen. "
        "Empty: the deployment's D1_TRACK_LAST_SEEN.",
    )
    enrich_metadata: bool | None = Field(
        default=None,
        description="Add content_type and user_metadata (sql/d1/0012) to rows lacking them: one HEAD per object, "
        "at most enrich_max_objects per run. Empty: the deployment's D1_ENRICH_METADATA.",
    )
    enrich_max_objects: int | None = Field(
        default=None,
        ge=1,
        description="HEADs in this run at most. Empty: the deployment's D1_ENRICH_MAX_OBJECTS.",
    )
    snapshot_prefix: str = Field(
        default=DEFAULT_SNAPSHOT_PREFIX, description="Where b2_inventory keeps its snapshots."
    )
    snapshot_key: str | None = Field(
        default=None,
        description="A particular snapshot (e.g. inventory/2025-01-31.json); default: the latest.",
    )
    read_page_size: int = Field(
        default=DEFAULT_READ_PAGE,
        ge=100,
        le=100_000,
        description="media_uids read from D1 per request.",
    )
