"""Signed webhooks when a queued file is done or failed for good; callback hosts restricted."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from fastapi.testclient import TestClient

from media_pipeline_dagster.gateway.api import create_app
from media_pipeline_dagster.gateway.webhooks import callback_allowed, deliver_due

from .conftest import KEY, seed_recordings

H = {"X-API-Key": KEY}
SECRET = "webhook-secret"


def complete(engine, audio_id):
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO media_pipeline.transcriptions (audio_file_id, provider, model, status, completed_at, transcript_text, metadata) "
            "VALUES (:i, 'OpenAI', 'whisper-1', 'completed', now(), 'all done', '{}')"), {"i": audio_id})


def test_callback_hosts_are_restricted():
    hosts = frozenset({"hooks.example.com", ".corp.example"})
    assert callback_allowed("https://hooks.example.com/x", hosts) and callback_allowed("https://a.corp.example/x", hosts)
    for url in ("https://evil.example.com/x", "ftp://hooks.example.com/x", "https://hooks.example.com.evil/x", "not a url"):
        assert not callback_allowed(url, hosts)


def test_signed_webhook_on_completion_retried_after_failure(gateway_settings, pg_url, origin, receiver):
    seed_recordings(pg_url, [{"id": "1", "url": origin.url("/gen/1000/a.mp3")}, {"id": "2", "url": origin.url("/gen/1000/b.mp3")}])
    gateway_settings.callback_hosts = frozenset({"127.0.0.1"})
    gateway_settings.webhook_secret = SECRET
    gateway_settings.webhook_interval_seconds = 3600  # passes are driven by the test
    engine = gateway_settings.catalog_engine
    with TestClient(create_app(gateway_settings)) as c:
        refused = c.post("/api/media/transcribe", data={"recording_id": "2", "callback_url": "https://elsewhere.example/h"}, headers=H)
        assert refused.status_code == 422
        answer = c.post("/api/media/transcribe", data={"recording_id": "1", "callback_url": receiver.url}, headers=H)
        audio_id = answer.json()["audio_file_id"]
    assert deliver_due(engine, SECRET) == 0 and receiver.calls == []  # still pending: nothing to say
    complete(engine, audio_id)
    receiver.fail_next = 1
    assert deliver_due(engine, SECRET) == 0 and len(receiver.calls) == 1  # refused: retried later, not now
    assert deliver_due(engine, SECRET) == 0 and len(receiver.calls) == 1
    later = datetime.now(timezone.utc) + timedelta(minutes=1)
    assert deliver_due(engine, SECRET, now=later) == 1 and len(receiver.calls) == 2
    call = receiver.calls[-1]
    expected = hmac.new(SECRET.encode(), call["headers"]["X-Signature-Timestamp"].encode() + b"." + call["body"], hashlib.sha256).hexdigest()
    assert call["headers"]["X-Signature-256"] == "sha256=" + expected
    body = json.loads(call["body"])
    assert body["audio_file_id"] == audio_id and body["status"] == "completed" and body["transcript"] == "all done"
    assert deliver_due(engine, SECRET, now=later + timedelta(hours=1)) == 0 and len(receiver.calls) == 2  # once only
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT attempts, delivered_status FROM media_pipeline.gateway_callbacks")).one()
    assert row.attempts == 2 and row.delivered_status == "completed"
