"""What the inventory materializations tell the UI: counts, bytes, requests, a preview."""

from __future__ import annotations

import json

import dagster as dg

from ..kernel.metadata import markdown_table, metadata_value, metadata_values
from ..resources.d1 import Statement
from .collect import InventoryResult
from .sync import SyncReport

PREVIEW_ROWS = 10
SQL_PREVIEW_STATEMENTS = 3


def inventory_metadata(result: InventoryResult, uri: str) -> dict[str, dg.MetadataValue]:
    snap, diff = result.snapshot, result.diff
    by_key = {o.key: o for o in snap.objects}
    meta = metadata_values(
        {
            "objects": snap.count,
            "total_bytes": snap.total_bytes,
            "added": len(diff.added),
            "removed": len(diff.removed),
            "replaced": len(diff.replaced),
            "snapshot_key": snap.key,
            "snapshot_uri": dg.MetadataValue.url(uri) if uri.startswith("file:") else uri,
            "snapshot_bytes": result.snapshot_bytes,
            "previous_snapshot": result.previous.key if result.previous else "none",
            "excluded_prefix": snap.excluded_prefix,
            "list_method": result.listing.method,
            "list_pages": result.listing.pages,
            "seconds": float(round(result.seconds, 3)),
        }
    )
    if result.listing.skipped:
        meta["skipped"] = metadata_value(result.listing.skipped[:50])
    if diff.added:
        meta["added_preview"] = markdown_table(
            ["key", "size", "file_id"],
            [(k, by_key[k].size, by_key[k].file_id) for k in diff.added[:PREVIEW_ROWS]],
        )
    if diff.removed:
        meta["removed_preview"] = metadata_value(diff.removed[:PREVIEW_ROWS])
    return meta


def _statement_md(statement: Statement) -> str:
    params = json.dumps(list(statement.params), ensure_ascii=False)
    if len(params) > 1500:
        params = params[:1500] + f" ... ({len(statement.params)} parameters)"
    return f"```sql\n{statement.sql[:1500]}\n```\nparams: `{params}`"


def sql_preview(report: SyncReport) -> str:
    statements = [s for request in report.planned for s in request]
    parts = [f"{len(statements)} statement(s) in {len(report.planned)} request(s)"]
    if report.schema and report.schema.statements:
        parts.append("schema: " + ", ".join(report.schema.applied))
        parts += [f"```sql\n{s.sql}\n```" for s in report.schema.statements]
    parts += [_statement_md(s) for s in statements[:SQL_PREVIEW_STATEMENTS]]
    if len(statements) > SQL_PREVIEW_STATEMENTS:
        parts.append(f"... and {len(statements) - SQL_PREVIEW_STATEMENTS} more statement(s)")
    return "\n\n".join(parts)


def sync_metadata(
    report: SyncReport, *, target: str, snapshot_key: str, dry_run: bool
) -> dict[str, dg.MetadataValue]:
    schema = report.schema if report.schema and not dry_run else None
    meta = metadata_values(
        {
            "dry_run": dry_run,
            "target": target,
            "snapshot_key": snapshot_key,
            "discovered": report.discovered,
            "new": len(report.new),
            "already_known": report.already_known,
            "rows_in_d1_before": report.known_in_d1,
            "api_requests": report.api_requests,
            "write_requests": report.write_requests,
            "statements": report.statements,
            "rows_written": report.rows_written,
            "last_seen_updated": report.last_seen_updated,
            "schema_applied": schema.applied if schema else [],
            # Written to d1_migrations as wrangler does, so `wrangler d1 migrations apply` skips them.
            "migrations_recorded": schema.applied + schema.newly_recorded if schema else [],
            "seconds": float(round(report.seconds, 3)),
        }
    )
    if report.enrich_wanted or report.enrich_error:
        meta |= metadata_values(
            {
                "enrich_wanted": report.enrich_wanted,
                "enrich_heads": report.enrich_heads,
                "enriched": report.enriched,
                "enrich_remaining": max(0, report.enrich_wanted - report.enriched),
                "enrich_gone": report.enrich_gone[:PREVIEW_ROWS],
                "enrich_failed": report.enrich_failed[:PREVIEW_ROWS],
            }
        )
    if report.new:
        meta["preview"] = markdown_table(
            ["media_uid", "b2_key", "size", "b2_file_id"],
            [(r.media_uid, r.b2_key, r.size, r.b2_file_id) for r in report.new[:PREVIEW_ROWS]],
        )
    if dry_run:
        meta["sql_preview"] = dg.MetadataValue.md(sql_preview(report))
    return meta
