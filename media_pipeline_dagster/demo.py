"""The demo: ingest the shipped sample calls in the local profile and say what happened.

``python -m media_pipeline_dagster.demo`` writes the sample CSV into the local inbox,
evaluates ``csv_inbox_sensor`` like the daemon would, runs what it requests, and prints
each run's figures. Run it twice: the second time there is nothing to do.
"""

from __future__ import annotations

import os
import sys
import warnings
from importlib import resources
from pathlib import Path

import dagster as dg

SAMPLE_CSV_NAME = "sample_calls.csv"


def write_sample_inbox(inbox: Path) -> Path:
    """The shipped sample CSV with its audio URLs pointing at the shipped audio files."""
    samples = resources.files("media_pipeline_dagster") / "samples"
    audio_dir = Path(str(samples / "audio")).resolve().as_uri()
    text = (samples / "calls.csv").read_text(encoding="utf-8").replace("{audio_dir}", audio_dir)
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / SAMPLE_CSV_NAME
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return target


def _print_run(result: dg.ExecuteInProcessResult, partition_range: str) -> None:
    # A range run records one materialization per partition, all with the run's figures.
    for materialization in result.asset_materializations_for_node("audio_files")[:1]:
        meta = materialization.metadata
        value = lambda name: getattr(meta.get(name), "value", meta.get(name))  # noqa: E731
        print(
            f"  {partition_range}: {value('new')} new, {value('already_cataloged')} already cataloged, "
            f"{value('failed')} failed, {value('bytes_uploaded')} bytes -> {value('target')}"
        )
        failures = meta.get("failures")
        if failures is not None:
            for line in str(failures.value).splitlines()[2:]:
                print("     " + line)
    for check in result.get_asset_check_evaluations():
        print(f"  check {check.check_name}: {'passed' if check.passed else 'FAILED'}")


def main() -> int:
    os.environ.setdefault("MEDIA_PIPELINE_ENV", "local")
    data_dir = Path(os.environ.setdefault("MEDIA_PIPELINE_DATA_DIR", str(Path(".media_pipeline").resolve())))
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(data_dir / "dagster_home")))
    dagster_home.mkdir(parents=True, exist_ok=True)
    instance_yaml = dagster_home / "dagster.yaml"
    if not instance_yaml.exists():
        # The repository's instance settings (pools, run limits) when run from a checkout.
        repo_yaml = Path("dagster.yaml")
        instance_yaml.write_text(repo_yaml.read_text() if repo_yaml.is_file() else "telemetry:\n  enabled: false\n")

    warnings.filterwarnings("ignore", category=dg.BetaWarning)  # backfill_policy, a documented choice
    from .calls.sensors import csv_inbox_sensor
    from .definitions import defs as build_defs

    defs = build_defs()
    resources_ = defs.resources
    inbox = Path(resources_["csv_inbox"].path)
    sample = write_sample_inbox(inbox)
    print(f"profile: local   data: {data_dir}   inbox: {inbox}")
    print(f"sample CSV: {sample.name}")

    with dg.DagsterInstance.get() as instance:
        cursor_key = "demo:csv_inbox_sensor"
        cursor = instance.run_storage.get_cursor_values({cursor_key}).get(cursor_key)
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"csv_inbox": resources_["csv_inbox"]})
        result = csv_inbox_sensor(context)
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        if not result.run_requests:
            reason = result.skip_reason.skip_message if result.skip_reason else "nothing to do"
            print(f"sensor: {reason} (delete {data_dir} to start over)")
        job = defs.resolve_implicit_global_asset_job_def()
        failed = False
        for request in result.run_requests:
            tags = dict(request.tags)
            span = f"{tags['dagster/asset_partition_range_start']} .. {tags['dagster/asset_partition_range_end']}"
            print(f"run for {span}")
            run = job.execute_in_process(
                instance=instance, tags=tags, asset_selection=[dg.AssetKey("audio_files")], raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            _print_run(run, span)
            failed |= not run.success
        instance.run_storage.set_cursor_values({cursor_key: result.cursor or ""})
    catalog = resources_["catalog"]
    import sqlalchemy as sa

    with catalog.engine.connect() as conn:
        total = conn.scalar(sa.text("SELECT COUNT(*) FROM media_pipeline.audio_files"))
    print(f"catalog {catalog.display_url}: {total} audio_files rows")
    print(f"Open the UI on these runs: DAGSTER_HOME={dagster_home} .venv/bin/dagster dev   (or: make dev)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
