"""Dagster's processes started as separate OS processes from the deploy/ files, as systemd would.

Each command is the ExecStart of a unit in deploy/systemd, with the virtualenv, the
workspace file and the ports made local; so the tests run what the units run. The test
process reads the same PostgreSQL-backed instance to watch runs and events (cheaper than
asking the webserver), and uses the webserver's GraphQL API where an operator would act.
"""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar
from unittest import mock

import dagster as dg
import requests
import yaml
from dagster._core.storage.dagster_run import RunsFilter

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNIT_PREFIX = "/opt/media_pipeline"
LOCATION = "media_pipeline_dagster"
REPOSITORY = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
DONE = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read(DEPLOY / "systemd" / name)
    return parser


def exec_start(name: str) -> list[str]:
    return shlex.split(unit(name)["Service"]["ExecStart"])


def with_option(argv: list[str], flag: str, value: str) -> list[str]:
    """argv with the value after ``flag`` replaced (the unit's port → a free one)."""
    out = list(argv)
    out[out.index(flag) + 1] = value
    return out


def localize(argv: list[str], workspace: Path) -> list[str]:
    venv_bin = str(Path(sys.executable).parent)
    out = []
    for arg in argv:
        arg = arg.replace(f"{UNIT_PREFIX}/.venv/bin", venv_bin)
        arg = arg.replace(f"{UNIT_PREFIX}/deploy/workspace.yaml", str(workspace))
        arg = arg.replace(f"{UNIT_PREFIX}/deploy", str(DEPLOY))
        out.append(arg)
    return out


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    on_timeout: Callable[[], str] = lambda: "",
    interval: float = 0.25,
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}\n{on_timeout()}"
            )
        time.sleep(interval)


