"""The demo: the whole graph on the shipped samples in the local profile, saying what happened.

``python -m media_pipeline_dagster.demo`` writes the sample CSV into the local inbox,
evaluates each sensor like the daemon would (CSV inbox, then pending transcriptions),
runs what it requests, and prints each run's figures. Run it twice: the second time
there is nothing to do.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

import dagster as dg

SAMPLE_CSV_NAME = "sample_calls.csv"


def sample_audio_root() -> Path:
    """The shipped sample audio: the demo's local audio root, the only folder file:// URLs may read."""
    return Path(str(resources.files("media_pipeline_dagster") / "samples" / "audio")).resolve()


def write_sample_inbox(inbox: Path) -> Path:
    """The shipped sample CSV with its audio URLs pointing at the shipped audio files."""
    samples = resources.files("media_pipeline_dagster") / "samples"
    audio_dir = sample_audio_root().as_uri()
    text = (samples / "calls.csv").read_text(encoding="utf-8").replace("{audio_dir}", audio_dir)
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / SAMPLE_CSV_NAME
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return target


def _value(meta, name):
    return getattr(meta.get(name), "value", meta.get(name))


def _print_ingest(result: dg.ExecuteInProcessResult) -> None:
    # A range run records one materialization per partition, all with the run's figures.
    for materialization in result.asset_materializations_for_node("audio_files")[:1]:
        meta = materialization.metadata
        print(
            f"    {_value(meta, 'new')} new, {_value(meta, 'already_cataloged')} already cataloged, "
            f"{_value(meta, 'failed')} failed, {_value(meta, 'bytes_uploaded')} bytes -> {_value(meta, 'target')}"
        )
        failures = meta.get("failures")
        if failures is not None:
            for line in str(failures.value).splitlines()[2:]:
                print("     " + line)


def _print_transcriptions(result: dg.ExecuteInProcessResult) -> None:
    for materialization in result.asset_materializations_for_node("transcriptions")[:1]:
        meta = materialization.metadata
        print(
            f"    {_value(meta, 'transcribed')} transcribed with {_value(meta, 'provider')} {_value(meta, 'model')}, "
            f"{_value(meta, 'failed')} failed, {_value(meta, 'audio_minutes')} audio minutes, "
            f"~${_value(meta, 'estimated_cost_usd')}"
        )


