"""Gateway benchmark: the status endpoint under a steady load, then a burst of submits.

    python benchmarks/gateway.py                        # 200 status requests/s for 30 s, then the burst
    python benchmarks/gateway.py --rate 400 --seconds 10
    python benchmarks/gateway.py --skip-steady --burst 200

One gateway process, started as production starts it (``uvicorn
media_pipeline_dagster.gateway:app``, prod profile, default settings but the per-key rate
limit), on a throwaway PostgreSQL database (the catalog with 1,000 audio files, a third
transcribed, and the dialer's ``public`` tables), SeaweedFS as the bucket and an HTTP
origin in its own process (aiohttp, every answer after ``--origin-delay``). The load
(``_gateway_load.py``, aiohttp) runs in its own process too.

* steady: status requests in an open loop (one every 1/rate s whatever the answers' speed).
  Target: 0 errors, p99 <= 50 ms at 200 requests/s.
* burst: ``--burst`` concurrent submits of as many different recordings, while status
  requests go on at ``--status-rate``; ``--rounds`` bursts (new recordings each time), the
  round with the median status p99 reported (the machine is shared: one round can land on
  someone else's build). Targets: ``burst_other=0`` (every answer a 200 or
  an immediate 503 beyond the concurrency cap), ``orphans=0`` (no object without its row),
  ``status_p99_during_burst_ms <= 200``, and with the default cap at least 150 of 200
  answered 200.

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
import urllib.request
from datetime import UTC
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
KEY = "bench-key-" + "0" * 20
BUCKET = "bench"


def seed(catalog_url: str, files: int, origin: str, recordings: int, size: int) -> None:
    """The catalog (``files`` audio files, a third transcribed) and ``recordings`` dialer recordings at the origin."""
    from datetime import datetime, timedelta

    import sqlalchemy as sa

    from media_pipeline_dagster.catalog import queries
    from media_pipeline_dagster.resources.databases import CatalogResource

    engine = CatalogResource(database_url=catalog_url).engine
    start = datetime(2025, 8, 27, tzinfo=UTC)
    rows = [
        {
            "phone": "+49151000",
            "campaign_name": "Bench",
            "recording_id": None,
            "url": f"https://x/{i}.mp3",
            "url_sha1": f"{i:040x}",
            "content_sha256": None,
            "started": start + timedelta(seconds=i),
            "stopped": None,
            "duration_seconds": None,
            "index_in_phone": None,
            "b2_object_key": f"bench/audio/+49151000/{i}.mp3",
            "local_path": None,
            "file_size_bytes": 1000,
            "source_table": "bench",
            "source_row_id": i,
        }
        for i in range(files)
    ]
    with engine.begin() as conn:
        queries.insert_audio_files(conn, rows)
        conn.execute(
            sa.text(
                "INSERT INTO media_pipeline.transcriptions (audio_file_id, provider, model, status, completed_at, transcript_text, metadata) "
                "SELECT id, 'OpenAI', 'whisper-1', 'completed', now(), 'hello world', "
                '\'{"b2_transcript_json_key": "k.json"}\' FROM media_pipeline.audio_files WHERE id % 3 = 0'
            )
        )
        conn.exec_driver_sql(
            'CREATE TABLE public.contacts ("$id" TEXT PRIMARY KEY, "$phone" TEXT, "$campaign_id" TEXT)'
        )
        conn.exec_driver_sql(
            "CREATE TABLE public.recordings (id TEXT PRIMARY KEY, contact_id TEXT, location TEXT, started TEXT, stopped TEXT)"
        )
        conn.exec_driver_sql(
            "CREATE TABLE public.campaign_map (campaign_id TEXT PRIMARY KEY, campaign TEXT)"
        )
        conn.execute(sa.text("INSERT INTO public.campaign_map VALUES ('BURST', 'Burst Calls')"))
        conn.execute(
            sa.text("INSERT INTO public.contacts VALUES (:id, :phone, 'BURST')"),
            [{"id": f"c{i}", "phone": f"+4915100{i:05d}"} for i in range(1, recordings + 1)],
        )
        conn.execute(
            sa.text(
                "INSERT INTO public.recordings VALUES (:id, :contact, :url, '2025-09-01T08:00:00Z', NULL)"
            ),
            [
                {
                    "id": str(i),
                    "contact": f"c{i}",
                    "url": f"{origin}/gen/{size}/PR_burst-{i:05d}.mp3",
                }
                for i in range(1, recordings + 1)
            ],
        )
    engine.dispose()


def orphans(catalog_url: str, s3) -> tuple[int, int]:
    """(objects without a row, rows without an object) under the gateway's prefix."""
    import sqlalchemy as sa

    client = s3.client()
    keys = {
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix="gateway/"
        )
        for o in page.get("Contents", [])
    }
    engine = sa.create_engine(catalog_url)
    with engine.connect() as conn:
        rows = {
            k
            for (k,) in conn.execute(
                sa.text(
                    "SELECT b2_object_key FROM media_pipeline.audio_files WHERE source_table = 'public.recordings'"
                )
            )
        }
    engine.dispose()
    return len(keys - rows), len(rows - keys)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gateway_env(tmp: Path, catalog_url: str, s3) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MEDIA_PIPELINE_ENV": "prod",
        "DATABASE_URL": catalog_url,
        "BACKBLAZE_B2_S3_ENDPOINT": s3.endpoint_url,
        "BACKBLAZE_B2_REGION": s3.region,
        "BACKBLAZE_B2_KEY_ID": s3.access_key_id,
        "BACKBLAZE_B2_APPLICATION_KEY": s3.secret_access_key,
        "BACKBLAZE_B2_BUCKET": BUCKET,
        "API_KEY": KEY,
        "GATEWAY_B2_PREFIX": "gateway",
        "GATEWAY_RATE_LIMIT": "0",
        "MEDIA_PIPELINE_TRANSCRIBER": "local",
        "MEDIA_PIPELINE_FETCH_ALLOW_NETWORKS": "127.0.0.1/32",  # the origin is on loopback
        # The prod profile asks for every service; the gateway uses none of these.
        "MEDIA_PIPELINE_CSV_INBOX": str(tmp),
        "ARCHIVE_DATABASE_URL": catalog_url,
        "MEDIA_CACHE_DIR": str(tmp),
        "CLOUDFLARE_API_TOKEN": "unused",
        "CLOUDFLARE_ACCOUNT_ID": "unused",
    }


