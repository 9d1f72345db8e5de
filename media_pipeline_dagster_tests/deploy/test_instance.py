"""The production instance files load through Dagster itself, on this project's dependency pins."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from .topology import DEPLOY


def instance_at(home: Path, config: dict) -> dg.DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return dg.DagsterInstance.from_config(str(home))


@pytest.mark.parametrize("form", ["postgres_url", "postgres_db"])
def test_plain_postgresql_settings_work_in_the_webserver(form, dagster_storage_url, tmp_path):
    """The two usual dagster-postgres settings, as the webserver uses them (a pooled engine
    with a statement timeout): with SQLAlchemy 2.1 they needed psycopg 3, which then
    closed every webserver connection."""
    url = make_url(dagster_storage_url)
    storage = (
        {"postgres_url": dagster_storage_url}
        if form == "postgres_url"
        else {
            "postgres_db": {
                "username": url.username,
                "password": url.password or "",
                "hostname": url.host,
                "port": url.port or 5432,
                "db_name": url.database,
            }
        }
    )
    with instance_at(tmp_path / "home", {"storage": {"postgres": storage}}) as instance:
        instance.optimize_for_webserver(statement_timeout=5000, pool_recycle=3600, max_overflow=2)
        assert instance.get_runs() == []
        assert instance.all_instigator_state() == []
        dg.materialize([_probe], instance=instance)
        assert len(instance.get_runs()) == 1


@dg.asset
def _probe() -> None:
    print("compute log line from the probe")


def test_production_instance_loads_and_writes_step_logs_to_the_bucket(
    dagster_storage_url, s3_server, bucket, tmp_path, monkeypatch
):
    for name, value in {
        "DAGSTER_POSTGRES_URL": dagster_storage_url,
        "DAGSTER_COMPUTE_LOGS_BUCKET": bucket,
        "DAGSTER_COMPUTE_LOGS_ENDPOINT": s3_server.endpoint_url,
        "DAGSTER_COMPUTE_LOGS_REGION": s3_server.region,
        "AWS_ACCESS_KEY_ID": s3_server.access_key_id,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key,
    }.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert (
            instance.run_monitoring_enabled
            and instance.run_retries_enabled
            and instance.run_retries_max_retries == 1
        )
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 4 and {
            t["key"] for t in queue.tag_concurrency_limits
        } == {"dagster/backfill", "media_pipeline/transcribe_campaign"}
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 2
        result = dg.materialize([_probe], instance=instance)
        assert result.success
    objects = (
        s3_server.client()
        .list_objects_v2(Bucket=bucket, Prefix="dagster/compute-logs/")
        .get("Contents", [])
    )
    bodies = [
        s3_server.client().get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in objects
    ]
    assert any(b"compute log line from the probe" in body for body in bodies), [
        o["Key"] for o in objects
    ]


def _without(config: dict, *keys: str) -> dict:
    return {k: v for k, v in config.items() if k not in keys}


def test_docker_instance_is_the_production_one_with_docker_run_launcher(
    dagster_storage_url, monkeypatch, tmp_path
):
    vm = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    docker = yaml.safe_load((DEPLOY / "docker" / "dagster.yaml").read_text())
    assert _without(docker, "run_launcher") == vm
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", dagster_storage_url)
    for name in (
        "DAGSTER_COMPUTE_LOGS_BUCKET",
        "DAGSTER_COMPUTE_LOGS_ENDPOINT",
        "DAGSTER_COMPUTE_LOGS_REGION",
    ):
        monkeypatch.setenv(name, "unused")
    with instance_at(tmp_path / "home", docker) as instance:
        from dagster_docker import DockerRunLauncher

        assert isinstance(instance.run_launcher, DockerRunLauncher)


def test_no_instance_file_reaches_into_sqlite():
    for path in (DEPLOY / "dagster.yaml", DEPLOY / "docker" / "dagster.yaml"):
        config = yaml.safe_load(path.read_text())
        assert config["storage"] == {
            "postgres": {"postgres_url": {"env": "DAGSTER_POSTGRES_URL"}}
        }, path


def test_postgres_url_needs_no_driver_suffix():
    # What the pin guarantees: postgresql:// resolves to the installed psycopg2.
    assert sa.create_engine("postgresql://u@127.0.0.1/db").dialect.driver == "psycopg2"
