"""The deploy/ files agree with each other and with the code: compose services run what the
systemd units run, every environment variable reaches the processes that need it, the Helm
values render an instance Dagster (with dagster-k8s) accepts, the step tags parse."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml

from media_pipeline_dagster.kernel import executors
from media_pipeline_dagster.kernel.placement import TRANSCRIPTION_QUEUE

from .topology import DEPLOY, LOCATION, REPO, exec_start, unit

COMPOSE = yaml.safe_load((DEPLOY / "docker" / "compose.yaml").read_text())
UNITS = {
    "code_server": "media-dagster-code-server.service",
    "webserver": "media-dagster-webserver.service",
    "daemon": "media-dagster-daemon.service",
    "gateway": "media-gateway.service",
}


def program(argv: list[str]) -> list[str]:
    """The command without the virtualenv path, host and workspace file (they differ by design)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("-h", "--host", "-w"):
            skip = True
            continue
        out.append(Path(arg).name if arg.startswith("/") else arg)
    return out


def env_names(path: Path) -> set[str]:
    return set(re.findall(r"^\s*#?\s*([A-Z][A-Z0-9_]+)=", path.read_text(), flags=re.M))


@pytest.mark.parametrize("service", sorted(UNITS))
def test_compose_runs_what_the_systemd_unit_runs(service):
    assert program(COMPOSE["services"][service]["command"]) == program(exec_start(UNITS[service]))


def test_one_code_location_name_everywhere():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    names = {
        "pyproject": pyproject["tool"]["dagster"]["code_location_name"],
        "workspace.yaml": yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"][0][
            "python_module"
        ]["location_name"],
        "deploy/workspace.yaml": yaml.safe_load((DEPLOY / "workspace.yaml").read_text())[
            "load_from"
        ][0]["grpc_server"]["location_name"],
        "docker/workspace.yaml": yaml.safe_load((DEPLOY / "docker" / "workspace.yaml").read_text())[
            "load_from"
        ][0]["grpc_server"]["location_name"],
        "code server unit": exec_start(UNITS["code_server"])[
            exec_start(UNITS["code_server"]).index("--location-name") + 1
        ],
        "helm": yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())["dagsterWebserver"][
            "workspace"
        ]["servers"][0]["name"],
    }
    assert set(names.values()) == {LOCATION}, names
    compose_cmd = COMPOSE["services"]["code_server"]["command"]
    assert compose_cmd[compose_cmd.index("--location-name") + 1] == LOCATION


def test_workspaces_point_at_the_code_servers_port():
    argv = exec_start(UNITS["code_server"])
    port = int(argv[argv.index("-p") + 1])
    assert (
        yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"][0]["grpc_server"][
            "port"
        ]
        == port
    )
    docker_ws = yaml.safe_load((DEPLOY / "docker" / "workspace.yaml").read_text())["load_from"][0][
        "grpc_server"
    ]
    assert docker_ws["host"] == "code_server" and docker_ws["port"] == port
    for service in ("webserver", "daemon"):
        assert "/opt/dagster/dagster_home/workspace.yaml" in COMPOSE["services"][service]["command"]


def test_every_unit_reads_the_environment_file_and_runs_unprivileged():
    for name in [
        *UNITS.values(),
        "media-dagster-heartbeat.service",
        "media-dagster-celery-worker@.service",
    ]:
        service = unit(name)["Service"]
        assert service["EnvironmentFile"] == "/etc/media_pipeline/media-pipeline.env", name
        assert service["User"] == "media", name
    assert (
        unit(UNITS["code_server"])["Service"]["KillMode"] == "process"
    )  # runs outlive a code-server restart


def test_instance_variables_are_in_the_env_file_and_the_compose_environment():
    instance_text = (DEPLOY / "dagster.yaml").read_text()
    needed = set(re.findall(r"env: ([A-Z0-9_]+)", instance_text))
    assert needed >= {"DAGSTER_POSTGRES_URL", "DAGSTER_COMPUTE_LOGS_BUCKET"}
    assert needed <= env_names(DEPLOY / "media-pipeline.env.example")
    for service in ("code_server", "webserver", "daemon"):
        assert COMPOSE["services"][service]["env_file"] == "media-pipeline.env"
        assert "DAGSTER_POSTGRES_URL" in COMPOSE["services"][service]["environment"]


