"""Transcription benchmark: the ``transcriptions`` asset against the ideal and a one-at-a-time loop.

    python benchmarks/transcribe.py             # about 3 minutes
    python benchmarks/transcribe.py --quick     # a smoke run

1. Paced: 300 short WAV files against the local OpenAI fake (its own process) answering
   after 300 ms under a budget of 600 requests per minute enforced per second (a bucket
   of 10 refilled continuously, as OpenAI may quantize a minute's limit), with
   x-ratelimit-* headers on every answer and 429 beyond the budget. The asset at its
   default concurrency (8) paces itself from the headers. Ideal = the slower of the
   concurrency bound (files x latency / concurrency) and the rate bound (the burst at
   once, then one request per 60/limit s, plus one latency):
   paced_vs_ideal = ideal / the transcription's own seconds (first claim to last catalog
   write); rate_limited_share = 429 answers / all requests. Reference in the same run: the
   asset with pacing off against the same budget (today's way: bounce off 429s).
2. 200 files, every 20th request answered 429 (Retry-After 1 s), no budget headers:
   vs_ideal = (files x latency / concurrency) / transcription seconds; vs_ideal_run adds
   Dagster's fixed cost of starting a run and the checks.
3. The seeds' worker loop, one file at a time (SDK call, sleep on 429, write), on a
   subset; vs_sequential = the asset's files/s / the loop's files/s.
4. The local provider (faster-whisper tiny.en, CPU) on the shipped speech sample, its
   language check included: real-time factor = seconds / audio seconds.
5. A pending_transcriptions_sensor tick over 100,000 pending rows in PostgreSQL (when a
   server answers on 127.0.0.1:5432), against the 60 s sensor limit.

Prints a table, then as its LAST line ``name=value`` pairs for scripts to parse.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import dagster as dg  # noqa: E402
import openai  # noqa: E402

from media_pipeline_dagster.resources.bucket import FolderBucket  # noqa: E402
from media_pipeline_dagster.resources.databases import CatalogResource  # noqa: E402
from media_pipeline_dagster.resources.fetch import FetchPolicyResource  # noqa: E402
from media_pipeline_dagster_tests.transcription.conftest import openai_transcriber  # noqa: E402
from media_pipeline_dagster_tests.transcription.helpers import (  # noqa: E402
    SAMPLES,
    materialize,
    metadata,
    seed_audio,
    wav_bytes,
)

LATENCY_S = 0.3
RATE_LIMIT_EVERY = 20
RETRY_AFTER_S = 1.0
CONCURRENCY = 8  # the asset's default (TranscriptionConfig.concurrency)
RPM_LIMIT, RPM_BURST = (
    600,
    10,
)  # 10 requests/s: the rate, not the 26.7/s of 8 slots at 300 ms, binds


class _RemoteFake:
    """The OpenAI fake in its own process, as the real API is: sharing this process's GIL
    with the client would add tens of ms to every request that no real deployment sees."""

    def __init__(self, **options):
        import json
        import subprocess

        code = (
            "import json, sys, time\n"
            "from media_pipeline_dagster_tests.servers.openai_fake import openai_server\n"
            "with openai_server(**json.loads(sys.argv[1])) as s:\n"
            "    print(json.dumps({'base_url': s.base_url, 'api_key': s.api_key}), flush=True)\n"
            "    sys.stdin.read()\n"
            "    print(json.dumps(s.counts), flush=True)\n"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(options)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
        )
        info = json.loads(self.proc.stdout.readline())
        self.base_url, self.api_key = info["base_url"], info["api_key"]
        self.counts: dict[int, int] = {}  # answers by HTTP status, known once the fake stopped

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        import json

        self.proc.stdin.close()
        self.counts = {
            int(k): v for k, v in json.loads(self.proc.stdout.readline() or "{}").items()
        }
        self.proc.wait(timeout=30)


def asset_run(files: int, tmp: Path) -> tuple[float, dict]:
    with _RemoteFake(
        latency=LATENCY_S, rate_limit_every=RATE_LIMIT_EVERY, retry_after=RETRY_AFTER_S
    ) as server:
        catalog = CatalogResource(database_url=f"sqlite:///{tmp / 'catalog.sqlite'}")
        store = FolderBucket(root_dir=str(tmp / "bucket"))
        seed_audio(catalog.engine, store, [wav_bytes(0.5, freq=200 + i) for i in range(files)])
        resources = {
            "catalog": catalog,
            "object_store": store,
            "transcriber": openai_transcriber(server),
            "fetch_policy": FetchPolicyResource(),
        }
        with dg.instance_for_test() as instance:
            started = time.perf_counter()
            result = materialize(instance, resources, concurrency=CONCURRENCY)
            wall = time.perf_counter() - started
        return wall, metadata(result)


def paced_run(files: int, tmp: Path, pace: bool) -> tuple[float, dict, dict[int, int]]:
    """The asset against a requests-per-minute budget: (whole run seconds, metadata, answers by status)."""
    with _RemoteFake(latency=LATENCY_S, rpm_limit=RPM_LIMIT, rpm_burst=RPM_BURST) as server:
        catalog = CatalogResource(database_url=f"sqlite:///{tmp / 'catalog.sqlite'}")
        store = FolderBucket(root_dir=str(tmp / "bucket"))
        seed_audio(catalog.engine, store, [wav_bytes(0.5, freq=200 + i) for i in range(files)])
        resources = {
            "catalog": catalog,
            "object_store": store,
            "transcriber": openai_transcriber(server, pace_requests=pace),
            "fetch_policy": FetchPolicyResource(),
        }
        with dg.instance_for_test() as instance:
            started = time.perf_counter()
            result = materialize(instance, resources, concurrency=CONCURRENCY)
            wall = time.perf_counter() - started
    return wall, metadata(result), server.counts


def paced_ideal(files: int) -> tuple[float, float]:
    """(concurrency bound, rate bound) in seconds for ``files`` requests."""
    concurrency_bound = -(-files // CONCURRENCY) * LATENCY_S
    rate_bound = max(0, files - RPM_BURST) * 60.0 / RPM_LIMIT + LATENCY_S
    return concurrency_bound, rate_bound


def sequential_loop(files: int) -> float:
    """The legacy worker's shape: one file, one request, sleep on 429, next file."""
    with _RemoteFake(
        latency=LATENCY_S, rate_limit_every=RATE_LIMIT_EVERY, retry_after=RETRY_AFTER_S
    ) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=5)
        bodies = [wav_bytes(0.5, freq=200 + i) for i in range(files)]
        started = time.perf_counter()
        for i, body in enumerate(bodies):
            client.audio.transcriptions.create(
                file=(f"{i}.wav", body),
                model="whisper-1",
                response_format="verbose_json",
                timestamp_granularities=["segment"],
            )
        return time.perf_counter() - started


