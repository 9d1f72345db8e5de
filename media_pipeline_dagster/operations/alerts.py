"""The alert messages: Slack-compatible JSON (``text`` for notifications, ``blocks`` for the details)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
MAX_ERROR_CHARS = 1500  # Slack cuts a section's text at 3000 characters


@dataclass(frozen=True)
class FailedRun:
    run_id: str
    job_name: str
    assets: Sequence[str]
    partitions: str | None
    error: str
    url: str | None = None


def partitions_of(tags: dict[str, str]) -> str | None:
    """'acme|2025-01-01' for one partition, 'acme|2025-01-01 … acme|2025-01-31' for a range."""
    if tags.get(PARTITION_TAG):
        return tags[PARTITION_TAG]
    if tags.get(RANGE_START_TAG):
        start, end = tags[RANGE_START_TAG], tags.get(RANGE_END_TAG, tags[RANGE_START_TAG])
        return start if start == end else f"{start} … {end}"
    return None


def _field(title: str, value: str) -> dict:
    return {"type": "mrkdwn", "text": f"*{title}*\n{value}"}


def run_failure_payload(run: FailedRun) -> dict:
    assets = ", ".join(run.assets) or run.job_name
    run_ref = f"<{run.url}|{run.run_id[:8]}>" if run.url else run.run_id
    error = run.error.strip() or "(no error message)"
    if len(error) > MAX_ERROR_CHARS:
        error = error[:MAX_ERROR_CHARS] + "…"
    text = f"Dagster run {run.run_id[:8]} failed: {assets}" + (
        f" [{run.partitions}]" if run.partitions else ""
    )
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f":red_circle: *{text}*"}},
            {
                "type": "section",
                "fields": [
                    _field("Run", run_ref),
                    _field("Asset", assets),
                    _field("Partitions", run.partitions or "none"),
                    _field("Job", run.job_name),
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Error*\n```{error}```"}},
        ],
    }


def simple_payload(title: str, lines: Sequence[str]) -> dict:
    body = "\n".join(lines)
    return {
        "text": f"{title}: {body}" if body else title,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f":warning: *{title}*\n{body}"}}
        ],
    }
