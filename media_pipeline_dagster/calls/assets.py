"""Call audio assets: the sources (external) and ``audio_files`` (objects in B2 + catalog rows)."""

from pathlib import Path

import dagster as dg

from ..resources.databases import CatalogResource, RecordingsDatabaseResource
from ..resources.fetch import FetchPolicyResource
from ..resources.http import AudioTransferResource
from ..resources.inbox import CsvInboxResource
from ..resources.object_store import ObjectStoreResource
from . import checks
from .config import AudioIngestConfig
from .csv_source import CsvSchemaError
from .ingest import IngestOptions, ingest
from .keys import normalize_prefix
from .metadata import build_metadata
from .partitions import call_partitions, dates_by_campaign
from .sources import gather

csv_inbox = dg.AssetSpec(
    "csv_inbox",
    description="CSV exports of call recordings dropped in MEDIA_PIPELINE_CSV_INBOX (url/location, phone, campaign_name, started, ...).",
    group_name="call_sources",
    kinds={"csv"},
)
recordings_tables = dg.AssetSpec(
    ["public", "recordings"],
    description="The dialer's public.recordings joined to public.contacts, campaign names from public.campaign_map.",
    group_name="call_sources",
    kinds={"postgres"},
)

NO_DUPLICATES = "no_duplicate_url_sha1"
OBJECTS_PRESENT = "objects_in_bucket"

@dg.asset(
    partitions_def=call_partitions,
    deps=[csv_inbox, recordings_tables],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="calls",
    kinds={"s3", "postgres"},
    pool="b2",
    check_specs=[
        dg.AssetCheckSpec(NO_DUPLICATES, asset="audio_files", description="Seed 000's dedupe guard: no url_sha1 twice."),
        dg.AssetCheckSpec(OBJECTS_PRESENT, asset="audio_files", description="Every row of the run's partitions has its object, of the recorded size."),
    ],
)
def audio_files(
    context: dg.AssetExecutionContext,
    config: AudioIngestConfig,
    catalog: CatalogResource,
    object_store: ObjectStoreResource,
    csv_inbox: CsvInboxResource,
    recordings_db: RecordingsDatabaseResource,
    audio_transfer: AudioTransferResource,
    fetch_policy: FetchPolicyResource,
) -> dg.MaterializeResult:
    """Call recordings of a campaign and day, copied into the bucket and cataloged in
    media_pipeline.audio_files, so every later step works from our own copy."""
    wanted = dates_by_campaign(context.partition_keys)
    try:
        sources = gather(
            wanted,
            inbox=csv_inbox.folder,
            recordings_engine=recordings_db.engine if recordings_db.enabled else None,
        )
    except CsvSchemaError as exc:
        raise dg.Failure(description=str(exc)) from None
    prefix = normalize_prefix(config.b2_prefix if config.b2_prefix is not None else audio_transfer.key_prefix)
    options = IngestOptions(
        prefix=prefix,
        dry_run=config.dry_run,
        limit=config.limit,
        keep_local_dir=Path(config.local_dir).resolve() if config.keep_local else None,
        retry_permanent_failures=config.retry_permanent_failures,
        transfer=audio_transfer.transfer_settings(config.concurrency, fetch_policy.policy()),
    )
    report = ingest(catalog.engine, object_store.store, sources.rows, options, log=context.log)
    metadata = build_metadata(report, sources.rejected, target=object_store.describe(), dry_run=config.dry_run)
    metadata["csv_files_read"] = dg.MetadataValue.json(sources.files_read)
    metadata["catalog"] = catalog.display_url
    context.log.info(
        "%s: %d new, %d already cataloged, %d failed, %.1f MiB",
        ", ".join(context.partition_keys[:3]) + ("…" if len(context.partition_keys) > 3 else ""),
        len(report.inserted), report.already_cataloged, report.failed + len(sources.rejected),
        report.bytes_uploaded / 2**20,
    )
    return dg.MaterializeResult(metadata=metadata, check_results=_check_results(catalog, object_store, wanted))

def _check_results(catalog: CatalogResource, object_store: ObjectStoreResource, wanted) -> list[dg.AssetCheckResult]:
    dupes = checks.duplicate_url_sha1s(catalog.engine)
    objects = checks.check_objects(catalog.engine, object_store, wanted)
    return [
        dg.AssetCheckResult(
            check_name=NO_DUPLICATES,
            passed=not dupes,
            metadata={"duplicates": dg.MetadataValue.json([{"url_sha1": s, "count": c} for s, c in dupes])},
        ),
        dg.AssetCheckResult(
            check_name=OBJECTS_PRESENT,
            passed=objects.passed,
            metadata={
                "rows_checked": objects.rows_checked,
                "missing": dg.MetadataValue.json([{"id": i, "key": k} for i, k in objects.missing[:50]]),
                "size_mismatch": dg.MetadataValue.json(
                    [{"id": i, "key": k, "cataloged": a, "in_bucket": b} for i, k, a, b in objects.size_mismatch[:50]]
                ),
            },
        ),
    ]