class Deployment:
    """DAGSTER_HOME with deploy/dagster.yaml, the workspace on free ports, and the processes."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.home = root / "dagster_home"
        self.home.mkdir(parents=True)
        shutil.copy(DEPLOY / "dagster.yaml", self.home / "dagster.yaml")
        self.code_port, self.web_port = free_port(), free_port()
        workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
        workspace["load_from"][0]["grpc_server"]["port"] = self.code_port
        self.workspace = root / "workspace.yaml"
        self.workspace.write_text(yaml.safe_dump(workspace))
        venv_bin = str(
            Path(sys.executable).parent
        )  # as the units' PATH: dagster-celery runs `celery` by name
        self.app_env = {**env, "DAGSTER_HOME": str(self.home)}
        self.env = {
            **os.environ,
            **self.app_env,
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = root / "logs"
        self.logs.mkdir()
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self._instance: dg.DagsterInstance | None = None

    # --- processes -----------------------------------------------------------------
    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        # A session of its own: stopping it stops its children (a code server's runs too).
        proc = subprocess.Popen(
            argv,
            cwd=self.root,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def signal_group(self, name: str, sig: int) -> None:
        try:
            os.killpg(self.procs[name].pid, sig)
        except ProcessLookupError:
            pass

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        self.signal_group(name, sig)
        self.procs.pop(name).wait(timeout=60)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.signal_group(name, signal.SIGCONT)  # a paused worker must be able to die
            self.kill(name, signal.SIGKILL)
        if self._instance is not None:
            self._instance.dispose()

    def log_tail(self, limit: int = 3000) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace")
            parts.append(f"--- {path.name} ---\n{text[-limit:]}")
        return "\n".join(parts)

    def start_code_server(self) -> None:
        argv = localize(exec_start("media-dagster-code-server.service"), self.workspace)
        self.start("code_server", with_option(argv, "-p", str(self.code_port)))

    def start_webserver(self) -> None:
        argv = localize(exec_start("media-dagster-webserver.service"), self.workspace)
        self.start("webserver", with_option(argv, "-p", str(self.web_port)))

    def start_daemon(self) -> None:
        self.start("daemon", localize(exec_start("media-dagster-daemon.service"), self.workspace))

    def start_all(self, also: Callable[[], None] = lambda: None) -> None:
        """Code server, webserver (and ``also``: workers) at once; the daemon once the code
        location answers, as the units' After= would have it (a daemon that finds the code
        server still loading only looks again a minute later). Dagster's tables are created
        first, once, as `dagster instance migrate` does on a new host: processes starting
        together on an empty database race to create them."""
        assert self.instance.get_runs(limit=1) == []
        self.start_code_server()
        self.start_webserver()
        also()
        self.wait_until_loaded()
        self.start_daemon()

    # --- the instance, read from this process --------------------------------------
    @property
    def instance(self) -> dg.DagsterInstance:
        if self._instance is None:
            with mock.patch.dict(
                os.environ, self.app_env
            ):  # dagster.yaml reads its settings from the environment
                self._instance = dg.DagsterInstance.from_config(str(self.home))
        return self._instance

    def runs(
        self, tags: dict[str, str] | None = None, run_ids: Iterable[str] | None = None
    ) -> list[dg.DagsterRun]:
        return list(
            self.instance.get_runs(
                RunsFilter(tags=tags or {}, run_ids=list(run_ids) if run_ids else None)
            )
        )

    def finished(self, run_ids: Iterable[str], timeout: float = 300) -> list[dg.DagsterRun]:
        ids = set(run_ids)
        return wait_for(
            f"runs {sorted(ids)} to finish",
            lambda: (
                (r := self.runs(run_ids=ids))
                and len(r) == len(ids)
                and all(x.status in DONE for x in r)
                and r
            ),
            timeout,
            self.log_tail,
        )

    def messages(self, run_id: str) -> list[str]:
        return [record.message or "" for record in self.instance.all_logs(run_id)]

    # --- the webserver's GraphQL API -------------------------------------------------
    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = requests.post(
            f"{self.web_url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=60,
        )
        assert response.status_code == 200, (
            f"GraphQL answered {response.status_code}: {response.text[:2000]}"
        )
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def _location_loaded(self) -> bool:
        try:
            data = self.graphql(WORKSPACE_QUERY)
        except (requests.ConnectionError, requests.Timeout):
            return False
        entries = data["workspaceOrError"].get("locationEntries") or []
        for entry in entries:
            if entry["name"] == LOCATION and entry["loadStatus"] == "LOADED":
                error = entry["locationOrLoadError"]
                # While the code server imports, the webserver records it unreachable; its server
                # watcher loads the location again once the server answers.
                if "DagsterUserCodeUnreachableError" in (
                    error.get("message") or ""
                ) or "UNAVAILABLE" in (error.get("message") or ""):
                    return False
                assert error["__typename"] == "RepositoryLocation", (
                    f"code location failed to load: {error}"
                )
                return True
        return False

    def wait_until_loaded(self, timeout: float = 240) -> None:
        wait_for(
            "the code location in the webserver",
            self._location_loaded,
            timeout,
            self.log_tail,
            interval=0.5,
        )

    def start_sensor(self, sensor: str) -> str:
        result = self.graphql(START_SENSOR, {"selector": {**REPOSITORY, "sensorName": sensor}})[
            "startSensor"
        ]
        assert result["__typename"] == "Sensor", result
        return result["sensorState"]["status"]

    def set_pool_limit(self, pool: str, limit: int) -> None:
        """As `dagster instance concurrency set <pool> <limit>` (or the UI's Concurrency page) does."""
        assert (
            self.graphql(SET_POOL_LIMIT, {"pool": pool, "limit": limit})["setConcurrencyLimit"]
            is True
        )

    def add_partition(self, partitions_def: str, key: str) -> None:
        result = self.graphql(
            ADD_PARTITION, {"repo": REPOSITORY, "name": partitions_def, "key": key}
        )["addDynamicPartition"]
        assert result["__typename"] in (
            "AddDynamicPartitionSuccess",
            "DuplicateDynamicPartitionError",
        ), result

    def launch_run(self, asset: str, partition: str, run_config: dict | None = None) -> str:
        """A run of one asset over one partition, as the UI's Materialize button launches it."""
        params = {
            "selector": {
                **REPOSITORY,
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": [asset]}],
            },
            "runConfigData": run_config or {},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
        }
        result = self.graphql(LAUNCH_RUN, {"p": params})["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return result["run"]["runId"]

    def launch_backfill(self, asset: str, partitions: list[str]) -> str:
        """An asset backfill, as the UI's Materialize → "Launch backfill" submits it."""
        params = {"assetSelection": [{"path": [asset]}], "partitionNames": partitions}
        result = self.graphql(LAUNCH_BACKFILL, {"p": params})["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        return result["backfillId"]


WORKSPACE_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
START_SENSOR = """
mutation($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
  __typename ... on Sensor { sensorState { status } } ... on PythonError { message } } }
"""
SET_POOL_LIMIT = """
mutation($pool: String!, $limit: Int!) { setConcurrencyLimit(concurrencyKey: $pool, limit: $limit) }
"""
ADD_PARTITION = """
mutation($repo: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: $name, partitionKey: $key) {
    __typename ... on PythonError { message } } }
"""
LAUNCH_RUN = """
mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }
"""
LAUNCH_BACKFILL = """
mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }
"""
