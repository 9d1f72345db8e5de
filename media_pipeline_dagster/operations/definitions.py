"""The operations' Definitions, merged by the top-level definitions module."""

import dagster as dg

from .checks import no_audio_pending_too_long, operations_checks_job, operations_checks_schedule
from .sensors import run_failure_alert

defs = dg.Definitions(
    asset_checks=[no_audio_pending_too_long],
    jobs=[operations_checks_job],
    schedules=[operations_checks_schedule],
    sensors=[run_failure_alert],
)
