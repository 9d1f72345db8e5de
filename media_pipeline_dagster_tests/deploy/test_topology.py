"""The single-VM topology from deploy/: code server, webserver and daemon as separate processes
on a PostgreSQL-backed instance; the sensor turned on through GraphQL; a CSV dropped; the
daemon killed while runs wait in the queue and started again; every run finishes."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from ..calls.helpers import write_csv
from ..gateway.conftest import Receiver
from ..servers.audio_origin import audio_origin
from ..transcription.helpers import wav_bytes
from .topology import Deployment, wait_for

CAMPAIGNS = ["Alpha Calls", "Bravo Calls", "Charlie Calls"]
FILES_PER_CAMPAIGN = 2
DONE = {"SUCCESS", "FAILURE", "CANCELED"}


@pytest.fixture
def slow_origin():
    # Each download waits, so the first runs hold the b2 pool's 2 slots while the third
    # run waits in the queue: the daemon is killed with work queued.
    with audio_origin(delay_seconds=3.0) as origin:
        yield origin


def sensor_runs(deployment: Deployment) -> list[dict]:
    return [r for r in deployment.runs() if {"key": "dagster/sensor_name", "value": "csv_inbox_sensor"} in r["tags"]]


def test_vm_topology_survives_a_daemon_restart(production_env, tmp_path, inbox, pg_url, s3_server, bucket, slow_origin):
    receiver = Receiver()
    deployment = Deployment(tmp_path / "vm", {**production_env, "MEDIA_PIPELINE_ALERT_WEBHOOK_URL": receiver.url})
    rows = [
        {"campaign_name": campaign, "recordings_row_id": 100 * c + i, "phone": f"+49 151 {c}{i}",
         "url": slow_origin.add_file(f"/calls/{c}-{i}.wav", wav_bytes(0.5 + i / 10), "audio/wav"),
         "started": f"2025-08-27T10:0{c}:{i:02d}Z"}
        for c, campaign in enumerate(CAMPAIGNS) for i in range(FILES_PER_CAMPAIGN)
    ]
    write_csv(inbox, rows)
    try:
        deployment.start_code_server()
        deployment.wait_for_code_server()
        deployment.start_webserver()
        deployment.start_daemon()
        deployment.wait_until_loaded()

        assert deployment.start_sensor("csv_inbox_sensor") == "RUNNING"
        runs = wait_for("one run per campaign", lambda: (r := sensor_runs(deployment)) and len(r) == len(CAMPAIGNS) and r,
                        120, deployment.log_tail)
        queued = wait_for("a run waiting in the queue", lambda: [r for r in sensor_runs(deployment) if r["status"] == "QUEUED"],
                          60, deployment.log_tail)
        deployment.kill("daemon")
        # Nothing dequeues while the daemon is down; the runs already started go on.
        assert all(r["status"] == "QUEUED" for r in sensor_runs(deployment) if r["runId"] in {q["runId"] for q in queued})
        deployment.start_daemon()

        finished = wait_for("every run to finish", lambda: (r := sensor_runs(deployment)) and all(x["status"] in DONE for x in r) and r,
                            300, deployment.log_tail)
        assert [r["status"] for r in finished] == ["SUCCESS"] * len(CAMPAIGNS), deployment.log_tail()
        # The UI's Target column: each sensor run names its asset.
        assert all(r["assetSelection"] == [{"path": ["audio_files"]}] for r in finished)
        assert len(runs) == len(CAMPAIGNS)

        engine = sa.create_engine(pg_url)
        with engine.connect() as conn:
            keys = conn.execute(sa.text("SELECT b2_object_key FROM media_pipeline.audio_files")).scalars().all()
        engine.dispose()
        assert len(keys) == len(rows) and all(keys)
        listed = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
        names = {o["Key"] for o in listed}
        assert set(keys) <= names
        # Step logs went to the bucket (S3ComputeLogManager), not to one host's disk.
        assert any(n.startswith("dagster/compute-logs/") for n in names), sorted(names)

        heartbeat = [sys.executable, "-m", "media_pipeline_dagster.operations.heartbeat"]
        ok = subprocess.run(heartbeat, env=deployment.env, cwd=deployment.root, capture_output=True, text=True, timeout=120)
        assert ok.returncode == 0, ok.stderr
        deployment.kill("daemon")
        stale = subprocess.run([*heartbeat, "--tolerance", "0"], env=deployment.env, cwd=deployment.root,
                               capture_output=True, text=True, timeout=120)
        assert stale.returncode == 1 and "SENSOR" in stale.stderr, stale.stderr
        assert any(b"dagster-daemon is not running" in call["body"] for call in receiver.calls)
    finally:
        deployment.stop_all()
        receiver.server.shutdown()
