"""The WAN-shaped regime of ingest.py: origin and bucket each behind a userspace WAN.

Where users live, recordings come from a dialer's storage over the internet into B2. No
netem here, so ``_shaper.py`` stands between the tools and both servers: about 40 ms per
round trip (and one more per new connection), a cap per connection and direction, and an
aggregate cap per direction. The asset and ``rclone copyurl`` copy the same 1 MiB files
through the same two shapers, at the same concurrency and each at its own default.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Wan:
    rtt_ms: float = 40.0
    conn_mbit: float = 50.0
    total_mbit: float = 1000.0

    def describe(self) -> str:
        return f"{self.rtt_ms:.0f} ms RTT, {self.conn_mbit:.0f} Mbit/s per connection, {self.total_mbit:.0f} Mbit/s in all"


@contextmanager
def shaper(upstream_url: str, wan: Wan) -> Iterator[str]:
    """``_shaper.py`` in its own process in front of ``upstream_url``; yields the shaped base URL."""
    parts = urlsplit(upstream_url)
    cmd = [
        sys.executable,
        str(HERE / "_shaper.py"),
        "--upstream",
        parts.netloc,
        "--rtt-ms",
        str(wan.rtt_ms),
        "--conn-mbit",
        str(wan.conn_mbit),
        "--total-mbit",
        str(wan.total_mbit),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith("port="):
            raise RuntimeError(f"shaper failed to start (said {line!r})")
        yield f"{parts.scheme}://127.0.0.1:{int(line.split('=', 1)[1])}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def shaped(origin_url: str, s3, wan: Wan) -> Iterator[tuple[str, object]]:
    """(shaped origin URL, an S3 server handle whose endpoint is shaped)."""
    with ExitStack() as stack:
        origin = stack.enter_context(shaper(origin_url, wan))
        endpoint = stack.enter_context(shaper(s3.endpoint_url, wan))
        yield origin, replace(s3, endpoint_url=endpoint)
