"""Concurrent runs, a killed run, and a file over the API's size limit."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from .helpers import PARTITION, materialize, metadata, now, seed_audio, table, wav_bytes

REPO = Path(__file__).resolve().parents[2]


def child(openai_resources, openai_fake, **config) -> subprocess.Popen:
    store = openai_resources["object_store"]
    args = {
        "pg_url": openai_resources["catalog"].database_url,
        "s3": {
            k: getattr(store, k)
            for k in ("endpoint_url", "region", "access_key_id", "secret_access_key", "bucket")
        },
        "base_url": openai_fake.base_url,
        "api_key": openai_fake.api_key,
        "partition": PARTITION,
        "config": config,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "media_pipeline_dagster_tests.transcription.transcribe_child",
            json.dumps(args),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def successful_requests(openai_fake) -> Counter:
    return Counter(r.file_sha256 for r in openai_fake.requests if r.status == 200)


def test_two_concurrent_runs_transcribe_every_file_exactly_once(openai_resources, openai_fake):
    engine = openai_resources["catalog"].engine
    files = 20
    ids = seed_audio(
        engine,
        openai_resources["object_store"],
        [wav_bytes(1.0, freq=200 + 10 * i) for i in range(files)],
    )
    # alone, one run needs ~6 s: far longer than the gap between the two processes' start-ups
    openai_fake.set_faults(latency=0.6)
    runs = [child(openai_resources, openai_fake, concurrency=2) for _ in range(2)]
    outputs = [
        json.loads(p.communicate(timeout=120)[0].decode().strip().splitlines()[-1]) for p in runs
    ]
    assert all(p.returncode == 0 for p in runs)
    counts = successful_requests(openai_fake)
    assert len(counts) == files and set(counts.values()) == {1}  # each file sent once, by one run
    assert sum(o["transcribed"] for o in outputs) == files
    assert all(o["transcribed"] > 0 for o in outputs)  # both runs did a share of the work
    assert sorted(r.audio_file_id for r in table(engine, "transcriptions")) == ids
    assert table(engine, "transcription_claims") == []


def test_killed_run_loses_nothing_and_its_claims_are_reclaimed_after_ttl(
    instance, openai_resources, openai_fake
):
    engine = openai_resources["catalog"].engine
    bodies = [wav_bytes(1.0, freq=500 + 10 * i) for i in range(8)]
    ids = seed_audio(engine, openai_resources["object_store"], bodies)
    sha_of = {i: hashlib.sha256(b).hexdigest() for i, b in zip(ids, bodies)}
    openai_fake.set_faults(latency=0.6)
    ttl_minutes = (
        10 / 60
    )  # long enough that the first re-run surely sees the dead run's claims alive
    proc = child(openai_resources, openai_fake, concurrency=2, claim_ttl_minutes=ttl_minutes)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.scalar(sa.text("SELECT COUNT(*) FROM media_pipeline.transcriptions")) >= 2:
                    break
            assert proc.poll() is None, "the run finished before it could be killed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    done_before = {r.audio_file_id for r in table(engine, "transcriptions")}
    held = {r.audio_file_id for r in table(engine, "transcription_claims")}
    assert done_before and held and not done_before & held and len(done_before) < 8
    openai_fake.set_faults(latency=0.0)

    # at once: the dead run's claims are honoured, everything else gets done
    first = metadata(materialize(instance, openai_resources, claim_ttl_minutes=ttl_minutes))
    assert first["skipped_by_reason"]["claimed_by_another_worker"] == len(held)
    assert {r.audio_file_id for r in table(engine, "transcriptions")} == set(ids) - held
    # after the TTL the stale claims are taken over and the rest is transcribed
    latest_expiry = max(r.expires_at for r in table(engine, "transcription_claims"))
    time.sleep(max(0.0, (latest_expiry - now()).total_seconds()) + 0.5)
    second = metadata(materialize(instance, openai_resources, claim_ttl_minutes=ttl_minutes))
    assert second["transcribed"] == len(held)
    final = table(engine, "transcriptions")
    assert (
        sorted(r.audio_file_id for r in final) == ids
        and table(engine, "transcription_claims") == []
    )
    # files finished before the kill were sent once; only those in flight at the kill twice
    sent = successful_requests(openai_fake)
    assert all(sent[sha_of[i]] == 1 for i in done_before)
    assert all(sent[sha_of[i]] <= 2 for i in held) and all(
        sent[sha_of[i]] == 1 for i in set(ids) - done_before - held
    )


def big_wav(path: Path, megabytes: float, rate: int = 16_000) -> bytes:
    data_len = int(megabytes * 1_000_000) // 2 * 2
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + data_len)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    )
    header += b"data" + struct.pack("<I", data_len)
    # quiet noise rather than zeros, so the pieces differ
    body = (bytes(range(64)) * (data_len // 64 + 1))[:data_len]
    return header + body


def test_a_30_mb_file_is_split_transcribed_and_stitched(
    instance, openai_resources, openai_fake, tmp_path
):
    body = big_wav(tmp_path / "long.wav", 30)
    (_audio_id,) = seed_audio(
        openai_resources["catalog"].engine, openai_resources["object_store"], [body]
    )
    meta = metadata(materialize(instance, openai_resources))
    assert meta["transcribed"] == 1 and meta["failed"] == 0
    sent = [r for r in openai_fake.requests if r.status == 200]
    assert len(sent) == 2 and all(r.file_size < 25_000_000 for r in sent)
    (row,) = table(openai_resources["catalog"].engine, "transcriptions")
    assert row.metadata["pieces"] == 2
    starts = [s["start"] for s in row.segments]
    ends = [s["end"] for s in row.segments]
    assert (
        starts == sorted(starts)
        and ends == sorted(ends)
        and all(a <= b for a, b in zip(ends, starts[1:]))
    )
    expected_seconds = (len(body) - 44) / 32_000
    assert (
        abs(ends[-1] - expected_seconds) < 1.0
        and abs(row.metadata["duration"] - expected_seconds) < 1.0
    )
    assert [s["id"] for s in row.segments] == list(range(len(row.segments)))
