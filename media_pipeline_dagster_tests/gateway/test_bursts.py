"""Bursts on a real uvicorn: the pool serves them, the cap refuses at once, the deadline ends
stalled requests, and no failed request leaves an object without its row."""

from __future__ import annotations

import concurrent.futures
import dataclasses

import requests
import sqlalchemy as sa

from media_pipeline_dagster.catalog.schema import ensure_schema
from media_pipeline_dagster.gateway.api import create_app

from .conftest import (
    KEY,
    MisbehavingOrigin,
    audio_rows,
    seed_recordings,
    served,
    stored_keys,
    wait_for,
)

H = {"X-API-Key": KEY}


def submit(base: str, recording_id: str) -> requests.Response:
    return requests.post(
        f"{base}/api/media/transcribe", data={"recording_id": recording_id}, headers=H, timeout=60
    )


def test_a_burst_of_different_recordings_fits_a_pool_of_two(
    gateway_settings, pg_url, origin, object_store
):
    """40 different recordings at once through 2 catalog and 2 recordings connections: every one
    answered 200 (a request that held a connection while waiting for a second would deadlock here)."""
    seed_recordings(
        pg_url,
        [{"id": str(i), "url": origin.url(f"/gen/4000/burst/PR_b{i}.mp3")} for i in range(1, 41)],
    )
    small = {"pool_size": 2, "max_overflow": 0, "pool_timeout": 5}
    gateway_settings.catalog_engine = sa.create_engine(pg_url, **small)
    ensure_schema(gateway_settings.catalog_engine)
    gateway_settings.recordings_engine = sa.create_engine(pg_url, **small)
    gateway_settings.db_pool_size = 2
    with (
        served(create_app(gateway_settings)) as base,
        concurrent.futures.ThreadPoolExecutor(40) as pool,
    ):
        answers = list(pool.map(lambda i: submit(base, str(i)), range(1, 41)))
        status = requests.get(
            f"{base}/api/media/status/{answers[0].json()['audio_file_id']}", headers=H, timeout=10
        )
    assert [a.status_code for a in answers] == [200] * 40, [
        a.text for a in answers if a.status_code != 200
    ][:3]
    assert status.status_code == 200
    rows = audio_rows(gateway_settings)
    assert len(rows) == 40 and {r.b2_object_key for r in rows} == stored_keys(object_store)


def test_beyond_the_cap_503_with_retry_after_at_once(
    gateway_settings, pg_url, misbehaving_origin: MisbehavingOrigin, object_store
):
    seed_recordings(
        pg_url,
        [{"id": str(i), "url": misbehaving_origin.url(f"/gate/PR_cap{i}.mp3")} for i in (1, 2, 3)],
    )
    gateway_settings.max_concurrent_submits = 2
    with (
        served(create_app(gateway_settings)) as base,
        concurrent.futures.ThreadPoolExecutor(2) as pool,
    ):
        held = [pool.submit(submit, base, str(i)) for i in (1, 2)]
        wait_for(lambda: len(misbehaving_origin.hits) == 2, "two submits downloading")
        refused = submit(base, "3")  # answered while the two are still in flight
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
        assert "2 submits are in flight" in refused.json()["detail"]
        assert not any(f.done() for f in held)
        misbehaving_origin.release.set()
        assert [f.result().status_code for f in held] == [200, 200]
        metrics = requests.get(f"{base}/metrics", headers=H, timeout=10).text
    assert "gateway_submits_refused_total 1.0" in metrics
    assert (
        len(audio_rows(gateway_settings)) == 2 and misbehaving_origin.hits["/gate/PR_cap3.mp3"] == 0
    )


def test_a_stalled_download_ends_at_the_deadline_with_504_and_nothing_kept(
    gateway_settings, pg_url, misbehaving_origin, object_store
):
    seed_recordings(pg_url, [{"id": "7", "url": misbehaving_origin.url("/stall/PR_stall.mp3")}])
    gateway_settings.request_deadline_seconds = 1.5
    # only the deadline can end this transfer
    gateway_settings.transfer = dataclasses.replace(
        gateway_settings.transfer, max_attempts=1, read_timeout=300
    )
    with served(create_app(gateway_settings)) as base:
        answer = submit(base, "7")
        assert answer.status_code == 504 and "deadline" in answer.json()["detail"]
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
    assert audio_rows(gateway_settings) == [] and stored_keys(object_store) == set()


def test_a_row_the_catalog_refuses_leaves_no_object(gateway_settings, pg_url, origin, object_store):
    seed_recordings(pg_url, [{"id": "8", "url": origin.url("/gen/4000/vr/PR_refused.mp3")}])
    with (
        gateway_settings.catalog_engine.begin() as conn
    ):  # PostgreSQL itself refuses the insert, after the upload
        conn.exec_driver_sql(
            "CREATE FUNCTION media_pipeline.refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'catalog refuses the row'; END $$"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON media_pipeline.audio_files "
            "FOR EACH ROW EXECUTE FUNCTION media_pipeline.refuse()"
        )
    with served(create_app(gateway_settings)) as base:
        answer = submit(base, "8")
    assert (
        answer.status_code == 503 and "the catalog did not take the row" in answer.json()["detail"]
    )
    assert answer.headers["Retry-After"]
    assert (
        origin.hits(origin.url("/gen/4000/vr/PR_refused.mp3")) == 1
    )  # it was uploaded, then removed
    assert audio_rows(gateway_settings) == [] and stored_keys(object_store) == set()


def test_one_recording_from_two_gateway_processes_is_uploaded_once(
    gateway_settings, pg_url, origin
):
    """Two apps (two lock connections, as two processes have) × 15 concurrent submits of one recording."""
    url = origin.url("/gen/20000/vr/PR_twice.mp3")
    seed_recordings(pg_url, [{"id": "9", "url": url}])
    with (
        served(create_app(gateway_settings)) as one,
        served(create_app(gateway_settings)) as two,
        concurrent.futures.ThreadPoolExecutor(30) as pool,
    ):
        answers = list(pool.map(lambda i: submit(one if i % 2 else two, "9"), range(30)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["audio_file_id"] for a in answers}) == 1
    assert len(audio_rows(gateway_settings)) == 1 and origin.hits(url) == 1
