"""What a materialization of ``transcriptions`` tells the UI: counts, minutes, cost, failures, a preview."""

from __future__ import annotations

from collections import Counter

import dagster as dg

from ..kernel.metadata import markdown_table, metadata_value, metadata_values
from .engine import TranscribeReport

PREVIEW_ROWS = 5


def _reason(text: str) -> str:
    return text.split(":")[0][:60]


def build_metadata(
    report: TranscribeReport,
    *,
    provider: str,
    model: str,
    dry_run: bool,
    language: str | None = None,
    pacer=None,
) -> dict[str, dg.MetadataValue]:
    skipped = dict(report.held_back)
    skipped["claimed_by_another_worker"] = (
        skipped.get("claimed_elsewhere", 0) + report.claimed_elsewhere
    )
    skipped.pop("claimed_elsewhere", None)
    total_cost = sum(report.cost_usd.values())
    meta = metadata_values(
        {
            "provider": provider,
            "model": model,
            "expected_language": language or "any",
            "dry_run": dry_run,
            "pending_at_start": report.pending,
            "transcribed": len(report.transcribed),
            "skipped": sum(skipped.values()),
            "skipped_by_reason": skipped,
            "failed": len(report.failed),
            "audio_minutes": float(round(report.audio_seconds / 60.0, 2)),
            "estimated_cost_usd": float(round(total_cost, 4)),
            "estimated_cost_usd_by_model": {m: round(c, 4) for m, c in report.cost_usd.items()},
            "rate_limited_retries": report.rate_limited,
            "retries": report.retried,
            "seconds": float(round(report.seconds, 2)),
        }
    )
    if pacer is not None:  # OpenAI: requests paced by the budget the API reports
        meta |= metadata_values(
            {
                "requests_per_minute_allowed": pacer.limit_per_minute or 0,
                "paced_wait_seconds": float(round(pacer.waited_seconds, 2)),
            }
        )
    if report.failed:
        meta["failed_by_reason"] = metadata_value(
            dict(Counter(f"{f.kind}: {_reason(f.reason)}" for f in report.failed))
        )
        meta["failures"] = markdown_table(
            ["audio_file_id", "status", "code", "reason"],
            [(f.audio_file_id, f.kind, f.code, f.reason) for f in report.failed[:50]],
        )
    if report.transcribed:
        meta["preview"] = markdown_table(
            ["audio_file_id", "seconds", "transcript", "json key"],
            [
                (t["id"], round(t["seconds"], 1), t["text"][:150], t["json_key"])
                for t in report.transcribed[:PREVIEW_ROWS]
            ],
        )
    if report.planned:
        meta["plan_preview"] = markdown_table(
            ["audio_file_id", "audio", "transcript json key"],
            [(p["id"], p["audio"], p["json_key"]) for p in report.planned[:20]],
        )
    return meta
