"""D1 sync benchmark: 100,000 objects into an empty D1, then an unchanged re-run.

    python benchmarks/d1_sync.py                    # 100,000 objects, with the baseline (about a minute)
    python benchmarks/d1_sync.py --objects 20000    # smaller
    python benchmarks/d1_sync.py --no-baseline      # only the product's sync

Everything goes over HTTP through the real ``cloudflare`` SDK to the local D1 REST server
of the tests (``media_pipeline_dagster_tests/servers/d1_fake.py``: SQLite behind D1's wire
format and limits), in this process. The inventory is a snapshot built in memory (keys,
sizes and B2-like file ids as production has them), so the figures are the D1 side only:
``sync_snapshot``, which ``d1_media_assets`` runs.

Baseline, in the same run, on a fresh database: what one writes without packing
requests — existence checked with ``SELECT ... WHERE media_uid IN (100 ids)``, one request
each, then one INSERT of 20 rows (100 parameters) per request. Both stay inside D1's
limits; the difference is requests and time.

Targets: first sync <= 200 requests, unchanged re-run <= 20 requests and 0 rows written.
The LAST line is ``name=value`` pairs for scripts.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from media_pipeline_dagster.inventory.listing import InventoryObject  # noqa: E402
from media_pipeline_dagster.inventory.schema import ensure_schema  # noqa: E402
from media_pipeline_dagster.inventory.snapshot import Snapshot  # noqa: E402
from media_pipeline_dagster.inventory.statements import asset_rows, insert_statements  # noqa: E402
from media_pipeline_dagster.inventory.sync import SyncOptions, sync_snapshot  # noqa: E402
from media_pipeline_dagster.resources.d1 import CloudflareD1Resource, Statement  # noqa: E402
from media_pipeline_dagster_tests.servers.d1_fake import FakeD1, fake_d1_server  # noqa: E402

FIRST_TARGET, RERUN_TARGET = 200, 20


def inventory(count: int) -> Snapshot:
    objects = []
    for i in range(count):
        h = hashlib.sha1(str(i).encode()).hexdigest()
        key = f"dexter-audio/campaign-{i % 40:02d}/audio/1555{i % 9_000_000:07d}/20250101T{i % 24:02d}0000Z_{h[:16]}.mp3"
        file_id = f"4_z27c88f1d182b150646ff0b16_f1{h[:15]}_d20250101_m120000_c004_v0402000_t0001"
        objects.append(InventoryObject(key, 40_000 + i, h[:32], file_id, "2025-01-01T12:00:00Z"))
    return Snapshot(
        "inventory/2025-01-01.json", "2025-01-01T12:00:00Z", "s3://bench", "inventory/", objects
    )


def resource(server: FakeD1, name: str) -> CloudflareD1Resource:
    return CloudflareD1Resource(
        api_token=server.api_token,
        account_id=server.account_id,
        database_name=name,
        base_url=server.base_url,
    )


def measure(server: FakeD1, label: str, work) -> dict:
    before = sum(server.requests.values())
    started = time.perf_counter()
    rows_written = work()
    return {
        "label": label,
        "requests": sum(server.requests.values()) - before,
        "rows_written": rows_written,
        "seconds": time.perf_counter() - started,
    }


def product(server: FakeD1, snap: Snapshot, label: str) -> dict:
    def work() -> int:
        d1 = resource(server, "bench")
        with d1.connect() as db:
            options = SyncOptions(
                max_statements_per_request=d1.max_statements_per_request,
                max_request_bytes=d1.max_request_bytes,
            )
            return sync_snapshot(db, snap, options).rows_written

    return measure(server, label, work)


def baseline(server: FakeD1, snap: Snapshot, label: str) -> dict:
    def work() -> int:
        with resource(server, "baseline").connect() as db:
            ensure_schema(db, track_last_seen=False, dry_run=False)
            rows = asset_rows(snap.objects)
            known: set[str] = set()
            for start in range(0, len(rows), 100):
                uids = [r.media_uid for r in rows[start : start + 100]]
                sql = f"SELECT media_uid FROM media_assets WHERE media_uid IN ({', '.join('?' * len(uids))})"
                known.update(row[0] for row in db.run([Statement(sql, tuple(uids))])[0].rows)
            written = 0
            for statement in insert_statements([r for r in rows if r.media_uid not in known]):
                written += db.run([statement])[0].changes
            return written

    return measure(server, label, work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()

    snap = inventory(args.objects)
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="d1-bench-") as scratch,
        fake_d1_server(Path(scratch)) as server,
    ):
        server.create_database("bench")
        results.append(product(server, snap, "sync_snapshot: first sync (empty D1)"))
        results.append(product(server, snap, "sync_snapshot: unchanged re-run"))
        if not args.no_baseline:
            server.create_database("baseline")
            results.append(baseline(server, snap, "baseline: first sync (1 statement/request)"))
            results.append(baseline(server, snap, "baseline: unchanged re-run"))
        with server.connect(next(i for i, n in server.databases.items() if n == "bench")) as conn:
            stored = conn.execute("SELECT count(*) FROM media_assets").fetchone()[0]

    print(
        f"{args.objects:,} objects, D1 REST on loopback (fake D1 server, SQLite); requests counted by the server\n"
    )
    print(f"{'run':<46} {'requests':>9} {'rows written':>13} {'wall s':>8} {'rows/s':>9}")
    for r in results:
        rate = r["rows_written"] / r["seconds"] if r["rows_written"] else 0
        print(
            f"{r['label']:<46} {r['requests']:>9,} {r['rows_written']:>13,} {r['seconds']:>8.2f} {rate:>9,.0f}"
        )
    first, rerun = results[0], results[1]
    ok = (
        first["requests"] <= FIRST_TARGET
        and rerun["requests"] <= RERUN_TARGET
        and rerun["rows_written"] == 0
    )
    print(
        f"\nrows in D1 after both runs: {stored:,}; targets (first <= {FIRST_TARGET}, re-run <= {RERUN_TARGET} "
        f"requests and 0 rows): {'met' if ok else 'MISSED'}"
    )
    pairs = {
        "objects": args.objects,
        "first_requests": first["requests"],
        "first_seconds": f"{first['seconds']:.2f}",
        "first_rows_written": first["rows_written"],
        "rerun_requests": rerun["requests"],
        "rerun_rows_written": rerun["rows_written"],
        "rerun_seconds": f"{rerun['seconds']:.2f}",
    }
    if not args.no_baseline:
        pairs.update(
            {
                "baseline_first_requests": results[2]["requests"],
                "baseline_first_seconds": f"{results[2]['seconds']:.2f}",
                "baseline_rerun_requests": results[3]["requests"],
                "baseline_rerun_seconds": f"{results[3]['seconds']:.2f}",
            }
        )
    print(" ".join(f"{k}={v}" for k, v in pairs.items()))
    return 0 if ok and stored == args.objects else 1


if __name__ == "__main__":
    sys.exit(main())
