"""``transcriptions``: each call's audio turned into text, timings and speakers, beside the audio in B2."""

import socket
from datetime import timedelta

import dagster as dg

from ..kernel.partitions import call_partitions, dates_by_campaign
from ..kernel.placement import TRANSCRIPTION_STEP_TAGS
from ..resources.bucket import Bucket
from ..resources.databases import CatalogResource
from ..resources.fetch import FetchPolicyResource
from ..resources.transcriber.providers import TranscribeRequest, TranscriptionError
from ..resources.transcriber.resource import TranscriberResource
from . import checks
from .config import TranscriptionConfig
from .engine import TranscribeOptions, transcribe_partitions
from .metadata import build_metadata

NO_ORPHANS = "no_orphan_transcriptions"
OBJECTS_PRESENT = "transcript_objects_in_bucket"
NO_STALE_CLAIMS = "no_stale_claims"


@dg.asset(
    partitions_def=call_partitions,
    deps=[dg.AssetKey("audio_files")],  # the calls domain's asset, by key: domains stay independent
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="calls",
    kinds={"openai", "postgres", "s3"},
    pool="openai",
    op_tags=TRANSCRIPTION_STEP_TAGS,  # its own Celery queue, a bigger Kubernetes pod (kernel/placement.py)
    check_specs=[
        dg.AssetCheckSpec(
            NO_ORPHANS,
            asset="transcriptions",
            description="Every transcription has its audio_files row (the orphan check of the reference queries).",
        ),
        dg.AssetCheckSpec(
            OBJECTS_PRESENT,
            asset="transcriptions",
            description="Every completed transcription of the run's partitions has its JSON and TXT objects.",
        ),
        dg.AssetCheckSpec(
            NO_STALE_CLAIMS,
            asset="transcriptions",
            description="No claim is older than its TTL (a crashed worker's leftovers).",
        ),
    ],
)
def transcriptions(
    context: dg.AssetExecutionContext,
    config: TranscriptionConfig,
    catalog: CatalogResource,
    object_store: Bucket,
    transcriber: TranscriberResource,
    fetch_policy: FetchPolicyResource,
) -> dg.MaterializeResult:
    """Transcripts of the calls of a campaign and day (OpenAI or a local Whisper model), stored
    in media_pipeline.transcriptions and as JSON and TXT objects beside the audio."""
    wanted = dates_by_campaign(context.partition_keys)
    ttl = timedelta(minutes=config.claim_ttl_minutes or transcriber.claim_ttl_minutes)
    cooldown = timedelta(
        minutes=config.cooldown_minutes
        if config.cooldown_minutes is not None
        else transcriber.cooldown_minutes
    )
    try:
        language = transcriber.expected_language(config.language)
        with transcriber.open(
            context,
            provider=config.provider.value if config.provider else None,
            model=config.model,
            language=language,
        ) as (provider, model):
            options = TranscribeOptions(
                request=TranscribeRequest(
                    model=model, timestamps=config.timestamps.value, language=language
                ),
                worker=f"dagster:{context.run.run_id}@{socket.gethostname()}",
                concurrency=config.concurrency,
                limit=config.limit,
                force=config.force,
                retry_failed=config.retry_failed,
                dry_run=config.dry_run,
                claim_ttl=ttl,
                cooldown=cooldown,
                fetch_policy=fetch_policy.policy(),
            )
            report = transcribe_partitions(
                catalog.engine, object_store, provider, wanted, options, log=context.log
            )
    except TranscriptionError as exc:
        raise dg.Failure(description=str(exc)) from None
    metadata = build_metadata(
        report,
        provider=provider.name,
        model=model,
        dry_run=config.dry_run,
        language=language,
        pacer=getattr(provider, "pacer", None),
    )
    if report.fatal:
        raise dg.Failure(description=f"transcription stopped: {report.fatal}", metadata=metadata)
    context.log.info(
        "%d transcribed, %d failed, %.1f audio minutes, ~$%.4f",
        len(report.transcribed),
        len(report.failed),
        report.audio_seconds / 60,
        sum(report.cost_usd.values()),
    )
    return dg.MaterializeResult(
        metadata=metadata, check_results=_check_results(catalog, object_store, wanted, ttl)
    )


def _check_results(catalog, object_store, wanted, ttl) -> list[dg.AssetCheckResult]:
    orphans = checks.orphan_transcriptions(catalog.engine)
    objects = checks.transcript_objects(catalog.engine, object_store, wanted)
    stale = checks.stale_claims(catalog.engine, ttl)
    return [
        dg.AssetCheckResult(
            check_name=NO_ORPHANS, passed=orphans == 0, metadata={"orphan_transcriptions": orphans}
        ),
        dg.AssetCheckResult(
            check_name=OBJECTS_PRESENT,
            passed=not objects.missing,
            metadata={
                "transcriptions_checked": objects.checked,
                "missing": dg.MetadataValue.json(
                    [{"audio_file_id": i, "key": k} for i, k in objects.missing[:50]]
                ),
            },
        ),
        dg.AssetCheckResult(
            check_name=NO_STALE_CLAIMS,
            passed=not stale,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "stale_claims": dg.MetadataValue.json(
                    [
                        {
                            "audio_file_id": r.audio_file_id,
                            "claimed_by": r.claimed_by,
                            "claimed_at": str(r.claimed_at),
                            "expires_at": str(r.expires_at),
                        }
                        for r in stale
                    ]
                )
            },
        ),
    ]
