"""``pending_transcriptions_sensor``: partitions with audio waiting for a transcript get a run.

New audio (CSV, recordings, the gateway), cooldowns that ended and stale claims all show
up as pending rows; the sensor asks for one run per campaign over the days that have
them, never while that campaign already has a transcription run queued or in progress.
"""

import hashlib
from collections import defaultdict
from datetime import date, timedelta

import dagster as dg

from ..kernel.automation import campaign_runs
from ..kernel.keys import slugify
from ..kernel.partitions import in_partition_range
from ..resources.databases import CatalogResource
from ..resources.transcriber.resource import TranscriberResource
from . import queue
from .assets import transcriptions

CAMPAIGN_TAG = "media_pipeline/transcribe_campaign"
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
SENSOR_INTERVAL_SECONDS = 30


def campaigns_in_flight(instance: dg.DagsterInstance) -> set[str]:
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS), limit=500)
    return {run.tags[CAMPAIGN_TAG] for run in runs if CAMPAIGN_TAG in run.tags}


@dg.sensor(
    target=[transcriptions],
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    description="Audio without a transcript (new rows, ended cooldowns, stale claims) → one transcriptions run per campaign.",
)
def pending_transcriptions_sensor(
    context: dg.SensorEvaluationContext, catalog: CatalogResource, transcriber: TranscriberResource
):
    with catalog.engine.connect() as conn:
        summary = queue.pending_summary(
            conn, now=queue.now_utc(), ttl=timedelta(minutes=transcriber.claim_ttl_minutes)
        )
    days: dict[str, set[date]] = defaultdict(set)
    state: dict[str, list[str]] = defaultdict(list)
    too_old = 0
    for row in summary:
        day = date.fromisoformat(row.day)
        if not in_partition_range(day):
            too_old += row.pending
            continue
        slug = slugify(row.campaign_name)
        days[slug].add(day)
        state[slug].append(
            f"{row.day}:{row.pending}:{row.id_sum}:{row.last_attempt}:{row.stale_claim}"
        )
    if too_old:
        context.log.warning(
            f"{too_old} pending audio files started before the first call-date partition; transcribe them by hand"
        )
    busy = campaigns_in_flight(context.instance) & set(days)
    for slug in busy:
        days.pop(slug)
    if not days:
        reason = (
            "no pending audio"
            if not busy
            else f"pending audio only in campaigns with a run in progress: {', '.join(sorted(busy))}"
        )
        return dg.SkipReason(reason)

    def run_key(slug: str) -> str:
        fingerprint = hashlib.sha1("|".join(sorted(state[slug])).encode()).hexdigest()[:16]
        return f"transcribe:{slug}:{fingerprint}"

    return campaign_runs(
        context,
        {slug: (min(ds), max(ds)) for slug, ds in days.items()},
        run_key=run_key,
        cursor=context.cursor or "",
        tags=lambda slug: {CAMPAIGN_TAG: slug},
        asset=transcriptions.key,
    )
