"""Alerts reach a real HTTP receiver in Slack's shape; the backlog check sees audio waiting too long."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from media_pipeline_dagster.catalog.schema import ensure_schema
from media_pipeline_dagster.operations.checks import no_audio_pending_too_long
from media_pipeline_dagster.operations.pending import overdue_audio
from media_pipeline_dagster.operations.sensors import run_failure_alert
from media_pipeline_dagster.resources.alerts import AlertWebhookError, OperationsResource
from media_pipeline_dagster.resources.databases import CatalogResource

from ..gateway.conftest import Receiver

PARTITIONS = dg.StaticPartitionsDefinition(["acme|2025-08-27"])


@dg.asset(partitions_def=PARTITIONS)
def audio_files() -> None:
    raise RuntimeError("B2 answered 403 AccessDenied for campaign-analysis")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def test_failed_run_posts_run_asset_partitions_and_error(receiver, instance):
    result = dg.materialize(
        [audio_files], instance=instance, partition_key="acme|2025-08-27", raise_on_error=False
    )
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    failure = next(
        e
        for e in instance.all_logs(result.run_id)
        if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure.dagster_event,
    ).for_run_failure()
    operations = OperationsResource(
        alert_webhook_url=receiver.url, ui_base_url="https://dagster.example.com"
    )
    run_failure_alert(context, operations=operations)
    [call] = receiver.calls
    payload = json.loads(call["body"])
    assert call["headers"]["Content-Type"] == "application/json"
    assert (
        result.run_id[:8] in payload["text"]
        and "audio_files" in payload["text"]
        and "acme|2025-08-27" in payload["text"]
    )
    blob = json.dumps(payload["blocks"])
    assert (
        "403 AccessDenied" in blob and f"https://dagster.example.com/runs/{result.run_id}" in blob
    )


def test_without_a_webhook_the_sensor_only_says_so(instance):
    result = dg.materialize(
        [audio_files], instance=instance, partition_key="acme|2025-08-27", raise_on_error=False
    )
    run = instance.get_run_by_id(result.run_id)
    failure = next(
        e
        for e in instance.all_logs(result.run_id)
        if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure.dagster_event,
    ).for_run_failure()
    skipped = run_failure_alert(context, operations=OperationsResource())
    assert (
        isinstance(skipped, dg.SkipReason)
        and "MEDIA_PIPELINE_ALERT_WEBHOOK_URL" in skipped.skip_message
    )


def test_a_webhook_that_refuses_names_its_status(receiver):
    receiver.fail_next = 10  # 500 every time: retried, then reported
    with pytest.raises(AlertWebhookError, match="answered 500"):
        OperationsResource(alert_webhook_url=receiver.url).post({"text": "x"})
    assert len(receiver.calls) == 4  # the first try and three retries


def _catalog_with_audio(pg_url: str, ages_hours: list[float], transcribed: int = 0) -> sa.Engine:
    catalog = CatalogResource(database_url=pg_url)
    engine = catalog.engine
    ensure_schema(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for i, age in enumerate(ages_hours):
            conn.execute(
                sa.text(
                    "INSERT INTO media_pipeline.audio_files (url, url_sha1, campaign_name, started, created_at) "
                    "VALUES (:u, :s, 'Acme', :t, :t)"
                ),
                {"u": f"https://x/{i}.wav", "s": f"{i:040d}", "t": now - timedelta(hours=age)},
            )
        ids = (
            conn.execute(sa.text("SELECT id FROM media_pipeline.audio_files ORDER BY id"))
            .scalars()
            .all()
        )
        for audio_id in ids[:transcribed]:
            conn.execute(
                sa.text(
                    "INSERT INTO media_pipeline.transcriptions (audio_file_id, status) VALUES (:i, 'completed')"
                ),
                {"i": audio_id},
            )
    return engine


def test_overdue_audio_counts_only_old_untranscribed_rows(pg_url):
    engine = _catalog_with_audio(pg_url, [30, 48, 2], transcribed=1)  # the 30 h one is transcribed
    backlog = overdue_audio(engine, now=datetime.now(UTC), max_age=timedelta(hours=24))
    assert backlog.count == 1 and backlog.by_campaign == {"Acme": 1}


def test_backlog_check_fails_and_alerts(pg_url, receiver):
    _catalog_with_audio(pg_url, [30])
    operations = OperationsResource(alert_webhook_url=receiver.url, pending_max_hours=24)
    result = no_audio_pending_too_long(
        catalog=CatalogResource(database_url=pg_url), operations=operations
    )
    assert not result.passed and result.metadata["overdue_audio"].value == 1
    assert (
        "1 audio files have waited more than 24 h" in json.loads(receiver.calls[0]["body"])["text"]
    )
    relaxed = no_audio_pending_too_long(
        catalog=CatalogResource(database_url=pg_url),
        operations=OperationsResource(pending_max_hours=48),
    )
    assert relaxed.passed


def test_a_webhook_hiccup_is_retried_and_the_alert_arrives(receiver):
    receiver.fail_next = 1  # one 500, then the chat service takes it
    OperationsResource(alert_webhook_url=receiver.url).post({"text": "x"})
    assert len(receiver.calls) == 2
    assert [json.loads(c["body"]) for c in receiver.calls] == [{"text": "x"}] * 2
