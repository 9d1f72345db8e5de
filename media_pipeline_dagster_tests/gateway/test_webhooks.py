"""Signed webhooks when a queued file is done or failed for good; callback hosts restricted."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa
from fastapi.testclient import TestClient

from media_pipeline_dagster.gateway.api import create_app
from media_pipeline_dagster.gateway.webhooks import callback_allowed, deliver_due
from media_pipeline_dagster.kernel.fetch import FetchPolicy, parse_networks

from .conftest import KEY, Receiver, seed_recordings, served

H = {"X-API-Key": KEY}
SECRET = "webhook-secret"
LOOPBACK = FetchPolicy(
    allowed_networks=parse_networks(["127.0.0.1/32"])
)  # the receivers here are local


def complete(engine, audio_id):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO media_pipeline.transcriptions (audio_file_id, provider, model, status, completed_at, transcript_text, metadata) "
                "VALUES (:i, 'OpenAI', 'whisper-1', 'completed', now(), 'all done', '{}')"
            ),
            {"i": audio_id},
        )


def test_callback_hosts_are_restricted():
    hosts = frozenset({"hooks.example.com", ".corp.example"})
    assert callback_allowed("https://hooks.example.com/x", hosts) and callback_allowed(
        "https://a.corp.example/x", hosts
    )
    for url in (
        "https://evil.example.com/x",
        "ftp://hooks.example.com/x",
        "https://hooks.example.com.evil/x",
        "not a url",
    ):
        assert not callback_allowed(url, hosts)


def test_signed_webhook_on_completion_retried_after_failure(
    gateway_settings, pg_url, origin, receiver
):
    seed_recordings(
        pg_url,
        [
            {"id": "1", "url": origin.url("/gen/1000/a.mp3")},
            {"id": "2", "url": origin.url("/gen/1000/b.mp3")},
        ],
    )
    gateway_settings.callback_hosts = frozenset({"127.0.0.1"})
    gateway_settings.webhook_secret = SECRET
    gateway_settings.webhook_interval_seconds = 3600  # passes are driven by the test
    engine = gateway_settings.catalog_engine
    with TestClient(create_app(gateway_settings)) as c:
        refused = c.post(
            "/api/media/transcribe",
            data={"recording_id": "2", "callback_url": "https://elsewhere.example/h"},
            headers=H,
        )
        assert refused.status_code == 422
        answer = c.post(
            "/api/media/transcribe",
            data={"recording_id": "1", "callback_url": receiver.url},
            headers=H,
        )
        audio_id = answer.json()["audio_file_id"]
    assert (
        deliver_due(engine, SECRET, policy=LOOPBACK) == 0 and receiver.calls == []
    )  # still pending: nothing to say
    complete(engine, audio_id)
    receiver.fail_next = 1
    assert (
        deliver_due(engine, SECRET, policy=LOOPBACK) == 0 and len(receiver.calls) == 1
    )  # refused: retried later, not now
    assert deliver_due(engine, SECRET, policy=LOOPBACK) == 0 and len(receiver.calls) == 1
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert deliver_due(engine, SECRET, policy=LOOPBACK, now=later) == 1 and len(receiver.calls) == 2
    call = receiver.calls[-1]
    expected = hmac.new(
        SECRET.encode(),
        call["headers"]["X-Signature-Timestamp"].encode() + b"." + call["body"],
        hashlib.sha256,
    ).hexdigest()
    assert call["headers"]["X-Signature-256"] == "sha256=" + expected
    body = json.loads(call["body"])
    assert (
        body["audio_file_id"] == audio_id
        and body["status"] == "completed"
        and body["transcript"] == "all done"
    )
    assert (
        deliver_due(engine, SECRET, policy=LOOPBACK, now=later + timedelta(hours=1)) == 0
        and len(receiver.calls) == 2
    )  # once only
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT attempts, delivered_status FROM media_pipeline.gateway_callbacks")
        ).one()
    assert row.attempts == 2 and row.delivered_status == "completed"


def submit_with_callback(
    gateway_settings, callback_url: str, hosts=frozenset({"127.0.0.1"})
) -> int:
    gateway_settings.callback_hosts = frozenset(hosts)
    gateway_settings.webhook_secret = SECRET
    gateway_settings.webhook_interval_seconds = 3600  # passes are driven by the test
    with served(create_app(gateway_settings)) as base:
        answer = requests.post(
            f"{base}/api/media/transcribe",
            data={"recording_id": "1", "callback_url": callback_url},
            headers=H,
            timeout=30,
        )
    assert answer.status_code == 200, answer.text
    return answer.json()["audio_file_id"]


def verify(call: dict, now: float, seen: set[str], window: float = 300) -> dict:
    """The receiver's recipe from docs/gateway.md: signature, freshness, event id not seen before."""
    stamp, body = call["headers"]["X-Signature-Timestamp"], call["body"]
    expected = (
        "sha256="
        + hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    assert hmac.compare_digest(expected, call["headers"]["X-Signature-256"])
    event = json.loads(body)
    assert event["timestamp"] == int(stamp) and abs(now - event["timestamp"]) <= window
    assert event["event_id"] not in seen
    seen.add(event["event_id"])
    return event


def test_event_id_and_timestamp_are_inside_the_signed_body(
    gateway_settings, pg_url, origin, receiver
):
    seed_recordings(pg_url, [{"id": "1", "url": origin.url("/gen/1000/a.mp3")}])
    audio_id = submit_with_callback(gateway_settings, receiver.url)
    engine = gateway_settings.catalog_engine
    complete(engine, audio_id)
    receiver.fail_next = 1
    deliver_due(engine, SECRET, policy=LOOPBACK)
    deliver_due(engine, SECRET, policy=LOOPBACK, now=datetime.now(UTC) + timedelta(minutes=1))
    first, second = (json.loads(c["body"]) for c in receiver.calls)
    assert (
        first["event_id"] == second["event_id"]
    )  # a retry is the same event: receivers drop the repeat
    event = verify(receiver.calls[-1], time.time(), set())
    assert (
        event["event"] == "transcription.completed"
        and event["audio_file_id"] == audio_id
        and event["transcript"] == "all done"
    )
    tampered = {
        **receiver.calls[-1],
        "body": receiver.calls[-1]["body"].replace(b'"timestamp": ', b'"timestamp": 1'),
    }
    with pytest.raises(AssertionError):  # a changed timestamp breaks the signature
        verify(tampered, time.time(), set())


def test_a_receiver_redirecting_elsewhere_is_not_followed(
    gateway_settings, pg_url, origin, receiver
):
    inner = Receiver()  # stands for an internal address the receiver points at
    try:
        seed_recordings(pg_url, [{"id": "1", "url": origin.url("/gen/1000/a.mp3")}])
        audio_id = submit_with_callback(gateway_settings, receiver.url)
        complete(gateway_settings.catalog_engine, audio_id)
        receiver.redirect_to = inner.url
        assert deliver_due(gateway_settings.catalog_engine, SECRET, policy=LOOPBACK) == 0
        assert len(receiver.calls) == 1 and inner.calls == []  # the signed body went nowhere else
        with gateway_settings.catalog_engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT attempts, last_error, delivered_at FROM media_pipeline.gateway_callbacks"
                )
            ).one()
        assert (
            row.attempts == 1
            and row.delivered_at is None
            and "redirects are not followed" in row.last_error
        )
    finally:
        inner.server.shutdown()
