"""Timed sensor ticks: any sensor's (``timed_tick``), and one ``pending_transcriptions_sensor``
tick over N pending rows (40 campaigns × 300 days, seeded in one statement); shared by
transcribe.py and scale.py."""

from __future__ import annotations

import time

import dagster as dg
import sqlalchemy as sa

from media_pipeline_dagster.resources.databases import CatalogResource
from media_pipeline_dagster_tests.servers import postgres

SEED_PENDING = sa.text(
    "INSERT INTO media_pipeline.audio_files (campaign_name, url, url_sha1, started) "
    "SELECT 'Campaign ' || (g % 40), 'https://x/' || g, md5(g::text), "
    "timestamptz '2025-01-01 10:00+00' + (g % 300) * interval '1 day' "
    "FROM generate_series(1, :n) g"
)


def timed_tick(
    sensor, instance: dg.DagsterInstance, resources: dict, cursor: str | None = None
) -> tuple[float, dg.SensorResult]:
    """Seconds of one evaluation of ``sensor`` (the context built off the clock), and its result."""
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
        started = time.perf_counter()
        result = sensor(context)
        seconds = time.perf_counter() - started
    assert isinstance(result, dg.SensorResult)
    return seconds, result


def pending_tick(base_url: str, n: int) -> tuple[float, dg.SensorResult]:
    """Seconds of one tick over ``n`` pending rows in a fresh database, and its result."""
    from media_pipeline_dagster.resources.transcriber.resource import TranscriberResource
    from media_pipeline_dagster.transcription.sensors import pending_transcriptions_sensor

    with postgres.temporary_database(base_url) as url, dg.instance_for_test() as instance:
        catalog = CatalogResource(database_url=url)
        with catalog.engine.begin() as conn:
            conn.execute(SEED_PENDING, {"n": n})
            conn.execute(sa.text("ANALYZE media_pipeline.audio_files"))
        resources = {"catalog": catalog, "transcriber": TranscriberResource(provider="local")}
        try:
            return timed_tick(pending_transcriptions_sensor, instance, resources)
        finally:
            catalog.engine.dispose()
