"""Profile one ``audio_files`` materialization of a benchmark set: stage timers and py-spy.

    python benchmarks/profile_asset.py small            # 2,000 x 64 KiB from rclone serve http
    python benchmarks/profile_asset.py large            # 20 x 16 MiB
    python benchmarks/profile_asset.py wan              # 500 x 64 KiB, 50 ms origin
    python benchmarks/profile_asset.py small --raw out.txt   # also keep py-spy's collapsed stacks

Same servers and inputs as ingest.py; one untimed warm-up run, then py-spy (pip install
py-spy) attaches to this process for exactly the measured run. Prints the wall/CPU split
and where the Python threads spent their (non-idle) samples: by leaf function (self) and
by selected product/library frames (inclusive). obstore's and aiohttp's native work on
other threads is invisible to py-spy without --native; the CPU split shows it as client.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Self

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _origin
import ingest
from ingest import KiB, MiB

SETS = {"small": (2000, 64 * KiB), "large": (20, 16 * MiB), "wan": (500, 64 * KiB)}
# Inclusive-time buckets (regexes on py-spy frames "function (file:line)"): a sample counts
# for every bucket with a frame on its stack. Function names, not line numbers, so the
# buckets survive edits of the product; a bucket that never matches shows 0%.
BUCKETS = {
    "asset body: audio_files()": r"^audio_files \(media_pipeline_dagster/calls/assets",
    "  stream_rows(): read + parse CSV (inside ingest)": r"^stream_rows \(media_pipeline_dagster",
    "  plan(): catalog look-ups": r"^plan \(media_pipeline_dagster",
    "  transfer_one(): per-file coroutine": r"transfer_one \(media_pipeline_dagster",
    "    hashing (Sink.feed)": r"\bfeed \(media_pipeline_dagster",
    "    upload call (put / put_async)": r"(^|\.)_?put(_stream)? \(media_pipeline_dagster",
    "    memory budget": r"^MemoryBudget\.",
    "  catalog writes (_CatalogWriter)": r"^_CatalogWriter\.",
    "  asset checks (check_results)": r"^check_results \(media_pipeline_dagster",
    "  build_metadata()": r"^build_metadata \(media_pipeline_dagster",
    "any SQLAlchemy frame": r"\(sqlalchemy/",
    "any aiohttp frame": r"\(aiohttp/",
    "any dagster frame": r"\(dagster/",
    "asyncio loop bookkeeping (_run_once self + callbacks from native threads)": r"^(BaseEventLoop\._run_once|BaseEventLoop\.call_soon_threadsafe|BaseSelectorEventLoop\._(read_from|write_to)_self) \(asyncio/",
}
# Stages timed by wrapping product functions (module, attribute path as the caller looks
# it up). Sync functions only: their CPU is the calling thread's (time.thread_time), so a
# worker thread's insert batch is billed its own CPU, not the waiting on PostgreSQL.
STAGES = (
    # The rows stream into ingest(): reading and parsing them is inside its time; the
    # structure-only first pass over each CSV is timed alone.
    ("media_pipeline_dagster.calls.sources", "check_readable", "CSV structure pass"),
    (
        "media_pipeline_dagster.calls.assets",
        "ingest",
        "ingest(): read + parse, plan, transfers, catalog writes",
    ),
    ("media_pipeline_dagster.calls.ingest", "plan", "  plan(): catalog look-ups"),
    (
        "media_pipeline_dagster.calls.ingest",
        "_CatalogWriter._write",
        "  catalog write batches (worker threads)",
    ),
    (
        "media_pipeline_dagster.resources.transfer_core",
        "Sink.feed",
        "  sha256 + size of the bodies",
    ),
    ("media_pipeline_dagster.calls.assets", "build_metadata", "build_metadata()"),
    ("media_pipeline_dagster.calls.checks", "check_results", "asset checks"),
)
IDLE_LEAVES = re.compile(r"^(EpollSelector\.select|select|Condition\.wait|_worker|Event\.wait) \(")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.path.exists(found):
        raise SystemExit("py-spy not found: .venv/bin/python -m pip install py-spy")
    return found


def start_py_spy(out: Path, rate: int, native: bool) -> subprocess.Popen:
    cmd = [
        py_spy(),
        "record",
        "--pid",
        str(os.getpid()),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(out),
        "--threads",
    ]
    # --native (C/Rust frames, e.g. obstore's) needs to pause the threads it samples.
    cmd += ["--native"] if native else ["--nonblocking"]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    time.sleep(1.0)  # let it attach before the clock starts
    return proc


def stop_py_spy(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
    proc.wait(timeout=60)


class StageTimers:
    """Wrap the STAGES functions for the duration of a ``with`` block; sum wall and CPU."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}  # label -> [calls, wall s, thread CPU s]
        self._undo: list[tuple[object, str, object]] = []

    def __enter__(self) -> Self:
        import importlib

        for module_name, path, label in STAGES:
            owner = importlib.import_module(module_name)
            *parents, name = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent, None)
            original = getattr(owner, name, None) if owner is not None else None
            if original is None:
                print(f"(stage {module_name}.{path} not found: the product changed; not timed)")
                continue
            self.totals[label] = [0, 0.0, 0.0]
            setattr(owner, name, self._timed(original, self.totals[label]))
            self._undo.append((owner, name, original))
        return self

    @staticmethod
    def _timed(fn, total: list[float]):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                total[0] += 1
                total[1] += time.perf_counter() - wall
                total[2] += time.thread_time() - cpu

        return wrapper

    def __exit__(self, *exc) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)

    def report(self, whole_seconds: float) -> None:
        print(
            "\nstages (wall s summed over calls, so concurrent calls can exceed the run; CPU s of the calling thread):"
        )
        body = sum(
            self.totals.get(label, [0, 0.0])[1]
            for label in (
                "read + parse the CSV inbox",
                "ingest(): read + parse, plan, transfers, catalog writes",
                "build_metadata()",
                "asset checks",
            )
        )
        for label, (calls, wall, cpu) in self.totals.items():
            print(f"  {label:<46} {int(calls):>6} calls {wall:>7.2f} s wall {cpu:>7.2f} s CPU")
        print(
            f"  {'Dagster run around the asset body':<46} {'':>12} {whole_seconds - body:>7.2f} s wall"
        )