def test_run_containers_receive_every_application_variable():
    launcher = yaml.safe_load((DEPLOY / "docker" / "dagster.yaml").read_text())["run_launcher"][
        "config"
    ]
    forwarded = set(launcher["env_vars"])
    deploy_vars = env_names(DEPLOY / "media-pipeline.env.example") - {
        "DAGSTER_HOME",
        "MEDIA_PIPELINE_CELERY_BROKER",
        "MEDIA_PIPELINE_CELERY_BACKEND",
    }
    assert deploy_vars <= forwarded, deploy_vars - forwarded
    app_vars = {
        n
        for n in re.findall(r"^([A-Z][A-Z0-9_]+)=", (REPO / ".env.example").read_text(), flags=re.M)
        if not n.startswith("GATEWAY_") and n not in {"MEDIA_PIPELINE_DATA_DIR"}
    }
    assert app_vars <= forwarded, app_vars - forwarded
    assert launcher["network"] == COMPOSE["networks"]["media_pipeline_dagster"]["name"]


def test_dockerfile_is_slim_non_root_and_pinned():
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm$", text, flags=re.M)
    assert re.search(r"^USER media$", text, flags=re.M)
    assert "-c constraints.txt" in text and "WITH_LOCAL_MODEL" in text
    pins = dict(
        line.split("==")
        for line in (DEPLOY / "docker" / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    import dagster_celery

    assert (
        pins["dagster"] == dg.__version__ and pins["dagster-celery"] == dagster_celery.__version__
    )
    assert program(COMPOSE["services"]["code_server"]["command"]) == program(
        yaml.safe_load("[" + re.search(r"^CMD \[(.*)\]$", text, flags=re.M).group(1) + "]")
    )


def test_celery_worker_reads_the_executors_variables(monkeypatch):
    worker = yaml.safe_load((DEPLOY / "celery" / "worker.yaml").read_text())["execution"]["config"]
    assert worker == {
        "broker": {"env": "MEDIA_PIPELINE_CELERY_BROKER"},
        "backend": {"env": "MEDIA_PIPELINE_CELERY_BACKEND"},
        "config_source": executors.CELERY_SETTINGS,
    }  # the workers' Celery settings are the executor's
    env = {
        "MEDIA_PIPELINE_EXECUTOR": "celery",
        "MEDIA_PIPELINE_CELERY_BROKER": "redis://h:6379/3",
        "MEDIA_PIPELINE_CELERY_BACKEND": "redis://h:6379/4",
    }
    assert executors.celery_config(env) == {
        "broker": "redis://h:6379/3",
        "backend": "redis://h:6379/4",
        "config_source": executors.CELERY_SETTINGS,
    }
    assert (
        executors.CELERY_SETTINGS["broker_transport_options"]["visibility_timeout"]
        >= yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["run_monitoring"][
            "max_runtime_seconds"
        ]
    )
    assert executors.executor_from_env(env).name == "celery"
    command = unit("media-dagster-celery-worker@.service")["Service"]["ExecStart"]
    assert "-q %i" in command and "-i media_pipeline_dagster.definitions" in command


def test_transcription_step_tags_place_and_size_the_step():
    from dagster_k8s.job import get_user_defined_k8s_config

    from media_pipeline_dagster.transcription.assets import transcriptions

    assert transcriptions.op.tags["dagster-celery/queue"] == TRANSCRIPTION_QUEUE
    k8s = get_user_defined_k8s_config(transcriptions.op.tags)
    assert k8s.container_config["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    executor = executors.executor_from_env(
        {
            "MEDIA_PIPELINE_EXECUTOR": "k8s",
            "MEDIA_PIPELINE_K8S_TRANSCRIPTION_NODE_SELECTOR": "nvidia.com/gpu.present=true",
        }
    )
    assert executor.name == "k8s"
    with pytest.raises(ValueError, match="label=value"):
        executors.node_selector({"MEDIA_PIPELINE_K8S_TRANSCRIPTION_NODE_SELECTOR": "gpu"})
    with pytest.raises(ValueError, match="not one of"):
        executors.executor_name({"MEDIA_PIPELINE_EXECUTOR": "threads"})
