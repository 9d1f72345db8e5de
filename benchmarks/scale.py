"""Cost curves on PostgreSQL: how the catalog-facing work grows from 10k to 1M rows.

    python benchmarks/scale.py                    # N = 10k, 100k, 1M (several minutes)
    python benchmarks/scale.py --quick            # N = 1k, 10k: a smoke run (under a minute)
    python benchmarks/scale.py --sizes 5000,50000 --only rerun,pending

Per size N, each on a fresh database seeded in bulk (COPY / generate_series, not the asset):

* ``rerun``: the ``audio_files`` asset (``dg.materialize`` over a one-campaign, 30-day
  partition range, its checks included) on a CSV of N rows all already cataloged, in a
  child process: wall time and peak RSS (``VmHWM``) of that process.
* ``csv_inbox``: a ``csv_inbox_sensor`` tick over N/1,000 files (at least 10) of which one
  changed since the previous tick.
* ``recordings``: a ``recordings_sensor`` tick over N ``public.recordings`` (1,000 new).
* ``pending``: a ``pending_transcriptions_sensor`` tick over N pending rows (40 campaigns
  × 300 days).
* ``objects``: the ``objects_in_bucket`` check (``check_objects``) over N cataloged rows,
  the bucket a local ListObjectsV2 server (``_s3_listing.py``) listing the catalog's keys.
* ``d1``: ``sync_snapshot`` of N objects into an empty D1 and an unchanged re-run, through
  the local D1 REST server (requests counted by the server).

Targets: every sensor tick <= 5 s at the largest size, growth from 100k to 1M <= 12x for
each curve, the 1M re-run <= 60 s. The LAST line is ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for p in (str(REPO), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import dagster as dg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from media_pipeline_dagster.resources.databases import CatalogResource  # noqa: E402
from media_pipeline_dagster_tests.servers import postgres  # noqa: E402

CAMPAIGN, SLUG = "Scale Campaign", "scale-campaign"
FIRST_DAY, DAYS = date(2025, 1, 1), 30
BUCKET, PREFIX = "scale-bench", "calls"
TICK_TARGET_S, GROWTH_TARGET, RERUN_TARGET_S = 5.0, 12.0, 60.0
CURVES = ("rerun", "csv_inbox", "recordings", "pending", "objects", "d1")
FULL_SIZES, QUICK_SIZES = (10_000, 100_000, 1_000_000), (1_000, 10_000)


# -- the synthetic call rows: one campaign, DAYS days, keys as the asset derives them ----


def call(i: int) -> tuple[str, str, str, str, str, int]:
    """(phone, url, url_sha1, started ISO, object key, size) of row i."""
    day = FIRST_DAY + timedelta(days=i % DAYS)
    second = i // DAYS
    started = (
        f"{day.isoformat()}T{second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
    )
    url = f"https://dialer.example.com/rec/{i:08d}.mp3"
    sha = hashlib.sha1(url.encode()).hexdigest()
    phone = f"49151{i % 1_000_000:07d}"
    stamp = started.replace("-", "").replace(":", "")
    key = f"{PREFIX}/{SLUG}/audio/{phone}/{stamp}_{sha[:16]}.mp3"
    return phone, url, sha, started, key, 40_000 + i % 1_000


def csv_lines(rows: range) -> list[str]:
    lines = ["phone,campaign_name,url,started"]
    for i in rows:
        phone, url, _, started, _, _ = call(i)
        lines.append(f"{phone},{CAMPAIGN},{url},{started}")
    return lines


def seed_catalog(url: str, n: int) -> list[tuple[str, int]]:
    """N cataloged rows with objects, by COPY; returns the (key, size) pairs of the bucket."""
    engine = CatalogResource(database_url=url).engine  # creates the catalog schema
    objects = []
    buf = io.StringIO()
    for i in range(n):
        phone, u, sha, started, key, size = call(i)
        buf.write(f"{phone}\t{CAMPAIGN}\t{u}\t{sha}\t{started}\t{key}\t{size}\t{sha}{sha[:24]}\n")
        objects.append((key, size))
    buf.seek(0)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.copy_expert(
                "COPY media_pipeline.audio_files (phone, campaign_name, url, url_sha1, started, "
                "b2_object_key, file_size_bytes, content_sha256) FROM STDIN",
                buf,
            )
            cur.execute("ANALYZE media_pipeline.audio_files")
        raw.commit()
    finally:
        raw.close()
    return objects


def s3_resource(endpoint: str):
    from media_pipeline_dagster.resources.bucket import S3Bucket

    return S3Bucket(
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="bench",
        secret_access_key="bench",
        bucket=BUCKET,
        max_retries=0,
    )


# -- the re-run, in a child process so its peak RSS is its own ---------------------------


def rerun_child(spec: dict) -> None:
    from media_pipeline_dagster.calls.assets import audio_files
    from media_pipeline_dagster.resources.call_sources import CallSourcesResource
    from media_pipeline_dagster.resources.databases import RecordingsDatabaseResource
    from media_pipeline_dagster.resources.fetch import FetchPolicyResource
    from media_pipeline_dagster.resources.http import AudioTransferResource
    from media_pipeline_dagster.resources.inbox import CsvInboxResource

    resources = {
        "catalog": CatalogResource(database_url=spec["db"]),
        "object_store": s3_resource(spec["endpoint"]),
        "csv_inbox": CsvInboxResource(path=spec["inbox"]),
        "recordings_db": RecordingsDatabaseResource(),
        "call_sources": CallSourcesResource(),
        "fetch_policy": FetchPolicyResource(),
        "audio_transfer": AudioTransferResource(),
    }
    last = FIRST_DAY + timedelta(days=DAYS - 1)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("campaigns", [SLUG])
        started, cpu = time.perf_counter(), time.process_time()
        result = dg.materialize(
            [audio_files],
            instance=instance,
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": f"{SLUG}|{FIRST_DAY.isoformat()}",
                "dagster/asset_partition_range_end": f"{SLUG}|{last.isoformat()}",
            },
            run_config={
                "ops": {
                    "audio_files": {"config": {"csv_files": [spec["csv"]], "b2_prefix": PREFIX}}
                },
                "loggers": {"console": {"config": {"log_level": "ERROR"}}},
            },
        )
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        # one materialization per partition of the range, all with the run's figures
        mat = result.asset_materializations_for_node("audio_files")[0]
        meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "peak_rss_mib": vm_hwm_mib(),
                "already_cataloged": meta.get("already_cataloged"),
                "new": meta.get("new"),
                "checks": checks,
            }
        )
    )


def vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_rerun_and_objects(n: int, scratch: Path, out: dict) -> None:
    from _s3_listing import listing_process, requests_served

    from media_pipeline_dagster.calls.checks import check_objects

    base = postgres.ensure_server()
    with postgres.temporary_database(base) as url:
        objects = seed_catalog(url, n)
        inbox = scratch / f"inbox-{n}"
        inbox.mkdir()
        (inbox / "calls.csv").write_text("\n".join(csv_lines(range(n))) + "\n")
        with listing_process(BUCKET, objects) as endpoint:
            del objects  # the server's process has its copy
            if "objects" in out:
                engine = CatalogResource(database_url=url).engine
                wanted = {SLUG: {FIRST_DAY + timedelta(days=d) for d in range(DAYS)}}
                before = requests_served(endpoint)
                started = time.perf_counter()
                result = check_objects(engine, s3_resource(endpoint), wanted)
                seconds = time.perf_counter() - started
                ok = result.rows_checked == n and not result.missing and not result.size_mismatch
                out["objects"][n] = {
                    "seconds": seconds,
                    "requests": requests_served(endpoint) - before,
                    "note": f"{result.rows_checked:,} rows checked" + ("" if ok else " MISMATCH"),
                }
            if "rerun" in out:
                spec = {"db": url, "endpoint": endpoint, "inbox": str(inbox), "csv": "calls.csv"}
                before = requests_served(endpoint)
                proc = subprocess.run(
                    [sys.executable, __file__, "--rerun-child", json.dumps(spec)],
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                if proc.returncode != 0:
                    print(proc.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"re-run child failed at N={n}")
                child = json.loads(proc.stdout.strip().splitlines()[-1])
                ok = child["already_cataloged"] == n and not child["new"]
                out["rerun"][n] = {
                    "seconds": child["seconds"],
                    "peak_rss_mib": child["peak_rss_mib"],
                    "cpu_seconds": child["cpu_seconds"],
                    "requests": requests_served(endpoint) - before,
                    "note": f"{child['already_cataloged']:,} already cataloged"
                    + ("" if ok else f" UNEXPECTED new={child['new']}")
                    + ("" if all(child["checks"].values()) else f" checks {child['checks']}"),
                }


# -- sensors ---------------------------------------------------------------------------


def measure_csv_inbox(n: int, scratch: Path) -> dict:
    from _pending import timed_tick

    from media_pipeline_dagster.calls.sensors import csv_inbox_sensor
    from media_pipeline_dagster.resources.call_sources import CallSourcesResource
    from media_pipeline_dagster.resources.inbox import CsvInboxResource

    files = max(10, n // 1000)
    per_file = n // files
    inbox = scratch / f"csv-inbox-{n}"
    inbox.mkdir()
    for f in range(files):
        rows = range(f * per_file, (f + 1) * per_file)
        (inbox / f"calls-{f:04d}.csv").write_text("\n".join(csv_lines(rows)) + "\n")
    resources = {
        "csv_inbox": CsvInboxResource(path=str(inbox)),
        "call_sources": CallSourcesResource(),
    }
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            first = csv_inbox_sensor(context)
        changed = inbox / f"calls-{files // 2:04d}.csv"
        with changed.open("a") as fh:
            fh.write(csv_lines(range(n + 1, n + 2))[1] + "\n")
        seconds, result = timed_tick(csv_inbox_sensor, instance, resources, first.cursor)
    return tick_figures(
        seconds,
        result,
        f"{files} files × {per_file:,} rows, {len(result.run_requests)} run(s) requested",
    )


RECORDINGS_DDL = """
CREATE TABLE public.contacts ("$id" TEXT PRIMARY KEY, "$phone" TEXT, "$campaign_id" TEXT);
CREATE TABLE public.recordings (id BIGINT PRIMARY KEY, contact_id TEXT REFERENCES public.contacts("$id"),
                                location TEXT, started TEXT, stopped TEXT);
