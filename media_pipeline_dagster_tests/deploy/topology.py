"""Dagster's processes started as separate OS processes from the deploy/ files, as systemd would.

Each command is the ExecStart of a unit in deploy/systemd, with the virtualenv, the
workspace file and the ports made local; so the tests run what the units run.
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
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNIT_PREFIX = "/opt/media_pipeline"
LOCATION = "media_pipeline_dagster"
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


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, on_timeout: Callable[[], str] = lambda: "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{on_timeout()}")
        time.sleep(0.3)


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
        venv_bin = str(Path(sys.executable).parent)  # as the units' PATH: dagster-celery runs `celery` by name
        self.env = {**os.environ, **env, "DAGSTER_HOME": str(self.home), "PYTHONUNBUFFERED": "1",
                    "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = root / "logs"
        self.logs.mkdir()
        self.web_url = f"http://127.0.0.1:{self.web_port}"

    # --- processes -----------------------------------------------------------------
    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        # A session of its own: stopping it stops its children (a code server's runs too).
        proc = subprocess.Popen(argv, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=60)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGKILL)

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

    # --- the webserver's GraphQL API -------------------------------------------------
    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = requests.post(f"{self.web_url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
        assert response.status_code == 200, f"GraphQL answered {response.status_code}: {response.text[:2000]}"
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
                if "UNAVAILABLE" in (error.get("message") or ""):  # the code server is still importing
                    self.graphql(RELOAD_LOCATION, {"name": LOCATION})
                    return False
                assert error["__typename"] == "RepositoryLocation", f"code location failed to load: {error}"
                return True
        return False

    def wait_for_code_server(self, timeout: float = 180) -> None:
        """As systemd's After= would: the code server answers before the others start."""
        def answers() -> bool:
            with socket.socket() as s:
                s.settimeout(1)
                return s.connect_ex(("127.0.0.1", self.code_port)) == 0
        wait_for("the code server's port", answers, timeout, self.log_tail)

    def wait_until_loaded(self, timeout: float = 180) -> None:
        wait_for("the code location in the webserver", self._location_loaded, timeout, self.log_tail)

    def start_sensor(self, sensor: str) -> str:
        selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "sensorName": sensor}
        result = self.graphql(START_SENSOR, {"selector": selector})["startSensor"]
        assert result["__typename"] == "Sensor", result
        return result["sensorState"]["status"]

    def runs(self) -> list[dict]:
        return self.graphql(RUNS_QUERY)["runsOrError"]["results"]


WORKSPACE_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
START_SENSOR = """
mutation($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
  __typename ... on Sensor { sensorState { status } } ... on PythonError { message } } }
"""
RELOAD_LOCATION = """
mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) { __typename } }
"""
RUNS_QUERY = """
{ runsOrError { ... on Runs { results { runId status jobName
    tags { key value } assetSelection { path } } } } }
"""
