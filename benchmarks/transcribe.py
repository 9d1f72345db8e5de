"""Transcription benchmark: the ``transcriptions`` asset against the ideal and a one-at-a-time loop.

    python benchmarks/transcribe.py             # 200 files, ~1 minute
    python benchmarks/transcribe.py --quick     # 60 files: a smoke run

1. 200 short WAV files against the local OpenAI fake (its own process) answering every request after
   300 ms and every 20th request with 429 (Retry-After 1 s), through the whole asset
   (in-process materialization; SQLite catalog, local folder as bucket), at the asset's
   default concurrency (8). Ideal = files × latency / concurrency (no 429s, no overhead).
   vs_ideal = ideal / the transcription's wall time (first claim to last catalog write,
   the run's own `seconds`); vs_ideal_run = ideal / the whole in-process materialization,
   which adds Dagster's fixed cost of starting a run (~1 s here) and the checks.
2. The seeds' worker loop, one file at a time (SDK call, sleep on 429, write), on a
   subset; vs_sequential = the asset's files/s / the loop's files/s.
3. The local provider (faster-whisper tiny.en, CPU) on the shipped speech sample:
   real-time factor = transcription seconds / audio seconds (lower is faster).
4. A pending_transcriptions_sensor tick over 100,000 pending rows in PostgreSQL (when a
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
import sqlalchemy as sa  # noqa: E402

from media_pipeline_dagster.resources.databases import CatalogResource  # noqa: E402
from media_pipeline_dagster.resources.object_store import LocalObjectStoreResource  # noqa: E402
from media_pipeline_dagster_tests.transcription.conftest import openai_transcriber  # noqa: E402
from media_pipeline_dagster_tests.transcription.helpers import SAMPLES, materialize, metadata, seed_audio, wav_bytes  # noqa: E402

LATENCY_S = 0.3
RATE_LIMIT_EVERY = 20
RETRY_AFTER_S = 1.0
CONCURRENCY = 8  # the asset's default (TranscriptionConfig.concurrency)


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
        )
        self.proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(options)], cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
        info = json.loads(self.proc.stdout.readline())
        self.base_url, self.api_key = info["base_url"], info["api_key"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def asset_run(files: int, tmp: Path) -> tuple[float, dict]:
    with _RemoteFake(latency=LATENCY_S, rate_limit_every=RATE_LIMIT_EVERY, retry_after=RETRY_AFTER_S) as server:
        catalog = CatalogResource(database_url=f"sqlite:///{tmp / 'catalog.sqlite'}")
        store = LocalObjectStoreResource(root_dir=str(tmp / "bucket"))
        seed_audio(catalog.engine, store.store, [wav_bytes(0.5, freq=200 + i) for i in range(files)])
        resources = {"catalog": catalog, "object_store": store, "transcriber": openai_transcriber(server)}
        with dg.instance_for_test() as instance:
            started = time.perf_counter()
            result = materialize(instance, resources, concurrency=CONCURRENCY)
            wall = time.perf_counter() - started
        return wall, metadata(result)


def sequential_loop(files: int) -> float:
    """The legacy worker's shape: one file, one request, sleep on 429, next file."""
    with _RemoteFake(latency=LATENCY_S, rate_limit_every=RATE_LIMIT_EVERY, retry_after=RETRY_AFTER_S) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=5)
        bodies = [wav_bytes(0.5, freq=200 + i) for i in range(files)]
        started = time.perf_counter()
        for i, body in enumerate(bodies):
            client.audio.transcriptions.create(file=(f"{i}.wav", body), model="whisper-1", response_format="verbose_json",
                                               timestamp_granularities=["segment"])
        return time.perf_counter() - started


def local_rtf() -> tuple[float, float]:
    from media_pipeline_dagster.transcription.local_provider import LocalWhisperProvider
    from media_pipeline_dagster.transcription.providers import TranscribeRequest

    provider = LocalWhisperProvider()
    sample = sorted(SAMPLES.glob("*.wav"))[0]
    provider.transcribe(sample, TranscribeRequest(model="tiny.en"))  # warm-up
    started = time.perf_counter()
    transcript = provider.transcribe(sample, TranscribeRequest(model="tiny.en"))
    return (time.perf_counter() - started) / transcript.duration, transcript.duration


def sensor_tick(rows: int) -> float | None:
    from media_pipeline_dagster.resources.transcriber import TranscriberResource
    from media_pipeline_dagster.transcription.sensors import pending_transcriptions_sensor
    from media_pipeline_dagster_tests.servers import postgres

    try:
        base = postgres.ensure_server()
    except Exception as exc:  # no PostgreSQL here: say so instead of guessing
        print(f"(sensor tick skipped: {exc})")
        return None
    with postgres.temporary_database(base) as url, dg.instance_for_test() as instance:
        catalog = CatalogResource(database_url=url)
        with catalog.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO media_pipeline.audio_files (campaign_name, url, url_sha1, started) "
                "SELECT 'Campaign ' || (g % 40), 'https://x/' || g, md5(g::text), "
                "timestamptz '2025-01-01 10:00+00' + (g % 300) * interval '1 day' FROM generate_series(1, :n) g"), {"n": rows})
            conn.execute(sa.text("ANALYZE media_pipeline.audio_files"))
        resources = {"catalog": catalog, "transcriber": TranscriberResource(provider="local")}
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            started = time.perf_counter()
            result = pending_transcriptions_sensor(context)
            elapsed = time.perf_counter() - started
        print(f"sensor: {len(result.run_requests)} run requests for {rows:,} pending rows")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--sequential-files", type=int, default=40)
    parser.add_argument("--sensor-rows", type=int, default=100_000)
    args = parser.parse_args()
    if args.quick:
        args.files, args.sequential_files, args.sensor_rows = 60, 20, 10_000
    warnings.filterwarnings("ignore")

    with tempfile.TemporaryDirectory() as tmp:
        wall, meta = asset_run(args.files, Path(tmp))
    ideal = args.files * LATENCY_S / CONCURRENCY
    seq_wall = sequential_loop(args.sequential_files)
    asset_fps, seq_fps = args.files / wall, args.sequential_files / seq_wall
    rtf, audio_s = local_rtf()
    tick = sensor_tick(args.sensor_rows)

    print(f"{'measure':<44}{'value':>12}")
    print(f"{'asset: files':<44}{args.files:>12}")
    print(f"{'asset: wall seconds':<44}{wall:>12.2f}")
    print(f"{'  of which transcribing (claims to last write)':<44}{meta['seconds']:>12.2f}")
    print(f"{'ideal seconds (files x latency / conc.)':<44}{ideal:>12.2f}")
    print(f"{'asset: 429 answers retried':<44}{meta['rate_limited_retries']:>12}")
    print(f"{'asset: files/s':<44}{asset_fps:>12.2f}")
    print(f"{'one-at-a-time loop: files/s':<44}{seq_fps:>12.2f}")
    print(f"{'local tiny.en: audio seconds':<44}{audio_s:>12.2f}")
    print(f"{'local tiny.en: real-time factor':<44}{rtf:>12.3f}")
    if tick is not None:
        print(f"{'sensor tick seconds at ' + format(args.sensor_rows, ',') + ' rows':<44}{tick:>12.2f}")
    assert meta["transcribed"] == args.files, meta
    figures = {
        "vs_ideal": round(ideal / meta["seconds"], 2), "vs_ideal_run": round(ideal / wall, 2), "vs_sequential": round(asset_fps / seq_fps, 1), "local_rtf": round(rtf, 3),
    }
    if tick is not None:
        figures["sensor_tick_s"] = round(tick, 2)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