def _tick_and_run(
    instance, defs, sensor, resource_names, asset: str, printer, cursor_key: str
) -> bool:
    """Evaluate a sensor as the daemon would, run what it requests; False when a run failed."""
    cursor = instance.run_storage.get_cursor_values({cursor_key}).get(cursor_key)
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={name: defs.resources[name] for name in resource_names},
    ) as context:
        result = sensor(context)
    if isinstance(result, dg.SkipReason):
        result = dg.SensorResult(skip_reason=result)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    for event in (
        result.asset_events or []
    ):  # observations and check evaluations, as the daemon stores them
        instance.report_runless_asset_event(event)
    if not result.run_requests:
        reason = result.skip_reason.skip_message if result.skip_reason else "nothing to do"
        print(f"  {sensor.name}: {reason}")
    job = defs.resolve_implicit_global_asset_job_def()
    ok = True
    for request in result.run_requests:
        tags = dict(request.tags)
        print(
            f"  {asset} {tags['dagster/asset_partition_range_start']} .. {tags['dagster/asset_partition_range_end']}"
        )
        run = job.execute_in_process(
            instance=instance,
            tags=tags,
            asset_selection=[dg.AssetKey(asset)],
            raise_on_error=False,
            run_config={
                **request.run_config,
                "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            },
        )
        printer(run)
        for check in run.get_asset_check_evaluations():
            print(f"    check {check.check_name}: {'passed' if check.passed else 'FAILED'}")
        ok &= run.success
    if result.cursor is not None:
        instance.run_storage.set_cursor_values({cursor_key: result.cursor})
    return ok


def _print_a_transcript(catalog) -> None:
    import sqlalchemy as sa

    with catalog.engine.connect() as conn:
        total = conn.scalar(sa.text("SELECT COUNT(*) FROM media_pipeline.audio_files"))
        done = conn.execute(
            sa.text(
                "SELECT a.phone, a.started, t.transcript_text, t.b2_transcript_key FROM media_pipeline.transcriptions t "
                "JOIN media_pipeline.audio_files a ON a.id = t.audio_file_id WHERE t.status = 'completed' ORDER BY a.started"
            )
        ).all()
    print(f"  catalog {catalog.display_url}: {total} audio_files rows, {len(done)} transcriptions")
    if done:
        phone, started, text, key = done[-1]
        print(f'  latest transcript ({phone}, {started}): "{text}"\n    stored as {key}')


def main() -> int:
    os.environ.setdefault("MEDIA_PIPELINE_ENV", "local")
    data_dir = Path(
        os.environ.setdefault("MEDIA_PIPELINE_DATA_DIR", str(Path(".media_pipeline").resolve()))
    )
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(data_dir / "dagster_home")))
    os.environ.setdefault("MEDIA_PIPELINE_LOCAL_AUDIO_ROOT", str(sample_audio_root()))
    dagster_home.mkdir(parents=True, exist_ok=True)
    instance_yaml = dagster_home / "dagster.yaml"
    if not instance_yaml.exists():
        # The repository's instance settings (pools, run limits) when run from a checkout.
        repo_yaml = Path("dagster.yaml")
        instance_yaml.write_text(
            repo_yaml.read_text() if repo_yaml.is_file() else "telemetry:\n  enabled: false\n"
        )

    from .calls.sensors import csv_inbox_sensor
    from .definitions import defs as build_defs
    from .transcription.sensors import pending_transcriptions_sensor

    defs = build_defs()
    built = dict(defs.resources or {})
    inbox = Path(built["csv_inbox"].path)
    sample = write_sample_inbox(inbox)
    print(f"profile: local   data: {data_dir}   inbox: {inbox}")
    ok = True
    with dg.DagsterInstance.get() as instance:
        print(f"1. call audio (sample CSV {sample.name})")
        ok &= _tick_and_run(
            instance,
            defs,
            csv_inbox_sensor,
            ["csv_inbox", "call_sources"],
            "audio_files",
            _print_ingest,
            "demo:csv_inbox_sensor",
        )
        print("2. transcriptions (offline, local Whisper model)")

        def transcribe_pending() -> bool:
            return _tick_and_run(
                instance,
                defs,
                pending_transcriptions_sensor,
                ["catalog", "transcriber"],
                "transcriptions",
                _print_transcriptions,
                "demo:pending_transcriptions_sensor",
            )

        ok &= transcribe_pending()
        _print_a_transcript(built["catalog"])
        print("3. gateway: one on-demand request, transcribed by the pending sensor's run")
        from .gateway.demo import run_gateway_demo

        ok &= run_gateway_demo(
            data_dir,
            Path(os.environ["MEDIA_PIPELINE_LOCAL_AUDIO_ROOT"]),
            transcribe_pending,
            out=lambda text: print("  " + text),
        )
        print(
            "4. bucket inventory -> D1 (a local SQLite file: the first line says which, and whether wrangler reads it)"
        )
        from .inventory.mirror import mirror_bucket_to_d1

        ok &= mirror_bucket_to_d1(
            built, instance=instance, echo=lambda line: print("  " + line)
        ).success
        print("5. media archive (sample social cache -> local archive folder)")
        from .archive.demo import run_archive_demo

        ok &= run_archive_demo(
            built, instance, out=lambda text: print("  " + text.replace("\n", "\n  "))
        )
    print(f"Run it again: nothing new to do. Start over: delete {data_dir}")
    print(
        f"Open the UI on these runs: DAGSTER_HOME={dagster_home} .venv/bin/dagster dev   (or: make dev)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