def local_rtf() -> tuple[float, float]:
    from media_pipeline_dagster.resources.transcriber.local_provider import (
        LocalWhisperProvider,
    )
    from media_pipeline_dagster.resources.transcriber.providers import TranscribeRequest

    provider = LocalWhisperProvider()
    sample = sorted(SAMPLES.glob("*.wav"))[0]
    provider.transcribe(sample, TranscribeRequest(model="tiny.en"))  # warm-up
    started = time.perf_counter()
    transcript = provider.transcribe(sample, TranscribeRequest(model="tiny.en"))
    return (time.perf_counter() - started) / transcript.duration, transcript.duration


def sensor_tick(rows: int) -> float | None:
    from _pending import pending_tick

    from media_pipeline_dagster_tests.servers import postgres

    try:
        base = postgres.ensure_server()
    except Exception as exc:  # no PostgreSQL here: say so instead of guessing
        print(f"(sensor tick skipped: {exc})")
        return None
    elapsed, result = pending_tick(base, rows)
    print(f"sensor: {len(result.run_requests or [])} run requests for {rows:,} pending rows")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--paced-files", type=int, default=300)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--sequential-files", type=int, default=40)
    parser.add_argument("--sensor-rows", type=int, default=100_000)
    args = parser.parse_args()
    if args.quick:
        args.paced_files, args.files, args.sequential_files, args.sensor_rows = 100, 60, 20, 10_000
    warnings.filterwarnings("ignore")

    runs = {}
    for pace in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            runs[pace] = paced_run(args.paced_files, Path(tmp), pace)
    concurrency_bound, rate_bound = paced_ideal(args.paced_files)
    ideal_paced = max(concurrency_bound, rate_bound)
    (paced_wall, paced, paced_counts), (_, bounced, bounced_counts) = runs[True], runs[False]
    assert paced["transcribed"] == args.paced_files and paced["failed"] == 0, paced

    def share(counts: dict[int, int]) -> float:
        return counts.get(429, 0) / max(1, sum(counts.values()))

    with tempfile.TemporaryDirectory() as tmp:
        wall, meta = asset_run(args.files, Path(tmp))
    assert meta["transcribed"] == args.files, meta
    ideal = args.files * LATENCY_S / CONCURRENCY
    seq_wall = sequential_loop(args.sequential_files)
    asset_fps, seq_fps = args.files / wall, args.sequential_files / seq_wall
    rtf, audio_s = local_rtf()
    tick = sensor_tick(args.sensor_rows)

    rows = [
        (
            f"paced: files ({RPM_LIMIT} RPM, burst {RPM_BURST}, {LATENCY_S * 1000:.0f} ms, conc. {CONCURRENCY})",
            args.paced_files,
        ),
        ("  concurrency bound seconds", f"{concurrency_bound:.2f}"),
        ("  rate bound seconds (ideal = the larger)", f"{rate_bound:.2f}"),
        ("  asset, paced: transcription seconds", f"{paced['seconds']:.2f}"),
        ("  asset, paced: whole run seconds", f"{paced_wall:.2f}"),
        (
            "  asset, paced: 429 answers / all answers",
            f"{paced_counts.get(429, 0)} / {sum(paced_counts.values())}",
        ),
        ("  asset, paced: seconds waiting for the budget", f"{paced['paced_wait_seconds']:.2f}"),
        ("  reference, unpaced: transcription seconds", f"{bounced['seconds']:.2f}"),
        (
            "  reference, unpaced: 429 answers / all answers",
            f"{bounced_counts.get(429, 0)} / {sum(bounced_counts.values())}",
        ),
        ("  reference, unpaced: files parked on a cooldown", bounced["failed"]),
        (f"429 every {RATE_LIMIT_EVERY}th: files", args.files),
        ("  asset: wall seconds", f"{wall:.2f}"),
        ("  of which transcribing (claims to last write)", f"{meta['seconds']:.2f}"),
        ("  ideal seconds (files x latency / conc.)", f"{ideal:.2f}"),
        ("  asset: 429 answers retried", meta["rate_limited_retries"]),
        ("  asset: files/s", f"{asset_fps:.2f}"),
        ("  one-at-a-time loop: files/s", f"{seq_fps:.2f}"),
        ("local tiny.en: audio seconds", f"{audio_s:.2f}"),
        ("local tiny.en: real-time factor (with language check)", f"{rtf:.3f}"),
    ]
    if tick is not None:
        rows.append((f"sensor tick seconds at {args.sensor_rows:,} rows", f"{tick:.2f}"))
    for label, value in [("measure", "value"), *rows]:
        print(f"{label:<56}{value!s:>14}")
    figures = {
        "paced_vs_ideal": round(ideal_paced / paced["seconds"], 3),
        "rate_limited_share": round(share(paced_counts), 4),
        "unpaced_rate_limited_share": round(share(bounced_counts), 4),
        "unpaced_files_parked": bounced["failed"],
        "vs_ideal": round(ideal / meta["seconds"], 2),
        "vs_ideal_run": round(ideal / wall, 2),
        "vs_sequential": round(asset_fps / seq_fps, 1),
        "local_rtf": round(rtf, 3),
    }
    if tick is not None:
        figures["sensor_tick_s"] = round(tick, 2)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
