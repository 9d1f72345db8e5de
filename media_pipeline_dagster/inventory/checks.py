"""D1 holds every object of the latest inventory (its media_uid is in media_assets), and no
row's object has been missing from the bucket for long (stale), which is reported, never deleted."""

from dataclasses import dataclass

import dagster as dg

from ..kernel.markdown import md_table
from ..resources.bucket import Bucket
from ..resources.d1 import D1Connection, D1Error, D1Resource, Statement
from ..resources.inventory_options import InventoryOptionsResource
from . import snapshot as snapshots
from .collect import DEFAULT_SNAPSHOT_PREFIX
from .schema import table_columns
from .snapshot import Snapshot
from .statements import LAST_SEEN, TABLE, AssetRow, asset_rows
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


def check_coverage(
    db: D1Connection, snapshot: Snapshot, page_size: int = DEFAULT_READ_PAGE
) -> CoverageCheck:
    rows = asset_rows(snapshot.objects)
    if not table_columns(db):
        return CoverageCheck(len(rows), rows, table_exists=False)
    known = read_known(db, page_size=page_size)
    return CoverageCheck(
        len(rows), [r for r in rows if r.media_uid not in known], table_exists=True
    )


@dg.asset_check(
    asset="d1_media_assets",
    name=EVERY_OBJECT_IN_D1,
    description="Every object of the latest b2_inventory snapshot has its media_uid in D1 media_assets.",
    blocking=False,
)
def every_inventory_object_in_d1(object_store: Bucket, d1: D1Resource) -> dg.AssetCheckResult:
    key = snapshots.latest_key(object_store, DEFAULT_SNAPSHOT_PREFIX)
    if key is None:
        return dg.AssetCheckResult(
            passed=False, description="no inventory snapshot yet: materialize b2_inventory."
        )
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
            "missing_preview": dg.MetadataValue.md(
                md_table(
                    ["media_uid", "b2_key", "b2_file_id"],
                    [
                        (r.media_uid, r.b2_key, r.b2_file_id)
                        for r in outcome.missing[:MISSING_PREVIEW]
                    ],
                )
            ),
        },
    )


STALE_MEDIA_ASSETS = "no_stale_media_assets"
STALE_PREVIEW = 20


@dataclass(frozen=True)
class StaleReport:
    tracked: bool
    latest_seen: str | None = None  # the newest last_seen_at: the latest tracked inventory
    cutoff: str | None = None
    stale: int = 0  # last seen before the cutoff
    never_seen: int = 0  # NULL: not in any inventory since tracking began
    rows: int = 0
    preview: tuple = ()


def find_stale(db: D1Connection, after_days: int) -> StaleReport:
    """Rows whose object the inventory has not seen for ``after_days`` days before its latest
    tracked run (not before today: a paused schedule does not make the bucket stale). Read only."""
    if LAST_SEEN not in table_columns(db):
        return StaleReport(tracked=False)
    latest = f"(SELECT max({LAST_SEEN}) FROM {TABLE})"
    older = f"{LAST_SEEN} < datetime({latest}, ?)"
    shift = (f"-{int(after_days)} days",)
    bounds, counts, preview = db.run(
        [
            Statement(f"SELECT {latest}, datetime({latest}, ?)", shift),
            Statement(
                f"SELECT count(*), coalesce(sum({older}), 0), coalesce(sum({LAST_SEEN} IS NULL), 0) FROM {TABLE}",
                shift,
            ),
            Statement(
                f"SELECT media_uid, b2_key, {LAST_SEEN} FROM {TABLE} WHERE {LAST_SEEN} IS NULL OR {older} "
                f"ORDER BY {LAST_SEEN} IS NOT NULL, {LAST_SEEN}, id LIMIT {STALE_PREVIEW}",
                shift,
            ),
        ]
    )
    ((latest_seen, cutoff),) = bounds.rows
    ((rows, stale, never),) = counts.rows
    if latest_seen is None:  # tracking is on but no run has set it yet
        return StaleReport(tracked=True, rows=int(rows))
    return StaleReport(
        True, latest_seen, cutoff, int(stale), int(never), int(rows), tuple(preview.rows)
    )


@dg.asset_check(
    asset="d1_media_assets",
    name=STALE_MEDIA_ASSETS,
    description="Rows of D1 media_assets whose object the inventory has not seen for D1_STALE_AFTER_DAYS days "
    "(last_seen_at, kept with D1_TRACK_LAST_SEEN). Reports them; never deletes anything.",
    blocking=False,
)
def no_stale_media_assets(
    d1: D1Resource, inventory_options: InventoryOptionsResource
) -> dg.AssetCheckResult:
    days = inventory_options.stale_after_days
    warn = dg.AssetCheckSeverity.WARN
    try:
        with d1.connect() as db:
            found = find_stale(db, days)
    except D1Error as exc:
        return dg.AssetCheckResult(
            passed=False, severity=warn, description=f"could not read D1: {exc}"
        )
    if not found.tracked or found.latest_seen is None:
        return dg.AssetCheckResult(
            passed=False,
            severity=warn,
            metadata={"rows": dg.MetadataValue.int(found.rows)},
            description="last_seen_at is not kept yet, so staleness cannot be told: set D1_TRACK_LAST_SEEN=true "
            "(or track_last_seen: true in the run) and materialize d1_media_assets.",
        )
    description = None
    if found.stale or found.never_seen:
        description = (
            f"{found.stale} row(s) not seen in the bucket for {days}+ days (last_seen_at before {found.cutoff}), "
            f"{found.never_seen} never seen since tracking began. Nothing was deleted."
        )
    return dg.AssetCheckResult(
        passed=not (found.stale or found.never_seen),
        severity=warn,
        description=description,
        metadata={
            "stale_after_days": dg.MetadataValue.int(days),
            "latest_seen": dg.MetadataValue.text(found.latest_seen),
            "cutoff": dg.MetadataValue.text(found.cutoff or ""),
            "rows": dg.MetadataValue.int(found.rows),
            "stale": dg.MetadataValue.int(found.stale),
            "never_seen_since_tracking": dg.MetadataValue.int(found.never_seen),
            "stale_preview": dg.MetadataValue.md(
                md_table(["media_uid", "b2_key", "last_seen_at"], found.preview)
            ),
        },
    )
