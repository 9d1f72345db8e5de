"""The bucket inventory (``b2_inventory``) and its mirror in Cloudflare D1 (``d1_media_assets``)."""

import dagster as dg

from ..resources.bucket import Bucket
from ..resources.d1 import D1Error, D1Resource
from ..resources.inventory_options import InventoryOptionsResource
from . import snapshot as snapshots
from .collect import take_inventory
from .config import D1SyncConfig, InventoryConfig
from .enrich import head_objects, supports_object_metadata
from .listing import InventoryAccessError
from .metadata import inventory_metadata, sql_preview, sync_metadata
from .sync import SyncError, SyncOptions, sync_snapshot

VERBOSE_KEYS = 1000  # keys logged per kind of change; a first inventory may add 100,000


@dg.asset(group_name="inventory", kinds={"s3", "json"}, pool="b2")
def b2_inventory(
    context: dg.AssetExecutionContext, config: InventoryConfig, object_store: Bucket
) -> dg.MaterializeResult:
    """Every object in the B2 bucket (key, size, ETag, file id, last-modified), as one JSON
    snapshot per UTC day under inventory/ in the bucket, with what changed since the last one."""
    try:
        result = take_inventory(
            object_store, prefix=config.snapshot_prefix, page_size=config.page_size
        )
    except (InventoryAccessError, snapshots.SnapshotError) as exc:
        raise dg.Failure(description=str(exc)) from None
    snap, diff = result.snapshot, result.diff
    context.log.info(
        "%d objects, %.1f MiB in %s: %d added, %d removed, %d replaced since %s -> %s",
        snap.count,
        snap.total_bytes / 2**20,
        object_store.describe(),
        len(diff.added),
        len(diff.removed),
        len(diff.replaced),
        result.previous.key if result.previous else "(first snapshot)",
        snap.key,
    )
    if config.verbose:
        for label, keys in (
            ("added", diff.added),
            ("removed", diff.removed),
            ("replaced", diff.replaced),
        ):
            for key in keys[:VERBOSE_KEYS]:
                context.log.info("%s: %s", label, key)
            if len(keys) > VERBOSE_KEYS:
                context.log.info(
                    "... and %d more %s (all of them are in %s)",
                    len(keys) - VERBOSE_KEYS,
                    label,
                    snap.key,
                )
    if result.listing.skipped:
        skipped = result.listing.skipped
        context.log.warning("%d object(s) left out of the snapshot: %s", len(skipped), skipped[:5])
    return dg.MaterializeResult(metadata=inventory_metadata(result, object_store.uri(snap.key)))


@dg.asset(deps=[b2_inventory], group_name="inventory", kinds={"cloudflare", "sqlite"}, pool="d1")
def d1_media_assets(
    context: dg.AssetExecutionContext,
    config: D1SyncConfig,
    object_store: Bucket,
    d1: D1Resource,
    inventory_options: InventoryOptionsResource,
) -> dg.MaterializeResult:
    """Cloudflare D1 media_assets: one row per object of the latest inventory, inserted once
    (INSERT OR IGNORE), so the site can find every media file in B2. Optionally with when each
    object was last seen and its content type and user metadata."""
    try:
        # The token and the database are checked first: a bad setting stops the run before any work.
        db = d1.connect()
    except D1Error as exc:
        raise dg.Failure(description=str(exc)) from None
    with db:
        key = config.snapshot_key or snapshots.latest_key(object_store, config.snapshot_prefix)
        if key is None:
            raise dg.Failure(
                description=f"no inventory snapshot under {config.snapshot_prefix} in {object_store.describe()}: "
                "materialize b2_inventory first."
            )
        snap = snapshots.read(object_store, key)
        options = sync_options(context, config, object_store, d1, inventory_options)
        try:
            report = sync_snapshot(db, snap, options, log=context.log)
        except SyncError as exc:
            raise dg.Failure(
                description=f"D1 sync of {key} into {db.label} failed: {exc}",
                metadata={
                    "rows_written_before_failure": dg.MetadataValue.int(exc.report.rows_written),
                    "api_requests": dg.MetadataValue.int(db.requests),
                },
            ) from None
        report.api_requests = db.requests  # with the database lookup of connect()
    metadata = sync_metadata(report, target=db.label, snapshot_key=key, dry_run=config.dry_run)
    if report.enrich_error:
        # The mirror itself is written; what the store refused must not look like success.
        raise dg.Failure(
            description=f"D1 {db.label} holds the snapshot's rows ({report.rows_written} written), but their object "
            f"metadata could not be read: {report.enrich_error}",
            metadata=metadata,
        )
    if config.dry_run:
        context.log.info("dry run, nothing written. SQL it would send:\n%s", sql_preview(report))
    context.log.info(
        "%s: %d discovered, %d new, %d already known, %d rows written, %d API requests",
        db.label,
        report.discovered,
        len(report.new),
        report.already_known,
        report.rows_written,
        report.api_requests,
    )
    return dg.MaterializeResult(metadata=metadata)


def sync_options(
    context: dg.AssetExecutionContext,
    config: D1SyncConfig,
    store: Bucket,
    d1: D1Resource,
    deployment: InventoryOptionsResource,
) -> SyncOptions:
    """The run's switches: its run configuration where given, else the deployment's settings."""
    enrich = (
        deployment.enrich_metadata if config.enrich_metadata is None else config.enrich_metadata
    )
    if enrich and not supports_object_metadata(store):
        context.log.warning(
            "enrich_metadata is on, but %s keeps no content type or user metadata: skipped",
            store.describe(),
        )
        enrich = False
    return SyncOptions(
        dry_run=config.dry_run,
        verbose=config.verbose,
        read_page_size=config.read_page_size,
        track_last_seen=deployment.track_last_seen
        if config.track_last_seen is None
        else config.track_last_seen,
        max_statements_per_request=d1.max_statements_per_request,
        max_request_bytes=d1.max_request_bytes,
        object_metadata=(
            lambda rows: head_objects(store, rows, concurrency=deployment.enrich_concurrency)
        )
        if enrich
        else None,
        enrich_max_objects=config.enrich_max_objects or deployment.enrich_max_objects,
    )
