"""Call audio assets: the sources (external) and ``audio_files`` (objects in B2 + catalog rows)."""

from pathlib import Path

import dagster as dg

from ..kernel.keys import normalize_prefix
from ..kernel.metadata import metadata_value
from ..kernel.partitions import call_partitions, dates_by_campaign
from ..kernel.resilience import SystemicFailure
from ..resources.bucket import Bucket
from ..resources.call_sources import CallSourcesResource
from ..resources.databases import CatalogResource, RecordingsDatabaseResource
from ..resources.fetch import FetchPolicyResource
from ..resources.http import AudioTransferResource
from ..resources.inbox import CsvInboxResource
from . import checks
from .config import AudioIngestConfig
from .ingest import IngestOptions, ingest
from .metadata import build_metadata
from .sources import SourceRows, stream_rows

csv_inbox = dg.AssetSpec(
    "csv_inbox",
    description=(
        "CSV exports of call recordings dropped in MEDIA_PIPELINE_CSV_INBOX (url/location, phone, campaign_name, "
        "started, ...). The sensor records one observation per file version read; the check csv_files_readable "
        "lists files that cannot be read and rows that belong to no partition."
    ),
    group_name="call_sources",
    kinds={"csv"},
)
recordings_tables = dg.AssetSpec(
    ["public", "recordings"],
    description="The dialer's public.recordings joined to public.contacts, campaign names from public.campaign_map.",
    group_name="call_sources",
    kinds={"postgres"},
)


@dg.asset(
    partitions_def=call_partitions,
    deps=[csv_inbox, recordings_tables],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="calls",
    kinds={"s3", "postgres"},
    pool="b2",
    check_specs=checks.CHECK_SPECS,
)
def audio_files(
    context: dg.AssetExecutionContext,
    config: AudioIngestConfig,
    catalog: CatalogResource,
    object_store: Bucket,
    csv_inbox: CsvInboxResource,
    recordings_db: RecordingsDatabaseResource,
    audio_transfer: AudioTransferResource,
    call_sources: CallSourcesResource,
    fetch_policy: FetchPolicyResource,
) -> dg.MaterializeResult:
    """Call recordings of a campaign and day, copied into the bucket and cataloged in
    media_pipeline.audio_files, so every later step works from our own copy.

    A failure of the catalog or the bucket themselves (unreachable, credentials refused,
    bucket missing) fails the run at once; a file that cannot be fetched is recorded and
    shown by the check all_rows_ingested."""
    wanted = dates_by_campaign(context.partition_keys)
    prefix = normalize_prefix(
        config.b2_prefix if config.b2_prefix is not None else audio_transfer.key_prefix
    )
    options = IngestOptions(
        prefix=prefix,
        dry_run=config.dry_run,
        limit=config.limit,
        keep_local_dir=Path(config.local_dir).resolve() if config.keep_local else None,
        retry_failed=config.retry_failed,
        transfer=audio_transfer.transfer_settings(config.concurrency, fetch_policy.policy()),
    )
    try:
        engine = catalog.engine
        if not config.dry_run:
            object_store.preflight(prefix)
        sources = SourceRows()  # rejected rows and files fill in as the rows stream by
        rows = stream_rows(
            wanted,
            sources,
            inbox=csv_inbox.folder,
            csv_files=config.csv_files,
            recordings_engine=recordings_db.engine if recordings_db.enabled else None,
            call_sources=call_sources,
        )
        report = ingest(engine, object_store, rows, options, log=context.log)
    except SystemicFailure as exc:
        raise dg.Failure(description=str(exc)) from None
    for problem in sources.unreadable:
        context.log.warning(problem)
    metadata = build_metadata(
        report, sources.rejected, target=object_store.describe(), dry_run=config.dry_run
    )
    metadata["csv_files_read"] = metadata_value(sources.files_read)
    if sources.unreadable:
        metadata["csv_files_unreadable"] = metadata_value(sources.unreadable)
    metadata["catalog"] = metadata_value(catalog.display_url)
    context.log.info(
        "%s: %d new, %d already cataloged, %d failed, %.1f MiB",
        ", ".join(context.partition_keys[:3]) + ("…" if len(context.partition_keys) > 3 else ""),
        len(report.inserted),
        report.already_cataloged,
        report.failed + len(sources.rejected),
        report.bytes_uploaded / 2**20,
    )
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=checks.check_results(engine, object_store, wanted, report, sources),
    )
