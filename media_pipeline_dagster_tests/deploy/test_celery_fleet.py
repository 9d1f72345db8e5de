"""The VM fleet for real: dagster-celery with a Redis broker, workers as separate processes.

- a CSV's backfill becomes one run per campaign, whose steps execute on two `dagster` queue workers;
- transcription steps go to the `transcription` queue and only its workers run them;
- two runs on one transcription partition, on two workers at once: each file transcribed once;
- a worker process killed mid-step: the run fails naming the lost worker, the daemon's run
  retry executes the step again on a live worker, and the catalog ends complete.
"""

from __future__ import annotations

import os
import signal
from collections import defaultdict

import dagster as dg
import pytest
import sqlalchemy as sa

from ..calls.helpers import write_csv
from ..servers.audio_origin import audio_origin
from ..servers.openai_fake import openai_server
from ..transcription.helpers import wav_bytes
from .celery_fleet import descendants, redis_server, start_worker
from .topology import LOCATION, Deployment, wait_for

DAY = "2025-08-27"
CAMPAIGNS = {"alpha-calls": "Alpha Calls", "bravo-calls": "Bravo Calls", "charlie-calls": "Charlie Calls"}
DONE = {"SUCCESS", "FAILURE", "CANCELED"}
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


@pytest.fixture
def fleet(production_env, tmp_path):
    with redis_server(tmp_path) as redis_url, openai_server(latency=0.4) as openai:
        env = {**production_env, "MEDIA_PIPELINE_EXECUTOR": "celery",
               "MEDIA_PIPELINE_CELERY_BROKER": f"{redis_url}/0", "MEDIA_PIPELINE_CELERY_BACKEND": f"{redis_url}/1",
               "MEDIA_PIPELINE_TRANSCRIBER": "openai", "OPENAI_API_KEY": openai.api_key, "OPENAI_BASE_URL": openai.base_url}
        deployment = Deployment(tmp_path / "fleet", env)
        try:
            deployment.start_code_server()
            deployment.wait_for_code_server()
            deployment.start_webserver()
            deployment.start_daemon()
            for name, queue in (("w1", "dagster"), ("w2", "dagster"), ("t1", "transcription"), ("t2", "transcription")):
                start_worker(deployment, name, queue)
            deployment.wait_until_loaded()
            yield deployment, openai
        finally:
            deployment.stop_all()


def celery_hosts(instance: dg.DagsterInstance, run_id: str) -> dict[str, set[str]]:
    """step key → the workers that executed it (dagster-celery's engine event names them)."""
    hosts: dict[str, set[str]] = defaultdict(set)
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event and event.is_engine_event and event.engine_event_data and "Celery worker" in (event.engine_event_data.metadata or {}):
            hosts[event.step_key].add(event.engine_event_data.metadata["Celery worker"].value.split("@")[0])
    return hosts


def finished(deployment: Deployment, run_ids: set[str], timeout: float = 300) -> list[dict]:
    return wait_for(f"runs {sorted(run_ids)} to finish",
                    lambda: (r := [x for x in deployment.runs() if x["runId"] in run_ids]) and len(r) == len(run_ids)
                    and all(x["status"] in DONE for x in r) and r, timeout, deployment.log_tail)


