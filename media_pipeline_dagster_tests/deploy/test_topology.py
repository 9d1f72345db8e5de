"""The single-VM topology from deploy/: code server, webserver and daemon as separate processes
on a PostgreSQL-backed instance; the sensor turned on through GraphQL; a CSV dropped; the
daemon killed while runs wait in the queue and started again; every run finishes."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
import sqlalchemy as sa

from ..calls.helpers import write_csv
from ..gateway.conftest import Receiver
from ..servers.audio_origin import audio_origin
from ..transcription.helpers import wav_bytes
from .conftest import production_host
from .topology import Deployment, wait_for

CAMPAIGNS = ["Alpha Calls", "Bravo Calls", "Charlie Calls"]
SENSOR_RUNS = {"dagster/sensor_name": "csv_inbox_sensor"}


def test_vm_topology_survives_a_daemon_restart(tmp_path, pg_base_url, s3_server):
    receiver = Receiver()
    # Each download waits, so two runs hold the b2 pool's 2 slots while the third waits in
    # the queue: the daemon is killed with work queued and work running.
    with (
        production_host(pg_base_url, s3_server, tmp_path) as host,
        audio_origin(delay_seconds=4.0) as origin,
    ):
        deployment = Deployment(
            tmp_path / "vm", {**host.env, "MEDIA_PIPELINE_ALERT_WEBHOOK_URL": receiver.url}
        )
        rows = [
            {
                "campaign_name": campaign,
                "recordings_row_id": 100 * c + i,
                "phone": f"+49 151 {c}{i}",
                "url": origin.add_file(f"/calls/{c}-{i}.wav", wav_bytes(0.5 + i / 10), "audio/wav"),
                "started": f"2025-08-27T10:0{c}:{i:02d}Z",
            }
            for c, campaign in enumerate(CAMPAIGNS)
            for i in range(2)
        ]
        write_csv(host.inbox, rows)
        try:
            deployment.start_all()
            # As docs/deployment.md's install steps: pool limits set once. (The run queue gives
            # a pool its default limit only from the dequeue after it first meets the pool.)
            deployment.set_pool_limit("b2", 2)
            assert deployment.start_sensor("csv_inbox_sensor") == "RUNNING"
            runs = wait_for(
                "one run per campaign",
                lambda: (r := deployment.runs(tags=SENSOR_RUNS)) and len(r) == len(CAMPAIGNS) and r,
                120,
                deployment.log_tail,
            )
            # Killed between launches: a run the daemon was launching at that instant would stay
            # STARTING until run monitoring's start timeout fails it and the run retry relaunches it.
            queued = wait_for(
                "runs running and a run waiting in the queue",
                lambda: (
                    (r := deployment.runs(tags=SENSOR_RUNS))
                    and {x.status for x in r}
                    == {dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.QUEUED}
                    and [x.run_id for x in r if x.status == dg.DagsterRunStatus.QUEUED]
                ),
                120,
                deployment.log_tail,
            )
            deployment.kill("daemon")
            # Nothing dequeues while the daemon is down; the runs already started go on.
            assert {r.status for r in deployment.runs(run_ids=queued)} == {
                dg.DagsterRunStatus.QUEUED
            }
            deployment.start_daemon()

            finished = deployment.finished([r.run_id for r in runs])
            assert [r.status for r in finished] == [dg.DagsterRunStatus.SUCCESS] * len(CAMPAIGNS), (
                deployment.log_tail()
            )
            # The UI's Target column: each sensor run names its asset.
            assert all(r.asset_selection == {dg.AssetKey("audio_files")} for r in finished)

            engine = sa.create_engine(host.catalog_url)
            with engine.connect() as conn:
                keys = (
                    conn.execute(sa.text("SELECT b2_object_key FROM media_pipeline.audio_files"))
                    .scalars()
                    .all()
                )
            engine.dispose()
            assert len(keys) == len(rows) and all(keys)
            names = {
                o["Key"]
                for o in host.s3_client().list_objects_v2(Bucket=host.bucket).get("Contents", [])
            }
            assert set(keys) <= names
            # Step logs went to the bucket (S3ComputeLogManager), not to one host's disk.
            assert any(n.startswith("dagster/compute-logs/") for n in names), sorted(names)

            heartbeat = [sys.executable, "-m", "media_pipeline_dagster.operations.heartbeat"]
            ok = subprocess.run(
                heartbeat,
                env=deployment.env,
                cwd=deployment.root,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert ok.returncode == 0, ok.stderr
            deployment.kill("daemon")
            stale = subprocess.run(
                [*heartbeat, "--tolerance", "0"],
                env=deployment.env,
                cwd=deployment.root,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert (
                stale.returncode == 1
                and "SENSOR" in stale.stderr
                and "Traceback" not in stale.stderr
            ), stale.stderr
            assert any(b"dagster-daemon is not running" in call["body"] for call in receiver.calls)
        finally:
            deployment.stop_all()
            receiver.server.shutdown()
