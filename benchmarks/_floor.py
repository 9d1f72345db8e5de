"""The CPU floors of ingest.py: what one hash per byte and rclone's own client cost.

A copy client has to read every byte from the origin and write it to the bucket (rclone
does only that), and the catalog needs one SHA-256 of it. So the floor for the asset's
process is rclone's client CPU plus SHA-256 of the same bytes, both measured in the same
run. Dagster's fixed cost per run (a materialization of a partition without rows) is
measured apart and taken off the asset's client CPU: it is paid once per run, not per
byte, and says nothing about the transfer.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Iterable, Sequence
from pathlib import Path


def sha256_cpu_s(paths: Iterable[Path], rounds: int = 3) -> float:
    """Thread CPU seconds SHA-256 needs for these files' bytes (read first, off the clock); best of ``rounds``."""
    blobs = [p.read_bytes() for p in paths]
    best = float("inf")
    for _ in range(rounds):
        t0 = time.thread_time()
        for blob in blobs:
            hashlib.sha256(blob).digest()
        best = min(best, time.thread_time() - t0)
    return best


def median_client_cpu(samples: Sequence) -> float:
    """Median client CPU over the runs (the CPU a tool needs varies less than its wall time)."""
    return statistics.median(s.cpu["client"] for s in samples)


def cpu_figures(
    asset: Sequence, rclone: Sequence, fixed_cpu_s: float, sha256_s: float | None
) -> dict[str, float]:
    """The asset's client CPU against rclone's (and the hash floor when ``sha256_s`` is given)."""
    a, r = median_client_cpu(asset), median_client_cpu(rclone)
    net = max(0.0, a - fixed_cpu_s)
    out = {
        "asset_client_cpu_s": a,
        "asset_net_cpu_s": net,
        "rclone_client_cpu_s": r,
        "net_vs_rclone": net / r,
        "with_dagster_vs_rclone": a / r,
    }
    if sha256_s is not None:
        floor = sha256_s + r
        out.update(
            sha256_cpu_s=sha256_s,
            floor_cpu_s=floor,
            net_vs_floor=net / floor,
            with_dagster_vs_floor=a / floor,
        )
    return out
