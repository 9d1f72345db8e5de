"""Gateway benchmark: the status endpoint under a steady load from a second process.

    python benchmarks/gateway.py                  # 200 requests/s for 30 s
    python benchmarks/gateway.py --rate 400 --seconds 10

Serves the app with uvicorn (its own process) on a PostgreSQL catalog (a throwaway
database on the local server, as in production) holding 1,000 audio files, a third of them transcribed, and runs an open-loop load generator
(aiohttp, its own process) that starts a request every 1/rate seconds whatever the
answers' speed, so slow answers show as latency instead of a lower rate.
Target: 0 errors and p99 <= 50 ms at 200 requests/s.
Prints a table, then as its LAST line ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
KEY = "bench-key-" + "0" * 20

LOAD = r'''
import asyncio, json, sys, time
import aiohttp
base, key, rate, seconds, ids = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
async def main():
    lat, errors = [], 0
    async with aiohttp.ClientSession(headers={"X-API-Key": key}, connector=aiohttp.TCPConnector(limit=256)) as s:
        async def one(i):
            nonlocal errors
            t = time.perf_counter()
            try:
                async with s.get(f"{base}/api/media/status/{i % ids + 1}") as r:
                    await r.read()
                    if r.status != 200: errors += 1
            except Exception:
                errors += 1
            lat.append(time.perf_counter() - t)
        tasks, start, n = [], time.perf_counter(), 0
        while (now := time.perf_counter()) - start < seconds:
            due = start + n / rate
            if due > now:
                await asyncio.sleep(due - now)
            tasks.append(asyncio.create_task(one(n))); n += 1
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
    lat.sort()
    print(json.dumps({"requests": n, "wall": wall, "errors": errors,
                      "p50": lat[len(lat) // 2], "p99": lat[int(len(lat) * 0.99) - 1], "max": lat[-1]}))
asyncio.run(main())
'''


def seed(catalog_url: str, files: int) -> None:
    sys.path.insert(0, str(REPO))
    from datetime import datetime, timedelta, timezone

    import sqlalchemy as sa

    from media_pipeline_dagster.catalog import queries
    from media_pipeline_dagster.resources.databases import CatalogResource

    engine = CatalogResource(database_url=catalog_url).engine
    start = datetime(2025, 8, 27, tzinfo=timezone.utc)
    rows = [{"phone": "+49151000", "campaign_name": "Bench", "recording_id": None, "url": f"https://x/{i}.mp3",
             "url_sha1": f"{i:040x}", "content_sha256": None, "started": start + timedelta(seconds=i), "stopped": None,
             "duration_seconds": None, "index_in_phone": None, "b2_object_key": f"bench/audio/+49151000/{i}.mp3",
             "local_path": None, "file_size_bytes": 1000, "source_table": "bench", "source_row_id": i} for i in range(files)]
    with engine.begin() as conn:
        queries.insert_audio_files(conn, rows)
        conn.execute(sa.text(
            "INSERT INTO media_pipeline.transcriptions (audio_file_id, provider, model, status, completed_at, transcript_text, metadata) "
            "SELECT id, 'OpenAI', 'whisper-1', 'completed', now(), 'hello world', "
            "'{\"b2_transcript_json_key\": \"k.json\"}' FROM media_pipeline.audio_files WHERE id % 3 = 0"))
    engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from media_pipeline_dagster_tests.servers import postgres

    with tempfile.TemporaryDirectory() as tmp, postgres.temporary_database(postgres.ensure_server()) as url:
        data = Path(tmp)
        seed(url, args.files)
        port = free_port()
        env = {**os.environ, "MEDIA_PIPELINE_ENV": "local", "MEDIA_PIPELINE_DATA_DIR": str(data), "API_KEY": KEY,
               "DATABASE_URL": url, "GATEWAY_RATE_LIMIT": "0", "PYTHONPATH": str(REPO)}
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "media_pipeline_dagster.gateway:app", "--port", str(port),
                                   "--log-level", "warning", "--no-access-log"], cwd=tmp, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            import urllib.request

            while True:
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=2)
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the gateway did not start")
                    time.sleep(0.2)
            out = subprocess.run([sys.executable, "-c", LOAD, base, KEY, str(args.rate), str(args.seconds), str(args.files)],
                                 capture_output=True, text=True, check=True).stdout
        finally:
            server.terminate()
            server.wait(timeout=30)
    r = json.loads(out.strip().splitlines()[-1])
    rps = r["requests"] / r["wall"]
    print(f"{'measure':<32}{'value':>12}")
    for name, value in (("requests", r["requests"]), ("requests/s", f"{rps:.1f}"), ("p50 ms", f"{r['p50'] * 1000:.1f}"),
                        ("p99 ms", f"{r['p99'] * 1000:.1f}"), ("max ms", f"{r['max'] * 1000:.1f}"), ("errors", r["errors"])):
        print(f"{name:<32}{value:>12}")
    print(f"status_rps={rps:.1f} status_p50_ms={r['p50'] * 1000:.1f} status_p99_ms={r['p99'] * 1000:.1f} errors={r['errors']}")


if __name__ == "__main__":
    main()
