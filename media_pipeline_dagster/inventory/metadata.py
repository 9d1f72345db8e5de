"""What the inventory materializations tell the UI: counts, bytes, requests, a preview."""

from __future__ import annotations

import json

import dagster as dg

from ..kernel.markdown import md_table
from ..resources.d1 import Statement
from .collect import InventoryResult
from .sync import SyncReport

PREVIEW_ROWS = 10
SQL_PREVIEW_STATEMENTS = 3


def inventory_metadata(result: InventoryResult, uri: str) -> dict[str, object]:
    snap, diff = result.snapshot, result.diff
    by_key = {o.key: o for o in snap.objects}
    meta: dict[str, object] = {
        "objects": dg.MetadataValue.int(snap.count),
        "total_bytes": dg.MetadataValue.int(snap.total_bytes),
        "added": dg.MetadataValue.int(len(diff.added)),
        "removed": dg.MetadataValue.int(len(diff.removed)),
        "replaced": dg.MetadataValue.int(len(diff.replaced)),
        "snapshot_key": dg.MetadataValue.text(snap.key),
        "snapshot_uri": dg.MetadataValue.url(uri)
        if uri.startswith("file:")
        else dg.MetadataValue.text(uri),
        "snapshot_bytes": dg.MetadataValue.int(result.snapshot_bytes),
        "previous_snapshot": dg.MetadataValue.text(
            result.previous.key if result.previous else "none"
        ),
        "excluded_prefix": dg.MetadataValue.text(snap.excluded_prefix),
        "list_method": dg.MetadataValue.text(result.listing.method),
        "list_pages": dg.MetadataValue.int(result.listing.pages),
        "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
    }
    if result.listing.skipped:
        meta["skipped"] = dg.MetadataValue.json(result.listing.skipped[:50])
    if diff.added:
        meta["added_preview"] = dg.MetadataValue.md(
            md_table(
                ["key", "size", "file_id"],
                [(k, by_key[k].size, by_key[k].file_id) for k in diff.added[:PREVIEW_ROWS]],
            )
        )
    if diff.removed:
        meta["removed_preview"] = dg.MetadataValue.json(diff.removed[:PREVIEW_ROWS])
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
) -> dict[str, object]:
    meta: dict[str, object] = {
        "dry_run": dg.MetadataValue.bool(dry_run),
        "target": dg.MetadataValue.text(target),
        "snapshot_key": dg.MetadataValue.text(snapshot_key),
        "discovered": dg.MetadataValue.int(report.discovered),
        "new": dg.MetadataValue.int(len(report.new)),
        "already_known": dg.MetadataValue.int(report.already_known),
        "rows_in_d1_before": dg.MetadataValue.int(report.known_in_d1),
        "api_requests": dg.MetadataValue.int(report.api_requests),
        "write_requests": dg.MetadataValue.int(report.write_requests),
        "statements": dg.MetadataValue.int(report.statements),
        "rows_written": dg.MetadataValue.int(report.rows_written),
        "last_seen_updated": dg.MetadataValue.int(report.last_seen_updated),
        "schema_applied": dg.MetadataValue.json(
            report.schema.applied if report.schema and not dry_run else []
        ),
        # Written to d1_migrations as wrangler does, so `wrangler d1 migrations apply` skips them.
        "migrations_recorded": dg.MetadataValue.json(
            report.schema.applied + report.schema.newly_recorded
            if report.schema and not dry_run
            else []
        ),
        "seconds": dg.MetadataValue.float(round(report.seconds, 3)),
    }
    if report.enrich_wanted or report.enrich_error:
        meta.update(
            {
                "enrich_wanted": dg.MetadataValue.int(report.enrich_wanted),
                "enrich_heads": dg.MetadataValue.int(report.enrich_heads),
                "enriched": dg.MetadataValue.int(report.enriched),
                "enrich_remaining": dg.MetadataValue.int(
                    max(0, report.enrich_wanted - report.enriched)
                ),
                "enrich_gone": dg.MetadataValue.json(report.enrich_gone[:PREVIEW_ROWS]),
                "enrich_failed": dg.MetadataValue.json(report.enrich_failed[:PREVIEW_ROWS]),
            }
        )
    if report.new:
        meta["preview"] = dg.MetadataValue.md(
            md_table(
                ["media_uid", "b2_key", "size", "b2_file_id"],
                [(r.media_uid, r.b2_key, r.size, r.b2_file_id) for r in report.new[:PREVIEW_ROWS]],
            )
        )
    if dry_run:
        meta["sql_preview"] = dg.MetadataValue.md(sql_preview(report))
    return meta