def wait_until_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the gateway did not start") from None
            time.sleep(0.2)


def load(*args) -> dict:
    out = subprocess.run(
        [sys.executable, str(HERE / "_gateway_load.py"), *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def table(rows) -> None:
    print(f"{'measure':<40}{'value':>14}")
    for name, value in rows:
        print(f"{name:<40}{value:>14}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rate", type=float, default=200.0, help="steady status requests per second"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the steady phase")
    parser.add_argument("--files", type=int, default=1000, help="audio files in the catalog")
    parser.add_argument(
        "--burst", type=int, default=200, help="concurrent submits of different recordings"
    )
    parser.add_argument(
        "--burst-bytes", type=int, default=256 * 1024, help="size of each recording"
    )
    parser.add_argument(
        "--status-rate",
        type=float,
        default=50.0,
        help="status requests per second during the burst",
    )
    parser.add_argument(
        "--origin-delay", type=float, default=0.05, help="seconds before each origin answer"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="bursts, each of new recordings; the median is reported",
    )
    parser.add_argument("--skip-steady", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(HERE))
    import _origin

    from media_pipeline_dagster_tests.servers import postgres
    from media_pipeline_dagster_tests.servers.seaweed import seaweedfs_server

    with (
        tempfile.TemporaryDirectory(prefix="mpd-gw-bench-") as tmp,
        postgres.temporary_database(postgres.ensure_server()) as url,
        seaweedfs_server(Path(tmp) / "seaweedfs") as s3,
        _origin.generated_origin(args.origin_delay) as origin,
    ):
        s3.create_bucket(BUCKET)
        seed(url, args.files, origin, args.burst * args.rounds, args.burst_bytes)
        base = f"http://127.0.0.1:{free_port()}"
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "media_pipeline_dagster.gateway:app",
                "--port",
                base.rsplit(":", 1)[1],
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=tmp,
            env=gateway_env(Path(tmp), url, s3),
        )
        try:
            wait_until_up(base, server)
            steady = (
                None
                if args.skip_steady
                else load("steady", base, KEY, args.rate, args.seconds, args.files)
            )
            rounds = [
                load(
                    "burst", base, KEY, args.burst, 1 + r * args.burst, args.status_rate, args.files
                )
                for r in range(args.rounds)
            ]
        finally:
            server.terminate()
            server.wait(timeout=30)
        lost, missing = orphans(url, s3)
    burst = sorted(rounds, key=lambda r: r["status_p99"])[len(rounds) // 2]
    last = []
    if steady is not None:
        rps = steady["requests"] / steady["wall"]
        table(
            [
                ("steady: requests", steady["requests"]),
                ("steady: requests/s", f"{rps:.1f}"),
                ("steady: p50 ms", f"{steady['p50'] * 1000:.1f}"),
                ("steady: p99 ms", f"{steady['p99'] * 1000:.1f}"),
                ("steady: max ms", f"{steady['max'] * 1000:.1f}"),
                ("steady: errors", steady["errors"]),
            ]
        )
        last.append(
            f"status_rps={rps:.1f} status_p50_ms={steady['p50'] * 1000:.1f} "
            f"status_p99_ms={steady['p99'] * 1000:.1f} errors={steady['errors']}"
        )
    print(
        "rounds (status p99 ms during the burst): "
        + ", ".join(f"{r['status_p99'] * 1000:.0f}" for r in rounds)
    )
    table(
        [
            (f"burst: submits ({args.burst_bytes // 1024} KiB each)", args.burst),
            ("burst: answered 200", burst["ok"]),
            ("burst: answered 503 (beyond the cap)", burst["refused"]),
            ("burst: anything else", burst["other"]),
            ("burst: wall s", f"{burst['wall']:.1f}"),
            ("burst: p50 ms", f"{burst['p50'] * 1000:.0f}"),
            ("burst: p99 ms", f"{burst['p99'] * 1000:.0f}"),
            ("burst: slowest 503 ms", f"{burst['refused_max'] * 1000:.0f}"),
            ("burst: status requests meanwhile", burst["status_requests"]),
            ("burst: status errors", sum(burst["status_errors"].values())),
            ("burst: status p50 ms", f"{burst['status_p50'] * 1000:.1f}"),
            ("burst: status p99 ms", f"{burst['status_p99'] * 1000:.1f}"),
            ("objects without a row (all rounds)", lost),
            ("rows without an object (all rounds)", missing),
        ]
    )
    if burst["other_codes"] or burst["status_errors"]:
        print(f"other answers: {burst['other_codes']}; status errors: {burst['status_errors']}")
    last.append(
        f"burst_ok={burst['ok']} burst_503={burst['refused']} burst_other={burst['other']} "
        f"burst_p99_ms={burst['p99'] * 1000:.0f} status_p99_during_burst_ms={burst['status_p99'] * 1000:.1f} orphans={lost}"
    )
    print(" ".join(last))


if __name__ == "__main__":
    main()