CREATE TABLE public.campaign_map (campaign_id TEXT PRIMARY KEY, campaign TEXT);
INSERT INTO public.campaign_map SELECT 'c' || g, 'Campaign ' || g FROM generate_series(0, 39) g;
INSERT INTO public.contacts SELECT 'k' || g, '49151' || g, 'c' || (g % 40) FROM generate_series(1, :n) g;
INSERT INTO public.recordings
  SELECT g, 'k' || g, 'https://dialer.example.com/rec/' || g || '.mp3',
         to_char(timestamp '2025-01-01 10:00' + (g % 300) * interval '1 day', 'YYYY-MM-DD HH24:MI:SS'), NULL
  FROM generate_series(1, :n) g;
ANALYZE public.contacts; ANALYZE public.recordings
"""
NEW_RECORDINGS = 1_000


def measure_recordings(n: int) -> dict:
    from _pending import timed_tick

    from media_pipeline_dagster.calls.sensors import recordings_sensor
    from media_pipeline_dagster.resources.call_sources import CallSourcesResource
    from media_pipeline_dagster.resources.databases import RecordingsDatabaseResource

    base = postgres.ensure_server()
    with postgres.temporary_database(base) as url:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for statement in RECORDINGS_DDL.split(";"):
                if statement.strip():
                    conn.execute(sa.text(statement), {"n": n})
        engine.dispose()
        resources = {
            "recordings_db": RecordingsDatabaseResource(database_url=url),
            "call_sources": CallSourcesResource(),
        }
        after = max(0, n - NEW_RECORDINGS)
        with dg.instance_for_test() as instance:
            seconds, result = timed_tick(recordings_sensor, instance, resources, str(after))
    return tick_figures(
        seconds, result, f"{n - after:,} new of {n:,}, {len(result.run_requests)} run(s) requested"
    )


def measure_pending(n: int) -> dict:
    from _pending import pending_tick

    seconds, result = pending_tick(postgres.ensure_server(), n)
    return tick_figures(seconds, result, f"{len(result.run_requests)} run(s) requested")


def tick_figures(seconds: float, result: dg.SensorResult, note: str) -> dict:
    return {"seconds": seconds, "cursor_bytes": len(result.cursor or ""), "note": note}


def measure_d1(n: int, scratch: Path) -> dict:
    from d1_sync import inventory, product

    from media_pipeline_dagster_tests.servers.d1_fake import fake_d1_server

    snap = inventory(n)
    with fake_d1_server(scratch / f"d1-{n}") as server:
        server.create_database("bench")
        first = product(server, snap, "first")
        again = product(server, snap, "rerun")
    return {
        "seconds": first["seconds"],
        "requests": first["requests"],
        "note": f"re-run {again['requests']} requests, {again['rows_written']} rows, "
        f"{again['seconds']:.2f} s",
        "rerun_requests": again["requests"],
        "rerun_seconds": again["seconds"],
    }


# -- report ----------------------------------------------------------------------------


def growth(curve: dict, a: int, b: int, field: str = "seconds") -> float | None:
    if a in curve and b in curve and curve[a][field]:
        return curve[b][field] / curve[a][field]
    return None


def print_tables(out: dict, sizes: list[int]) -> None:
    titles = {
        "rerun": "audio_files no-change re-run (child process, checks included)",
        "csv_inbox": "csv_inbox_sensor tick, one file changed",
        "recordings": "recordings_sensor tick",
        "pending": "pending_transcriptions_sensor tick",
        "objects": "objects_in_bucket check (check_objects)",
        "d1": "D1 sync of N objects (first sync; re-run in the note)",
    }
    for name, curve in out.items():
        print(f"\n{titles[name]}")
        print(f"{'N':>10} {'seconds':>9} {'x prev':>7} {'extra':>22}  note")
        prev = None
        for n in sizes:
            if n not in curve:
                continue
            r = curve[n]
            ratio = f"{r['seconds'] / prev:.1f}" if prev else "-"
            extra = (
                f"{r['peak_rss_mib']:.0f} MiB, {r['cpu_seconds']:.0f} CPU s"
                if "peak_rss_mib" in r
                else f"{r['requests']:,} requests"
                if "requests" in r
                else f"cursor {r['cursor_bytes']} B"
            )
            print(f"{n:>10,} {r['seconds']:>9.3f} {ratio:>7} {extra:>22}  {r['note']}")
            prev = r["seconds"]


def size_tag(n: int) -> str:
    return (
        f"{n // 1_000_000}m"
        if n >= 1_000_000 and n % 1_000_000 == 0
        else (f"{n // 1000}k" if n % 1000 == 0 else str(n))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1k, 10k (a smoke run)")
    parser.add_argument("--sizes", help="comma-separated N, e.g. 10000,100000")
    parser.add_argument("--only", help=f"comma-separated curves of {', '.join(CURVES)}")
    parser.add_argument("--rerun-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rerun_child:
        rerun_child(json.loads(args.rerun_child))
        return 0
    sizes = (
        sorted(int(s) for s in args.sizes.split(","))
        if args.sizes
        else list(QUICK_SIZES if args.quick else FULL_SIZES)
    )
    only = args.only.split(",") if args.only else list(CURVES)
    unknown = set(only) - set(CURVES)
    if unknown:
        parser.error(
            f"unknown curve(s) {', '.join(sorted(unknown))}; choose from {', '.join(CURVES)}"
        )
    out: dict[str, dict] = {name: {} for name in CURVES if name in only}
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        scratch = Path(tmp)
        for n in sizes:
            t0 = time.perf_counter()
            if "rerun" in out or "objects" in out:
                measure_rerun_and_objects(n, scratch, out)
            if "csv_inbox" in out:
                out["csv_inbox"][n] = measure_csv_inbox(n, scratch)
            if "recordings" in out:
                out["recordings"][n] = measure_recordings(n)
            if "pending" in out:
                out["pending"][n] = measure_pending(n)
            if "d1" in out:
                out["d1"][n] = measure_d1(n, scratch)
            print(f"N={n:,} measured in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(
        f"PostgreSQL at {postgres.ensure_server().rsplit('@', 1)[-1]}, {os.cpu_count()} cores; {datetime.now():%Y-%m-%d}"
    )
    print_tables(out, sizes)

    big, prev = sizes[-1], sizes[-2] if len(sizes) > 1 else None
    tag = size_tag(big)
    ticks = [out[c][big]["seconds"] for c in ("csv_inbox", "recordings", "pending") if c in out]
    growths = {}
    for name, curve in out.items():
        field = "requests" if name == "d1" else "seconds"
        if prev is not None and (g := growth(curve, prev, big, field)) is not None:
            growths[name] = g
    pairs: dict[str, object] = {}
    if ticks:
        pairs[f"max_tick_s_{tag}"] = f"{max(ticks):.2f}"
    if growths:
        pairs[f"growth_{size_tag(prev)}_{tag}_max"] = f"{max(growths.values()):.1f}"
    if "rerun" in out:
        pairs[f"rerun_{tag}_s"] = f"{out['rerun'][big]['seconds']:.1f}"
        pairs[f"rerun_{tag}_peak_rss_mib"] = f"{out['rerun'][big]['peak_rss_mib']:.0f}"
        pairs[f"rerun_{tag}_cpu_s"] = f"{out['rerun'][big]['cpu_seconds']:.1f}"
    for name, g in growths.items():
        pairs[f"growth_{name}"] = f"{g:.1f}"
    for name in out:
        pairs[f"{name}_{tag}_s"] = f"{out[name][big]['seconds']:.2f}"
    if "d1" in out:
        pairs[f"d1_{tag}_requests"] = out["d1"][big]["requests"]
        pairs[f"d1_{tag}_rerun_requests"] = out["d1"][big]["rerun_requests"]
    met = (
        all(t <= TICK_TARGET_S for t in ticks)
        and all(g <= GROWTH_TARGET for g in growths.values())
        and (
            "rerun" not in out or big < 1_000_000 or out["rerun"][big]["seconds"] <= RERUN_TARGET_S
        )
    )
    print(
        f"\ntargets (ticks <= {TICK_TARGET_S:.0f} s, growth <= {GROWTH_TARGET:.0f}x from "
        f"{prev or '-'} to {big:,}, 1M re-run <= {RERUN_TARGET_S:.0f} s): {'met' if met else 'MISSED'}"
    )
    print(" ".join(f"{k}={v}" for k, v in pairs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