def read_raw(raw: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def summarize(raw: Path, top: int) -> None:
    """Percentages of the busy samples (threads waiting in select/condition waits left out)."""
    stacks = read_raw(raw)
    busy = {frames: n for frames, n in stacks.items() if not IDLE_LEAVES.match(frames[-1])}
    total = sum(busy.values())
    print(f"\npy-spy: {sum(stacks.values())} samples, {total} busy (not waiting in select/locks)")
    if not total:
        return
    threads: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    patterns = {name: re.compile(rx) for name, rx in BUCKETS.items()}
    for frames, n in busy.items():
        name = (
            frames[0].split(": ", 1)[-1] if ": " in frames[0] else "native thread, no Python frames"
        )
        threads[
            "MainThread (asyncio loop, Dagster)"
            if name == "MainThread"
            else "to_thread workers"
            if name.startswith("asyncio_")
            else name
        ] += n
        leaves[frames[-1] if len(frames) > 1 else "(native code, no Python frame)"] += n
        for bucket, rx in patterns.items():
            if any(rx.search(f) for f in frames[1:]):
                buckets[bucket] += n
    print("\nby thread:")
    for name, n in threads.most_common(8):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("\ninclusive, selected frames:")
    for name in BUCKETS:
        print(f"  {100 * buckets[name] / total:5.1f}%  {name}")
    print(f"\nself time, top {top} leaf frames:")
    for name, n in leaves.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Profile one audio_files materialization with py-spy."
    )
    parser.add_argument("set", choices=sorted(SETS))
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument(
        "--raw", type=Path, help="keep py-spy's collapsed stacks here (flamegraph input)"
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--no-py-spy", action="store_true", help="stage timers only (no sampling overhead)"
    )
    parser.add_argument(
        "--native", action="store_true", help="also sample native frames (slower, perturbs timings)"
    )
    args = parser.parse_args()

    from media_pipeline_dagster_tests.servers.postgres import ensure_server
    from media_pipeline_dagster_tests.servers.seaweed import seaweedfs_server

    count, size = SETS[args.set]
    rclone, s5 = ingest.tool_paths()
    with tempfile.TemporaryDirectory(prefix="mpd-profile-") as tmp:
        scratch = Path(tmp)
        folder = scratch / "origin" / args.set
        names = _origin.write_files(folder, count, size) if args.set != "wan" else []
        with seaweedfs_server(scratch / "seaweedfs") as s3:
            s3.create_bucket("bench")
            env = ingest.Env(scratch, s3, ensure_server(), "bench", args.concurrency, rclone, s5)
            if args.set == "wan":
                origin_cm = _origin.generated_origin(ingest.WAN_DELAY_S)
            else:
                origin_cm = _origin.static_origin(rclone, scratch / "origin")
            with origin_cm as origin:
                if args.set == "wan":
                    urls = ingest.gen_urls(origin, count, size, "wan")
                else:
                    urls = [f"{origin}/{args.set}/{n}" for n in names]
                ingest.asset_once(env, urls, "warmup")
                raw = args.raw or scratch / "py-spy.txt"
                spy = start_py_spy(raw, args.rate, args.native) if not args.no_py_spy else None
                try:
                    with StageTimers() as stages:
                        whole, transfer = ingest.asset_once(env, urls, args.set)
                finally:
                    if spy is not None:
                        stop_py_spy(spy)
        print(
            f"{args.set}: {count} x {ingest.fmt_size(size)}, concurrency {args.concurrency}: "
            f"materialize {whole.seconds:.2f} s ({count / whole.seconds:.0f} files/s, "
            f"{count * size / MiB / whole.seconds:.1f} MiB/s), of which transfer {transfer.seconds:.2f} s"
            + ("" if args.no_py_spy else " (timings include py-spy's overhead)")
        )
        print(
            f"CPU s client/s3/origin/other: {ingest.cpu_split(whole.cpu)} over {whole.seconds:.2f} s wall "
            f"on {os.cpu_count()} cores"
        )
        stages.report(whole.seconds)
        if spy is not None:
            summarize(raw, args.top)


if __name__ == "__main__":
    main()
