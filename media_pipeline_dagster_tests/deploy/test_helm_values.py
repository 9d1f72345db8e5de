"""deploy/k8s/values.yaml, rendered into dagster.yaml the way the chart's instance ConfigMap
template does (helm/dagster/templates/configmap-instance.yaml and its helpers), then loaded
by Dagster with dagster-k8s installed: Dagster's own schema validates every section."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

from .topology import DEPLOY

VALUES = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def snake_keys(value):
    if isinstance(value, dict):
        return {snake(k): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value


def render_instance(values: dict, namespace: str = "media") -> dict:
    """The parts of the chart's dagster.yaml that these values set."""
    pg = values["postgresql"]
    postgres = {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
        }
    }
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    launcher = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or namespace,
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": "dagster",
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": "dagster-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "env_config_maps": ["dagster-pipeline-env", *(c["name"] for c in k8s["envConfigMaps"])],
        "env_secrets": [s["name"] for s in k8s["envSecrets"]],
        "volume_mounts": snake_keys(k8s["volumeMounts"]),
        "volumes": snake_keys(k8s["volumes"]),
        "run_k8s_config": snake_keys(k8s["runK8sConfig"]),
    }
    daemon = values["dagsterDaemon"]
    runs = values["concurrency"]["runs"]
    monitoring, retries = daemon["runMonitoring"], daemon["runRetries"]
    s3 = values["computeLogManager"]["config"]["s3ComputeLogManager"]
    retention = values["retention"]
    return {
        "storage": {"postgres": postgres},
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": launcher},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": snake_keys(daemon["runCoordinator"]["config"]["queuedRunCoordinator"]),
        },
        "compute_logs": {
            "module": "dagster_aws.s3.compute_log_manager",
            "class": "S3ComputeLogManager",
            "config": snake_keys(s3),
        },
        "run_monitoring": {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
            "free_slots_after_run_end_seconds": monitoring["freeSlotsAfterRunEndSeconds"],
        },
        "run_retries": {
            "enabled": retries["enabled"],
            "max_retries": retries["maxRetries"],
            "retry_on_asset_or_op_failure": retries["retryOnAssetOrOpFailure"],
        },
        "concurrency": {
            "pools": {
                "default_limit": values["concurrency"]["pools"]["defaultLimit"],
                "granularity": values["concurrency"]["pools"]["granularity"],
            },
            "runs": {
                "max_concurrent_runs": runs["maxConcurrentRuns"],
                "tag_concurrency_limits": runs["tagConcurrencyLimits"],
            },
        },
        "retention": {
            "schedule": {"purge_after_days": retention["schedule"]["purgeAfterDays"]},
            "sensor": {"purge_after_days": retention["sensor"]["purgeAfterDays"]},
        },
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }


def fake_kubeconfig(path: Path) -> Path:
    """Outside a cluster: a kubeconfig that names an unreachable API server (nothing is called)."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:1"}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
                "users": [{"name": "test", "user": {"token": "unused"}}],
            }
        )
    )
    return path


def test_helm_values_render_an_instance_dagster_accepts(dagster_storage_url, tmp_path, monkeypatch):
    from dagster_k8s import K8sRunLauncher
    from sqlalchemy.engine import make_url

    url = make_url(dagster_storage_url)
    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    values["postgresql"].update(
        postgresqlHost=url.host,
        postgresqlUsername=url.username,
        postgresqlDatabase=url.database,
        service={"port": url.port or 5432},
    )
    config = render_instance(values)
    launcher = config["run_launcher"]["config"]
    launcher.update(
        load_incluster_config=False, kubeconfig_file=str(fake_kubeconfig(tmp_path / "kubeconfig"))
    )
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "")
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_launcher, K8sRunLauncher)
        assert instance.run_launcher.env_secrets == ["media-pipeline-secrets"]
        assert type(instance.compute_log_manager).__name__ == "S3ComputeLogManager"
        assert instance.run_monitoring_enabled and instance.run_retries_max_retries == 1
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 8
        assert instance.get_runs() == []


def test_helm_values_use_the_code_server_and_the_settings_names():
    deployment = VALUES["dagster-user-deployments"]["deployments"][0]
    assert deployment["codeServerArgs"][:2] == ["-m", "media_pipeline_dagster.definitions"]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env["MEDIA_PIPELINE_ENV"] == "prod" and env["MEDIA_PIPELINE_EXECUTOR"] == "k8s"
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    secrets = list(yaml.safe_load_all((DEPLOY / "k8s" / "secrets.example.yaml").read_text()))
    names = {doc["metadata"]["name"] for doc in secrets}
    assert {s["name"] for s in deployment["envSecrets"]} <= names
    assert VALUES["global"]["postgresqlSecretName"] in names
    app_secret = next(d for d in secrets if d["metadata"]["name"] == "media-pipeline-secrets")[
        "stringData"
    ]
    from media_pipeline_dagster.settings import B2_VARIABLES, D1_VARIABLES

    assert {names[0] for _, names in B2_VARIABLES.values() if "KEY" in names[0]} <= set(app_secret)
    assert {name for name, _ in D1_VARIABLES if "TOKEN" in name} <= set(app_secret)
    assert {"DATABASE_URL", "OPENAI_API_KEY"} <= set(app_secret)
