"""Submit over HTTP (a real uvicorn) → the pending sensor's run → transcribed → status completed → signed webhook."""

from __future__ import annotations

import json
import time

import dagster as dg
import requests

from media_pipeline_dagster.gateway.api import create_app
from media_pipeline_dagster.gateway.webhooks import sign
from media_pipeline_dagster.resources.databases import CatalogResource
from media_pipeline_dagster.resources.fetch import FetchPolicyResource
from media_pipeline_dagster.transcription.assets import transcriptions
from media_pipeline_dagster.transcription.sensors import pending_transcriptions_sensor

from ..servers.openai_fake import openai_server
from ..transcription.conftest import openai_transcriber
from ..transcription.helpers import wav_bytes
from .conftest import KEY, seed_recordings, served
from .test_webhooks import SECRET


def test_submit_sensor_run_completed_webhook(
    gateway_settings, pg_url, origin, object_store, instance, receiver
):
    url = origin.add_file("/vr/PR_e2e-0001.wav", wav_bytes(3.0), "audio/wav")
    seed_recordings(pg_url, [{"id": "4242", "url": url}])
    gateway_settings.callback_hosts = frozenset({"127.0.0.1"})
    gateway_settings.webhook_secret = SECRET
    gateway_settings.webhook_interval_seconds = 0.2  # the app's own delivery thread
    with served(create_app(gateway_settings)) as base:
        submitted = requests.post(
            f"{base}/api/media/transcribe",
            data={"recording_id": "4242", "callback_url": receiver.url},
            headers={"X-API-Key": KEY},
            timeout=30,
        ).json()
        audio_id = submitted["audio_file_id"]
        status = requests.get(
            f"{base}/api/media/status/{audio_id}", headers={"X-API-Key": KEY}, timeout=10
        ).json()
        assert status["status"] == "pending"

        with openai_server() as fake:
            resources = {
                "catalog": CatalogResource(database_url=pg_url),
                "object_store": object_store,
                "transcriber": openai_transcriber(fake),
                "fetch_policy": FetchPolicyResource(),
            }
            with dg.build_sensor_context(instance=instance, resources=resources) as context:
                tick = pending_transcriptions_sensor(context)
            for request in tick.dynamic_partitions_requests:
                instance.add_dynamic_partitions(
                    request.partitions_def_name, list(request.partition_keys)
                )
            (run,) = tick.run_requests
            assert run.tags["dagster/asset_partition_range_start"] == "gateway-calls|2025-08-27"
            result = dg.materialize(
                [transcriptions], instance=instance, resources=resources, tags=run.tags
            )
            assert result.success

        done = requests.get(
            f"{base}/api/media/status/{audio_id}", headers={"X-API-Key": KEY}, timeout=10
        ).json()
        assert done["status"] == "completed" and done["transcript"]
        assert done["metadata"]["b2_transcript_json_key"].startswith(
            "gateway/gateway-calls/transcriptions/json/"
        )
        deadline = time.monotonic() + 20
        while not receiver.calls:
            assert time.monotonic() < deadline, "no webhook arrived"
            time.sleep(0.1)
        call = receiver.calls[0]
        assert call["headers"]["X-Signature-256"] == sign(
            SECRET, call["headers"]["X-Signature-Timestamp"], call["body"]
        )
        assert json.loads(call["body"])["status"] == "completed"
