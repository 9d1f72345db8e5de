"""Is the daemon alive? ``python -m media_pipeline_dagster.operations.heartbeat`` exits 1 and posts
an alert when a daemon the instance needs (sensors, schedules, run queue, monitoring…) has not
sent a heartbeat within the tolerance. Run it from a timer on another host than the daemon's
(deploy/systemd/media-dagster-heartbeat.timer), with the same DAGSTER_HOME and environment."""

from __future__ import annotations

import argparse
import sys
import time

import dagster as dg

from ..settings import load_operations
from .alerts import simple_payload

DEFAULT_TOLERANCE_SECONDS = 300  # the daemon beats every 30 s; five minutes rides out a restart


def stale_daemons(
    instance: dg.DagsterInstance, tolerance_seconds: float, now: float | None = None
) -> dict[str, str]:
    """daemon type → what is wrong, for every required daemon without a recent heartbeat."""
    now = time.time() if now is None else now
    beats = instance.get_daemon_heartbeats()
    problems: dict[str, str] = {}
    for daemon_type in instance.get_required_daemon_types():
        beat = beats.get(daemon_type)
        if beat is None:
            problems[daemon_type] = "no heartbeat ever recorded"
        elif now - beat.timestamp > tolerance_seconds:
            problems[daemon_type] = f"last heartbeat {now - beat.timestamp:.0f} s ago"
        elif beat.errors:
            problems[daemon_type] = (
                f"alive, reporting an error: {beat.errors[0].message.strip()[:200]}"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE_SECONDS,
        help="seconds without a heartbeat before alerting",
    )
    args = parser.parse_args(argv)
    with dg.DagsterInstance.get() as instance:
        problems = stale_daemons(instance, args.tolerance)
    if not problems:
        print(
            f"dagster-daemon: every required daemon sent a heartbeat within {args.tolerance:.0f} s"
        )
        return 0
    lines = [f"{daemon}: {what}" for daemon, what in sorted(problems.items())]
    print("dagster-daemon unhealthy:\n  " + "\n  ".join(lines), file=sys.stderr)
    operations = load_operations()
    if operations.alerts_enabled:
        operations.post(simple_payload("dagster-daemon is not running its loops", lines))
    return 1


if __name__ == "__main__":
    sys.exit(main())