def launch(deployment: Deployment, asset: str, partition: str, run_config: dict | None = None) -> str:
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": "__ASSET_JOB",
                     "assetSelection": [{"path": [asset]}]},
        "runConfigData": run_config or {},
        "executionMetadata": {"tags": [{"key": "dagster/asset_partition_range_start", "value": partition},
                                       {"key": "dagster/asset_partition_range_end", "value": partition}]},
    }
    result = deployment.graphql(LAUNCH, {"p": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def test_celery_fleet(fleet, inbox, pg_url, production_env, monkeypatch):
    deployment, openai = fleet
    for name in [*production_env, "DAGSTER_HOME"]:  # this process reads the same instance
        monkeypatch.setenv(name, deployment.env[name])
    with audio_origin(delay_seconds=1.0) as origin:
        rows = [{"campaign_name": name, "recordings_row_id": 10 * c + i, "phone": f"+49 170 {c}{i}",
                 "url": origin.add_file(f"/fleet/{c}-{i}.wav", wav_bytes(1.0 + i / 10), "audio/wav"),
                 "started": f"{DAY}T09:0{c}:{i:02d}Z"}
                for c, name in enumerate(CAMPAIGNS.values()) for i in range(4)]
        write_csv(inbox, rows)
        # The CSV's three campaigns become three runs (the sensor splits a file's backfill by
        # campaign; an asset backfill of audio_files follows its single-run policy: one run).
        assert deployment.start_sensor("csv_inbox_sensor") == "RUNNING"
        backfill_runs = wait_for("one run per campaign", lambda: (r := [x for x in deployment.runs()
                                 if {"key": "dagster/sensor_name", "value": "csv_inbox_sensor"} in x["tags"]])
                                 and len(r) == len(CAMPAIGNS) and r, 180, deployment.log_tail)
        done = finished(deployment, {r["runId"] for r in backfill_runs})
        assert {r["status"] for r in done} == {"SUCCESS"}, deployment.log_tail()

        with dg.DagsterInstance.from_config(str(deployment.home)) as instance:
            hosts = set().union(*(h for r in done for h in celery_hosts(instance, r["runId"]).values()))
            assert hosts == {"w1", "w2"}, hosts  # both workers of the default queue did work, no other

            # Two runs on one partition's transcriptions, at once, on the two transcription workers.
            partition = f"alpha-calls|{DAY}"
            config = {"ops": {"transcriptions": {"config": {"concurrency": 1}}}}
            pair = {launch(deployment, "transcriptions", partition, config) for _ in range(2)}
            assert {r["status"] for r in finished(deployment, pair)} == {"SUCCESS"}, deployment.log_tail()
            workers = [celery_hosts(instance, run_id)["transcriptions"] for run_id in pair]
            assert set().union(*workers) <= {"t1", "t2"} and all(workers), workers
        files = [r for r in rows if r["campaign_name"] == "Alpha Calls"]
        uploads = [req for req in openai.requests if req.path.endswith("/audio/transcriptions")]
        assert len(uploads) == len(files), [u.path for u in uploads]  # each file once, never twice
        engine = sa.create_engine(pg_url)
        with engine.connect() as conn:
            done_rows = conn.execute(sa.text("SELECT audio_file_id, count(*) FROM media_pipeline.transcriptions "
                                             "WHERE status = 'completed' GROUP BY 1")).all()
        assert len(done_rows) == len(files) and all(n == 1 for _, n in done_rows)

        # A worker's step process killed mid-step.
        slow = [{"campaign_name": "Delta Calls", "recordings_row_id": 900 + i, "phone": "+49 170 9",
                 "url": origin.add_file(f"/fleet/slow-{i}.wav", wav_bytes(1.0), "audio/wav"), "started": f"{DAY}T11:00:{i:02d}Z"}
                for i in range(3)]
        write_csv(inbox, slow, name="delta.csv")
        origin.delay_seconds = 8.0
        with dg.DagsterInstance.from_config(str(deployment.home)) as instance:
            instance.add_dynamic_partitions("campaigns", ["delta-calls"])
            run_id = launch(deployment, "audio_files", f"delta-calls|{DAY}")
            busy = wait_for("the step to start on a worker", lambda: celery_hosts(instance, run_id).get("audio_files"), 120,
                            deployment.log_tail)
        worker = deployment.procs[f"worker-{next(iter(busy))}"]
        wait_for("the step to reach the slow downloads", lambda: origin.hits(slow[0]["url"]) > 0, 60, deployment.log_tail)
        step_process = descendants(worker.pid)[-1]  # dagster-celery → celery main → the pool process running the step
        os.kill(step_process, signal.SIGKILL)
        origin.delay_seconds = 0.0
        [failed] = finished(deployment, {run_id})
        assert failed["status"] == "FAILURE"
        with dg.DagsterInstance.from_config(str(deployment.home)) as instance:
            messages = " ".join(r.message or "" for r in instance.all_logs(run_id))
            assert "WorkerLostError" in messages or "Worker exited prematurely" in messages, messages[-2000:]
        retry = wait_for("the daemon's retry of the failed run", lambda: [
            r for r in deployment.runs() if {"key": "dagster/parent_run_id", "value": run_id} in r["tags"]], 180, deployment.log_tail)
        assert [r["status"] for r in finished(deployment, {retry[0]["runId"]})] == ["SUCCESS"], deployment.log_tail()
        with engine.connect() as conn:
            delta = conn.execute(sa.text("SELECT count(*) FROM media_pipeline.audio_files WHERE campaign_name = 'Delta Calls'")).scalar()
        engine.dispose()
        assert delta == len(slow)
