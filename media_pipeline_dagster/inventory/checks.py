"""D1 holds every object of the latest inventory: its media_uid is in media_assets."""

from dataclasses import dataclass

import dagster as dg

from ..resources.d1 import D1Connection, D1Error, D1Resource
from ..resources.object_store import ObjectStoreResource
from . import snapshot as snapshots
from .collect import DEFAULT_SNAPSHOT_PREFIX
from .metadata import md_table
from .schema import table_columns
from .snapshot import Snapshot
from .statements import AssetRow, asset_rows
from .sync import DEFAULT_READ_PAGE, read_known

EVERY_OBJECT_IN_D1 = "every_inventory_object_in_d1"
MISSING_PREVIEW = 20


@dataclass(frozen=True)
class CoverageCheck:
    checked: int
    missing: list[AssetRow]
    table_exists: bool

    @property
    def passed(self) -> bool:
        return self.table_exists and not self.missing


def check_coverage(db: D1Connection, snapshot: Snapshot, page_size: int = DEFAULT_READ_PAGE) -> CoverageCheck:
    rows = asset_rows(snapshot.objects)
    if not table_columns(db):
        return CoverageCheck(len(rows), rows, table_exists=False)
    known = read_known(db, page_size=page_size)
    return CoverageCheck(len(rows), [r for r in rows if r.media_uid not in known], table_exists=True)


@dg.asset_check(
    asset="d1_media_assets",
    name=EVERY_OBJECT_IN_D1,
    description="Every object of the latest b2_inventory snapshot has its media_uid in D1 media_assets.",
    blocking=False,
)
def every_inventory_object_in_d1(object_store: ObjectStoreResource, d1: D1Resource) -> dg.AssetCheckResult:
    key = snapshots.latest_key(object_store, DEFAULT_SNAPSHOT_PREFIX)
    if key is None:
        return dg.AssetCheckResult(passed=False, description="no inventory snapshot yet: materialize b2_inventory.")
    snap = snapshots.read(object_store, key)
    try:
        with d1.connect() as db:
            outcome = check_coverage(db, snap)
            requests = db.requests
    except D1Error as exc:
        return dg.AssetCheckResult(passed=False, description=f"could not read D1: {exc}")
    return dg.AssetCheckResult(
        passed=outcome.passed,
        description=None if outcome.table_exists else "media_assets does not exist in D1 yet.",
        metadata={
            "snapshot_key": key,
            "objects_checked": dg.MetadataValue.int(outcome.checked),
            "missing": dg.MetadataValue.int(len(outcome.missing)),
            "api_requests": dg.MetadataValue.int(requests),
            "missing_preview": dg.MetadataValue.md(md_table(
                ["media_uid", "b2_key", "b2_file_id"],
                [(r.media_uid, r.b2_key, r.b2_file_id) for r in outcome.missing[:MISSING_PREVIEW]],
            )),
        },
    )
