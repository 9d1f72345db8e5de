"""Small helpers shared by the calls tests: write an inbox CSV, materialize a partition, read back."""

from __future__ import annotations

import secrets
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from media_pipeline_dagster.calls.assets import audio_files

HEADER = "phone,campaign_name,recordings_row_id,url,duration_seconds,started,stopped"
DAY = "2025-08-27"


def token() -> str:
    return secrets.token_hex(4)


def write_csv(inbox: Path, rows: list[dict], name: str = "calls.csv") -> Path:
    lines = [HEADER]
    for i, row in enumerate(rows, start=1):
        lines.append(
            ",".join(
                [
                    row.get("phone", "+49 151 000"),
                    row.get("campaign_name", "Dexter Outbound"),
                    str(row.get("recordings_row_id", i)),
                    row["url"],
                    row.get("duration_seconds", ""),
                    row.get("started", f"{DAY}T10:{i // 60 % 60:02d}:{i % 60:02d}Z"),
                    row.get("stopped", ""),
                ]
            )
        )
    path = inbox / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def materialize(
    instance: dg.DagsterInstance,
    resources: dict,
    partition: str = f"dexter-outbound|{DAY}",
    raise_on_error: bool = True,
    **config,
) -> dg.ExecuteInProcessResult:
    slug = partition.split("|")[0]
    if not instance.has_dynamic_partition("campaigns", slug):
        instance.add_dynamic_partitions("campaigns", [slug])
    return dg.materialize(
        [audio_files],
        partition_key=partition,
        instance=instance,
        resources=resources,
        run_config={"ops": {"audio_files": {"config": config}}},
        raise_on_error=raise_on_error,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    (mat,) = result.asset_materializations_for_node("audio_files")
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def catalog_rows(resources: dict) -> list[sa.Row]:
    with resources["catalog"].engine.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT * FROM media_pipeline.audio_files ORDER BY source_row_id, id")
            )
        )


def failures(resources: dict) -> dict[str, sa.Row]:
    with resources["catalog"].engine.connect() as conn:
        return {
            r.url: r for r in conn.execute(sa.text("SELECT * FROM media_pipeline.ingest_failures"))
        }


def bucket_objects(resources: dict) -> dict[str, int]:
    client = resources["object_store"].boto3_client()
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=resources["object_store"].bucket
    )
    return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}


def with_changes(resource, **changes):
    """A copy of a resource with some fields changed (Dagster resources need a fresh construction)."""
    return type(resource)(**{**resource.model_dump(), **changes})


RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def run_requested(
    instance: dg.DagsterInstance,
    resources: dict,
    request: dg.RunRequest,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """Execute what a sensor asked for (a one-day range and its run config), as the daemon would."""
    assert request.tags[RANGE_START] == request.tags[RANGE_END], (
        "tests keep each request to one day"
    )
    config = request.run_config.get("ops", {}).get("audio_files", {}).get("config", {})
    return materialize(
        instance,
        resources,
        partition=request.tags[RANGE_START],
        raise_on_error=raise_on_error,
        **config,
    )


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict:
    """check name -> its evaluation (passed, severity, metadata, description)."""
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The sentence a failed run shows for its failed step."""
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    user = failure.event_specific_data.user_failure_data
    return (
        (user.description if user is not None else "")
        + " "
        + str(failure.step_failure_data.error.message)
    )
