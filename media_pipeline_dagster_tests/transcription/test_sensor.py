"""pending_transcriptions_sensor: runs for partitions with pending audio, keyed by their state."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest

from media_pipeline_dagster.resources.databases import CatalogResource
from media_pipeline_dagster.resources.transcriber.resource import TranscriberResource
from media_pipeline_dagster.transcription import results
from media_pipeline_dagster.transcription.sensors import CAMPAIGN_TAG, pending_transcriptions_sensor

from .helpers import DAY, now, seed_audio

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


@pytest.fixture
def catalog(catalog_url) -> CatalogResource:
    return CatalogResource(database_url=catalog_url)


def tick(instance, catalog, cursor=None):
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"catalog": catalog, "transcriber": TranscriberResource(provider="local")},
    ) as context:
        return pending_transcriptions_sensor(context)


def test_one_run_per_campaign_over_its_pending_days_and_new_campaigns_registered(instance, catalog):
    seed_audio(catalog.engine, None, [b"a", b"b"])
    seed_audio(catalog.engine, None, [b"c"], day="2025-08-29")
    seed_audio(catalog.engine, None, [b"d"], campaign="Gateway Calls")
    seed_audio(catalog.engine, None, [b"e"], day="2023-06-01")  # before the partitions start
    result = tick(instance, catalog)
    requests = {r.tags[CAMPAIGN_TAG]: r for r in result.run_requests}
    assert set(requests) == {"dexter-outbound", "gateway-calls"}
    assert requests["dexter-outbound"].tags[RANGE_START] == f"dexter-outbound|{DAY}"
    assert requests["dexter-outbound"].tags[RANGE_END] == "dexter-outbound|2025-08-29"
    (added,) = result.dynamic_partitions_requests
    assert sorted(added.partition_keys) == ["dexter-outbound", "gateway-calls"]


def test_run_key_repeats_until_the_pending_state_changes(instance, catalog):
    ids = seed_audio(catalog.engine, None, [b"a", b"b"])
    first = tick(instance, catalog).run_requests[0].run_key
    assert (
        tick(instance, catalog).run_requests[0].run_key == first
    )  # same work: same key, Dagster dedupes
    with catalog.engine.begin() as conn:  # a transient failure whose cooldown is already over
        results.fail(
            conn,
            worker="w",
            audio_file_id=ids[0],
            provider="OpenAI",
            model="whisper-1",
            status="transient",
            error="500",
            error_code=500,
            now=now() - timedelta(hours=2),
            cooldown=timedelta(minutes=60),
        )
    assert tick(instance, catalog).run_requests[0].run_key != first
    seed_audio(catalog.engine, None, [b"new"])
    assert len({tick(instance, catalog).run_requests[0].run_key, first}) == 2


def test_nothing_pending_or_campaign_busy_skips(instance, catalog):
    empty = tick(instance, catalog)
    assert isinstance(empty, dg.SkipReason) and empty.skip_message == "no pending audio"
    seed_audio(catalog.engine, None, [b"a"])
    instance.add_run(
        dg.DagsterRun(
            job_name="__ASSET_JOB",
            run_id="r1",
            status=dg.DagsterRunStatus.STARTED,
            tags={CAMPAIGN_TAG: "dexter-outbound"},
        )
    )
    result = tick(instance, catalog)
    assert isinstance(result, dg.SkipReason) and "dexter-outbound" in result.skip_message


def test_tick_on_many_rows_uses_one_query(instance, pg_url):
    """10,000 pending rows over 20 days: one grouped query, one run request."""
    catalog = CatalogResource(database_url=pg_url)
    import sqlalchemy as sa

    with catalog.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO media_pipeline.audio_files (campaign_name, url, url_sha1, started) "
                "SELECT 'Bulk Campaign', 'https://x/' || g, md5(g::text), timestamptz '2025-01-01 10:00+00' + (g % 20) * interval '1 day' "
                "FROM generate_series(1, 10000) g"
            )
        )
    queries: list[str] = []
    sa.event.listen(catalog.engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    result = tick(instance, catalog)
    (request,) = result.run_requests
    assert (
        request.tags[RANGE_START] == "bulk-campaign|2025-01-01"
        and request.tags[RANGE_END] == "bulk-campaign|2025-01-20"
    )
    assert sum("FROM media_pipeline.audio_files" in q for q in queries) == 1
