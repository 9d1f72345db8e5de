"""``run_failure_alert``: every failed run of this code location posts to the alert webhook."""

from __future__ import annotations

import dagster as dg

from ..resources.alerts import OperationsResource
from .alerts import FailedRun, partitions_of, run_failure_payload


def root_message(error) -> str:
    """The innermost cause: the asset's own exception, not Dagster's wrapper around it."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def describe_failure(
    context: dg.RunFailureSensorContext, operations: OperationsResource
) -> FailedRun:
    run = context.dagster_run
    step_failures = context.get_step_failure_events()
    errors = [
        f"{event.step_key}: {root_message(event.step_failure_data.error)}"
        for event in step_failures
        if event.step_failure_data and event.step_failure_data.error
    ]
    if not errors:  # the run failed outside any step: a crashed worker, a resource, the launcher
        errors = [context.failure_event.message or "run failed"]
    assets = sorted(key.to_user_string() for key in run.asset_selection or ())
    if not assets:
        assets = sorted({event.step_key for event in step_failures if event.step_key})
    return FailedRun(
        run_id=run.run_id,
        job_name=run.job_name,
        assets=assets,
        partitions=partitions_of(dict(run.tags)),
        error="\n".join(errors),
        url=operations.run_url(run.run_id),
    )


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Posts every failed run (run, asset, partitions, error) to MEDIA_PIPELINE_ALERT_WEBHOOK_URL.",
)
def run_failure_alert(context: dg.RunFailureSensorContext, operations: OperationsResource):
    if not operations.alerts_enabled:
        return dg.SkipReason(
            "MEDIA_PIPELINE_ALERT_WEBHOOK_URL is not set: failed runs are only shown in the UI"
        )
    failed = describe_failure(context, operations)
    operations.post(run_failure_payload(failed))
    context.log.info(f"alert posted for run {failed.run_id}")
