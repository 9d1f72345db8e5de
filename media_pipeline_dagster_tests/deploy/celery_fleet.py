"""A fleet of Celery workers for the deployment tests: a Redis of their own, and
`dagster-celery worker start` processes started from the systemd template's command."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .topology import DEPLOY, Deployment, exec_start, free_port, localize


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server on a free port (nothing kept on disk), so parallel test runs
    on one machine never share a queue. scripts/test.sh installs the binary when absent."""
    import redis

    binary = shutil.which("redis-server")
    assert binary, (
        "redis-server is not installed: run scripts/test.sh (it installs it) or apt-get install redis-server"
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                redis.Redis(port=port).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, (
                    "redis-server did not start"
                )
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def start_worker(deployment: Deployment, name: str, queue: str) -> None:
    """The ExecStart of media-dagster-celery-worker@<queue>.service, one step at a time."""
    argv = localize(exec_start("media-dagster-celery-worker@.service"), deployment.workspace)
    argv = [a.replace("%i", queue) for a in argv]
    argv[argv.index("-n") + 1] = name
    argv = [a for a in argv if not a.startswith("--concurrency")] + ["--concurrency=1"]
    assert str(DEPLOY / "celery" / "worker.yaml") in argv
    deployment.start(f"worker-{name}", argv)


def pause(deployment: Deployment, *workers: str) -> None:
    """Freeze the workers' processes (SIGSTOP): steps sent meanwhile wait in Redis."""
    for name in workers:
        deployment.signal_group(f"worker-{name}", signal.SIGSTOP)


def resume(deployment: Deployment, *workers: str) -> None:
    for name in workers:
        deployment.signal_group(f"worker-{name}", signal.SIGCONT)


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def step_process(deployment: Deployment, worker: str) -> int:
    """The pool process that runs a worker's step: dagster-celery → celery (main) → pool process."""
    [main] = children(deployment.procs[f"worker-{worker}"].pid)
    [pool] = children(main)  # --concurrency=1
    return pool


def celery_hosts(deployment: Deployment, run_id: str) -> dict[str, set[str]]:
    """step key → the workers that executed it (dagster-celery's engine event names them)."""
    hosts: dict[str, set[str]] = defaultdict(set)
    for record in deployment.instance.all_logs(run_id):
        event = record.dagster_event
        metadata = (
            (event.engine_event_data.metadata or {})
            if event and event.is_engine_event and event.engine_event_data
            else {}
        )
        if "Celery worker" in metadata:
            hosts[event.step_key].add(metadata["Celery worker"].value.split("@")[0])
    return hosts


def submitted(deployment: Deployment, run_id: str, step: str) -> str | None:
    """The queue a run's step was sent to, once the run sent it."""
    prefix = f'Submitting celery task for step "{step}" to queue "'
    for message in deployment.messages(run_id):
        if message.startswith(prefix):
            return message[len(prefix) :].split('"')[0]
    return None
