"""The VM fleet for real: dagster-celery with a Redis broker, workers as separate processes.

One fleet for the module: its own redis-server, the code server, webserver and daemon, and
four `dagster-celery worker` processes from the systemd template: w1 and w2 on the default
queue `dagster`, t1 and t2 on `transcription`.

- an asset backfill launched through GraphQL splits into runs (one per call date) whose
  steps execute on both default-queue workers;
- transcription steps go to the `transcription` queue and only its workers run them; two
  runs on one partition at once, on t1 and t2, transcribe each file exactly once;
- the process running a step killed mid-step (as the OOM killer would): the run fails with
  Celery's WorkerLostError, the daemon's run retry executes the step again, and the catalog
  ends complete.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import dagster as dg
import pytest
import sqlalchemy as sa

from ..calls.helpers import write_csv
from ..servers.audio_origin import AudioOrigin, audio_origin
from ..servers.openai_fake import OpenAIFake, openai_server
from ..transcription.helpers import wav_bytes
from .celery_fleet import (
    celery_hosts,
    pause,
    redis_server,
    resume,
    start_worker,
    step_process,
    submitted,
)
from .conftest import Host, production_host
from .topology import Deployment, wait_for

DAY1, DAY2 = "2025-08-27", "2025-08-28"
CAMPAIGNS = ["alpha-calls", "bravo-calls"]
PARTITIONS = [f"{slug}|{day}" for slug in CAMPAIGNS for day in (DAY1, DAY2)]
WORKERS = {"w1": "dagster", "w2": "dagster", "t1": "transcription", "t2": "transcription"}
SUCCESS = dg.DagsterRunStatus.SUCCESS


@dataclass
class Fleet:
    deployment: Deployment
    host: Host
    openai: OpenAIFake
    origin: AudioOrigin


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, pg_base_url, s3_server):
    root = tmp_path_factory.mktemp("fleet")
    # Each transcription takes a second, so two runs sharing a partition overlap.
    with (
        production_host(pg_base_url, s3_server, root) as host,
        redis_server(root) as redis_url,
        openai_server(latency=1.0) as openai,
        audio_origin() as origin,
    ):
        env = {
            **host.env,
            "MEDIA_PIPELINE_EXECUTOR": "celery",
            "MEDIA_PIPELINE_CELERY_BROKER": f"{redis_url}/0",
            "MEDIA_PIPELINE_CELERY_BACKEND": f"{redis_url}/1",
            "MEDIA_PIPELINE_TRANSCRIBER": "openai",
            "OPENAI_API_KEY": openai.api_key,
            "OPENAI_BASE_URL": openai.base_url,
        }
        deployment = Deployment(root / "fleet", env)
        try:
            deployment.start_all(
                also=lambda: [start_worker(deployment, n, q) for n, q in WORKERS.items()]
            )
            yield Fleet(deployment, host, openai, origin)
        finally:
            deployment.stop_all()


def calls(origin: AudioOrigin, campaign: str, day: str, count: int, first_id: int) -> list[dict]:
    return [
        {
            "campaign_name": campaign,
            "recordings_row_id": first_id + i,
            "phone": f"+49 170 {first_id + i}",
            "url": origin.add_file(
                f"/{campaign.split()[0].lower()}/{day}-{i}.wav",
                wav_bytes(1.0 + i / 10),
                "audio/wav",
            ),
            "started": f"{day}T09:00:{i:02d}Z",
        }
        for i in range(count)
    ]


@dataclass
class Backfill:
    id: str
    runs: list[dg.DagsterRun]
    rows: list[dict]


@pytest.fixture(scope="module")
def backfill(fleet) -> Backfill:
    """audio_files backfilled over two campaigns × two days, launched as the UI launches it."""
    d = fleet.deployment
    rows = (
        calls(fleet.origin, "Alpha Calls", DAY1, 8, 100)
        + calls(fleet.origin, "Alpha Calls", DAY2, 1, 200)
        + calls(fleet.origin, "Bravo Calls", DAY1, 1, 300)
        + calls(fleet.origin, "Bravo Calls", DAY2, 1, 400)
    )
    write_csv(fleet.host.inbox, rows, name="backfill.csv")
    for slug in CAMPAIGNS:
        d.add_partition("campaigns", slug)
    # Both default-queue workers are frozen until both runs have sent their step, so the two
    # steps are in Redis at once; a worker holds only the step it runs (task_acks_late).
    pause(d, "w1", "w2")
    try:
        backfill_id = d.launch_backfill("audio_files", PARTITIONS)
        runs = wait_for(
            "the backfill's runs to send their steps to Celery",
            lambda: (
                (r := d.runs(tags={"dagster/backfill": backfill_id}))
                and len(r) == 2
                and all(submitted(d, x.run_id, "audio_files") for x in r)
                and r
            ),
            240,
            d.log_tail,
        )
    finally:
        resume(d, "w1", "w2")
    return Backfill(backfill_id, d.finished(r.run_id for r in runs), rows)


def test_a_backfill_splits_into_runs_whose_steps_run_on_both_default_workers(fleet, backfill):
    d = fleet.deployment
    assert [r.status for r in backfill.runs] == [SUCCESS, SUCCESS], d.log_tail()
    # The single-run backfill policy gives one run per range of partitions Dagster can form;
    # on campaign × date partitions, two campaigns over two days are one range per day.
    ranges = sorted(
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in backfill.runs
    )
    assert ranges == [(f"alpha-calls|{day}", f"bravo-calls|{day}") for day in (DAY1, DAY2)]
    assert {submitted(d, r.run_id, "audio_files") for r in backfill.runs} == {"dagster"}
    hosts = [celery_hosts(d, r.run_id) for r in backfill.runs]
    assert sorted(h["audio_files"].pop() for h in hosts) == ["w1", "w2"], (
        hosts
    )  # each worker ran one run's step

    engine = sa.create_engine(fleet.host.catalog_url)
    with engine.connect() as conn:
        keys = (
            conn.execute(
                sa.text(
                    "SELECT b2_object_key FROM media_pipeline.audio_files "
                    "WHERE campaign_name IN ('Alpha Calls', 'Bravo Calls')"
                )
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert len(keys) == len(backfill.rows) and all(keys)
    stored = {
        o["Key"]
        for o in fleet.host.s3_client().list_objects_v2(Bucket=fleet.host.bucket)["Contents"]
    }
    assert set(keys) <= stored
    # What the UI's partition view shows: every partition of the backfill materialized.
    assert set(PARTITIONS) <= set(
        d.instance.get_materialized_partitions(dg.AssetKey("audio_files"))
    )


def materialized_count(d: Deployment, run_id: str, name: str) -> int:
    [record] = d.instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    return record.asset_materialization.metadata[name].value


def test_two_transcription_workers_on_one_partition_transcribe_each_file_once(fleet, backfill):
    d, partition = fleet.deployment, f"alpha-calls|{DAY1}"
    files = [
        r
        for r in backfill.rows
        if r["campaign_name"] == "Alpha Calls" and r["started"].startswith(DAY1)
    ]
    config = {"ops": {"transcriptions": {"config": {"concurrency": 1}}}}
    pause(d, "t1", "t2")  # as above: both runs' steps wait in Redis, then each worker takes one
    try:
        pair = [d.launch_run("transcriptions", partition, config) for _ in range(2)]
        wait_for(
            "both runs to send their transcription step",
            lambda: all(submitted(d, run_id, "transcriptions") for run_id in pair),
            240,
            d.log_tail,
        )
    finally:
        resume(d, "t1", "t2")
    assert [r.status for r in d.finished(pair)] == [SUCCESS, SUCCESS], d.log_tail()

    # The step carries dagster-celery/queue=transcription: sent there, run by t1 and t2 only.
    assert {submitted(d, run_id, "transcriptions") for run_id in pair} == {"transcription"}
    hosts = sorted(celery_hosts(d, run_id)["transcriptions"].pop() for run_id in pair)
    assert hosts == ["t1", "t2"]
    # Both runs transcribed part of the partition, and no file twice (claims in the catalog).
    shares = [materialized_count(d, run_id, "transcribed") for run_id in pair]
    assert sum(shares) == len(files) and all(shares), shares
    uploads = [r for r in fleet.openai.requests if r.status == 200]
    assert len(uploads) == len(files) and len({u.file_sha256 for u in uploads}) == len(files)
    engine = sa.create_engine(fleet.host.catalog_url)
    with engine.connect() as conn:
        done = conn.execute(
            sa.text(
                "SELECT audio_file_id, count(*) FROM media_pipeline.transcriptions "
                "WHERE status = 'completed' GROUP BY 1"
            )
        ).all()
    engine.dispose()
    assert len(done) == len(files) and all(n == 1 for _, n in done)


def test_a_step_process_killed_mid_step_fails_the_run_and_the_retry_finishes_it(fleet, backfill):
    d, origin = fleet.deployment, fleet.origin
    rows = calls(origin, "Delta Calls", DAY1, 3, 900)
    write_csv(fleet.host.inbox, rows, name="delta.csv")
    d.add_partition("campaigns", "delta-calls")
    origin.delay_seconds = 60.0  # the downloads hang: the step is busy when its process dies
    run_id = d.launch_run("audio_files", f"delta-calls|{DAY1}")
    [worker] = wait_for(
        "the step to start on a worker",
        lambda: celery_hosts(d, run_id).get("audio_files"),
        240,
        d.log_tail,
    )
    wait_for(
        "the step to reach the downloads",
        lambda: any(origin.hits(r["url"]) for r in rows),
        120,
        d.log_tail,
    )
    # What the OOM killer or `kill -9` does to the process running the step. The worker's
    # main process sees its pool process gone and reports the task lost.
    os.kill(step_process(d, worker), signal.SIGKILL)
    origin.delay_seconds = 0.0

    [failed] = d.finished([run_id])
    assert failed.status == dg.DagsterRunStatus.FAILURE
    [failure] = d.instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    error = failure.dagster_event.event_specific_data.error.to_string()
    assert "WorkerLostError: Worker exited prematurely: signal 9 (SIGKILL)" in error, error
    [retry] = wait_for(
        "the daemon's retry of the failed run",
        lambda: d.runs(tags={"dagster/parent_run_id": run_id}),
        180,
        d.log_tail,
    )
    [retried] = d.finished([retry.run_id])
    assert retried.status == SUCCESS, d.log_tail()
    # The worker lives on (Celery starts a new pool process): either worker may run the retry.
    assert celery_hosts(d, retry.run_id)["audio_files"] <= {"w1", "w2"}
    engine = sa.create_engine(fleet.host.catalog_url)
    with engine.connect() as conn:
        delta = conn.execute(
            sa.text(
                "SELECT count(*) FROM media_pipeline.audio_files "
                "WHERE campaign_name = 'Delta Calls' AND b2_object_key IS NOT NULL"
            )
        ).scalar()
    engine.dispose()
    assert delta == len(rows)
