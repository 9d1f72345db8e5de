"""``no_audio_pending_too_long``: transcription keeps up with the audio that arrives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from ..resources.alerts import OperationsResource
from ..resources.databases import CatalogResource
from .alerts import simple_payload
from .pending import overdue_audio

CHECK_NAME = "no_audio_pending_too_long"


@dg.asset_check(
    asset=dg.AssetKey("transcriptions"),
    name=CHECK_NAME,
    description="No audio waits longer than MEDIA_PIPELINE_PENDING_MAX_HOURS for its transcript (posts an alert when some does).",
)
def no_audio_pending_too_long(
    catalog: CatalogResource, operations: OperationsResource
) -> dg.AssetCheckResult:
    max_age = timedelta(hours=operations.pending_max_hours)
    backlog = overdue_audio(catalog.engine, now=datetime.now(UTC), max_age=max_age)
    passed = backlog.count == 0
    if not passed and operations.alerts_enabled:
        worst = sorted(backlog.by_campaign.items(), key=lambda kv: -kv[1])[:5]
        operations.post(
            simple_payload(
                f"{backlog.count} audio files have waited more than {operations.pending_max_hours:g} h for a transcript",
                [
                    f"oldest since {backlog.oldest:%Y-%m-%d %H:%M} UTC" if backlog.oldest else "",
                    *(f"{name}: {n}" for name, n in worst),
                ],
            )
        )
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "overdue_audio": backlog.count,
            "max_age_hours": operations.pending_max_hours,
            "oldest_since": str(backlog.oldest) if backlog.oldest else "none",
            "by_campaign": dg.MetadataValue.json(backlog.by_campaign),
        },
    )


operations_checks_job = dg.define_asset_job(
    "operations_checks",
    selection=dg.AssetSelection.checks(no_audio_pending_too_long),
    description="The operational checks, hourly.",
)
operations_checks_schedule = dg.ScheduleDefinition(
    name="operations_checks_hourly",
    job=operations_checks_job,
    cron_schedule="23 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
