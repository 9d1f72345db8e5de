"""The gateway's contract: submit, status, rerun, health, metrics; bad input answered clearly, nothing lost."""

from __future__ import annotations

import concurrent.futures
import logging

import sqlalchemy as sa
from fastapi.testclient import TestClient

from media_pipeline_dagster.gateway.api import create_app

from .conftest import KEY, seed_recordings

H = {"X-API-Key": KEY}


def audio_rows(settings):
    with settings.catalog_engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT * FROM media_pipeline.audio_files ORDER BY id")))


def test_submit_by_id_stores_catalogs_and_answers_the_same_row_twice(
    client, gateway_settings, pg_url, origin, object_store
):
    url = origin.url("/gen/4000/vr/PR_9f6e898f-c98b-d1d6-21c6-5a06e1db363b.mp3")
    seed_recordings(pg_url, [{"id": "77", "url": url}])
    first = client.post("/api/media/transcribe", data={"recording_id": "77"}, headers=H)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "QUEUED" and body["b2_key"].startswith(
        "gateway/gateway-calls/audio/+4915110635004/"
    )
    assert body["b2_url"] == f"s3://{object_store.bucket}/{body['b2_key']}"
    (row,) = audio_rows(gateway_settings)
    assert (
        row.id == body["audio_file_id"]
        and row.source_table == "public.recordings"
        and row.source_row_id == 77
    )
    assert row.phone == "+4915110635004" and row.campaign_name == "Gateway Calls"
    assert (
        row.recording_id == "PR_9f6e898f-c98b-d1d6-21c6-5a06e1db363b"
        and row.file_size_bytes == 4000
    )
    hits = origin.hits(url)
    again = client.post("/api/media/transcribe", data={"url": url}, headers=H)
    assert (
        again.json()["audio_file_id"] == body["audio_file_id"] and origin.hits(url) == hits
    )  # no second download
    status = client.get(f"/api/media/status/{body['audio_file_id']}", headers=H).json()
    assert status["status"] == "pending" and status["transcript"] is None


def test_b2_prefix_from_the_form_or_none_at_all(
    client, gateway_settings, pg_url, origin, object_store
):
    seed_recordings(
        pg_url,
        [
            {"id": "31", "url": origin.url("/gen/1000/vr/PR_p1.mp3")},
            {"id": "32", "url": origin.url("/gen/1000/vr/PR_p2.mp3")},
            {"id": "33", "url": origin.url("/gen/1000/vr/PR_p3.mp3")},
        ],
    )
    custom = client.post(
        "/api/media/transcribe",
        data={"recording_id": "31", "b2_prefix": "/dexter-audio/"},
        headers=H,
    )
    assert custom.status_code == 200, custom.text
    assert custom.json()["b2_key"].startswith("dexter-audio/gateway-calls/audio/+4915110635004/")
    # An empty field counts as absent (the configured default); with no GATEWAY_B2_PREFIX the keys have no prefix.
    empty = client.post(
        "/api/media/transcribe", data={"recording_id": "32", "b2_prefix": ""}, headers=H
    )
    assert empty.json()["b2_key"].startswith("gateway/gateway-calls/audio/")
    gateway_settings.b2_prefix = ""
    with TestClient(create_app(gateway_settings)) as c:
        bare = c.post("/api/media/transcribe", data={"recording_id": "33"}, headers=H)
    assert bare.status_code == 200, bare.text
    assert bare.json()["b2_key"].startswith("gateway-calls/audio/+4915110635004/")
    stored = {o.key for o in object_store.list_versions().objects}
    keys = [a.json()["b2_key"] for a in (custom, empty, bare)]
    assert set(keys) <= stored and [r.b2_object_key for r in audio_rows(gateway_settings)] == keys


def test_logs_name_the_key_never_its_value(client, gateway_settings, pg_url, origin, caplog):
    seed_recordings(pg_url, [{"id": "41", "url": origin.url("/gen/1000/vr/PR_log.mp3")}])
    wrong = "wrong-" + "z" * 20
    with caplog.at_level(logging.DEBUG):
        assert (
            client.post(
                "/api/media/transcribe", data={"recording_id": "41"}, headers={"X-API-Key": wrong}
            ).status_code
            == 401
        )
        assert (
            client.post("/api/media/transcribe", data={"recording_id": "41"}, headers=H).status_code
            == 200
        )
    assert "key ops queued recording 41" in caplog.text
    assert KEY not in caplog.text and wrong not in caplog.text


def test_lookup_by_part_of_the_location_and_non_numeric_ids(
    client, gateway_settings, pg_url, origin
):
    url = origin.url("/gen/1000/vr/PR_abc_123.mp3")
    seed_recordings(pg_url, [{"id": "rec-x1", "url": url}])
    answer = client.post("/api/media/transcribe", data={"recording_id": "PR_abc_123"}, headers=H)
    assert answer.status_code == 200, answer.text
    (row,) = audio_rows(gateway_settings)
    assert row.source_row_id is None  # non-numeric ids are not cast
    # '%' and '_' are literals, quotes are data, 10 kB of text is no error
    for tricky in (
        "%",
        "P%abc",
        "PR_a_c",
        "' OR '1'='1",
        "x" * 10_000,
    ):  # unescaped, the 2nd and 3rd would match
        assert (
            client.post(
                "/api/media/transcribe", data={"recording_id": tricky}, headers=H
            ).status_code
            == 404
        )


def test_keys_are_required_and_nothing_is_written_without_one(
    client, gateway_settings, pg_url, origin
):
    url = origin.url("/gen/1000/vr/a.mp3")
    seed_recordings(pg_url, [{"id": "1", "url": url}])
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY + "x"}):
        assert (
            client.post(
                "/api/media/transcribe", data={"recording_id": "1"}, headers=headers
            ).status_code
            == 401
        )
        assert client.get("/api/media/status/1", headers=headers).status_code == 401
        assert client.get("/metrics", headers=headers).status_code == 401
        for path in ("/docs", "/openapi.json", "/redoc"):  # only /healthz answers without a key
            assert client.get(path, headers=headers).status_code in (401, 404)
    refused = client.get("/docs")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/docs", auth=("me", "wrong")).status_code == 401
    assert origin.hits(url) == 0 and audio_rows(gateway_settings) == []
    assert (
        client.post(
            "/api/media/transcribe",
            data={"recording_id": "1"},
            headers={"X-API-Key": "second-" + "y" * 20},
        ).status_code
        == 200
    )


def test_bad_requests(client, gateway_settings, pg_url, origin):
    seed_recordings(
        pg_url,
        [
            {"id": "4", "url": origin.url("/gen/300000/too-big.mp3")},
            {"id": "6", "url": origin.url("/fault/500/broken.mp3")},
            {"id": "1", "url": origin.url("/fault/404/gone.mp3")},
            {"id": "2", "url": origin.url("/fault/html/page.mp3")},
            {"id": "3", "url": origin.url("/gen/1000/ok.mp3")},
        ],
    )
    assert client.post("/api/media/transcribe", data={}, headers=H).status_code == 422
    invented = origin.url("/gen/1000/invented.mp3")
    assert (
        client.post("/api/media/transcribe", data={"url": invented}, headers=H).status_code == 404
    )
    assert origin.hits(invented) == 0  # never fetch a URL the client made up
    gone = client.post("/api/media/transcribe", data={"recording_id": "1"}, headers=H)
    assert gone.status_code == 422 and "404" in gone.json()["detail"]
    html = client.post("/api/media/transcribe", data={"recording_id": "2"}, headers=H)
    assert html.status_code == 422
    assert (
        client.post(
            "/api/media/transcribe", data={"recording_id": "3", "b2_prefix": "../x"}, headers=H
        ).status_code
        == 422
    )
    broken = client.post("/api/media/transcribe", data={"recording_id": "6"}, headers=H)
    assert (
        broken.status_code == 503 and "HTTP 500" in broken.json()["detail"]
    )  # retried, then: try again later
    too_big = client.post("/api/media/transcribe", data={"recording_id": "4"}, headers=H)
    assert (
        too_big.status_code == 422
        and "larger than the limit of 200000 bytes" in too_big.json()["detail"]
    )
    assert audio_rows(gateway_settings) == []
    assert client.get("/api/media/status/999999", headers=H).status_code == 404


def test_audio_format_is_checked_by_content_type_and_magic_bytes(
    client, gateway_settings, pg_url, origin, object_store
):
    from ..transcription.helpers import wav_bytes

    seed_recordings(
        pg_url,
        [
            {
                "id": "zip",
                "url": origin.add_file(
                    "/vr/archive.mp3", b"PK\x03\x04" + bytes(2000), "audio/mpeg"
                ),
            },
            {
                "id": "png",
                "url": origin.add_file(
                    "/vr/picture.mp3", b"\x89PNG\r\n\x1a\n" + bytes(2000), "image/png"
                ),
            },
            {
                "id": "pdf",
                "url": origin.add_file(
                    "/vr/doc.mp3", b"%PDF-1.7\n" + bytes(2000), "application/octet-stream"
                ),
            },
            {"id": "wav", "url": origin.add_file("/vr/PR_real.wav", wav_bytes(0.5), "audio/wav")},
            {
                "id": "ogg",
                "url": origin.add_file(
                    "/vr/PR_other.ogg", b"OggS\x00\x02" + bytes(2000), "application/octet-stream"
                ),
            },
            {
                "id": "copy",
                "url": origin.add_file("/mirror/PR_real.wav", wav_bytes(0.5), "audio/wav"),
            },
        ],
    )
    zipped = client.post("/api/media/transcribe", data={"recording_id": "zip"}, headers=H)
    assert (
        zipped.status_code == 422
        and "starts with no known audio format" in zipped.json()["detail"]
        and "504b" not in zipped.text
    )
    png = client.post("/api/media/transcribe", data={"recording_id": "png"}, headers=H)
    assert png.status_code == 422 and "Content-Type 'image/png'" in png.json()["detail"]
    assert (
        client.post("/api/media/transcribe", data={"recording_id": "pdf"}, headers=H).status_code
        == 422
    )
    assert audio_rows(gateway_settings) == []
    assert [
        o.key for o in object_store.list_versions().objects if o.key.startswith("gateway/")
    ] == []  # nothing stored
    answers = [
        client.post("/api/media/transcribe", data={"recording_id": good}, headers=H)
        for good in ("wav", "ogg", "copy")
    ]
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    # Two URLs of recording PR_real: the catalog holds a recording once, so both answers name that row.
    assert answers[0].json()["audio_file_id"] == answers[2].json()["audio_file_id"]
    assert len(audio_rows(gateway_settings)) == 2


def test_bucket_down_answers_503_and_catalogs_nothing(gateway_settings, pg_url, origin):
    from fastapi.testclient import TestClient

    from media_pipeline_dagster.gateway.api import create_app
    from media_pipeline_dagster.resources.bucket import S3Bucket

    seed_recordings(pg_url, [{"id": "5", "url": origin.url("/gen/1000/five.mp3")}])
    store = gateway_settings.object_store
    down = S3Bucket(
        endpoint_url="http://127.0.0.1:9",
        region=store.region,
        access_key_id=store.access_key_id,
        secret_access_key=store.secret_access_key,
        bucket=store.bucket,
        max_retries=0,
        connect_timeout_seconds=0.5,
    )
    gateway_settings.object_store = down
    with TestClient(create_app(gateway_settings)) as c:
        answer = c.post("/api/media/transcribe", data={"recording_id": "5"}, headers=H)
        assert answer.status_code == 503 and "could not store the audio" in answer.json()["detail"]
        assert c.get("/healthz").status_code == 503
    assert audio_rows(gateway_settings) == []


def test_status_completed_failed_and_rerun(client, gateway_settings, pg_url, origin):
    seed_recordings(
        pg_url,
        [
            {"id": "1", "url": origin.url("/gen/1000/a.mp3")},
            {"id": "2", "url": origin.url("/gen/1000/b.mp3")},
        ],
    )
    done_id = client.post("/api/media/transcribe", data={"recording_id": "1"}, headers=H).json()[
        "audio_file_id"
    ]
    failed_id = client.post("/api/media/transcribe", data={"recording_id": "2"}, headers=H).json()[
        "audio_file_id"
    ]
    with gateway_settings.catalog_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO media_pipeline.transcriptions (audio_file_id, provider, model, status, completed_at, transcript_text, metadata, b2_transcript_key) "
                "VALUES (:i, 'OpenAI', 'whisper-1', 'completed', now(), 'hello there', "
                '\'{"b2_transcript_json_key": "j.json", "b2_transcript_txt_key": "t.txt"}\', \'j.json\')'
            ),
            {"i": done_id},
        )
        conn.execute(
            sa.text(
                "INSERT INTO media_pipeline.transcription_failures (audio_file_id, provider, model, status, error_code, error, ignore_until) "
                "VALUES (:i, 'OpenAI', 'whisper-1', 'permanent', 400, 'Invalid file format', NULL)"
            ),
            {"i": failed_id},
        )
    done = client.get(f"/api/media/status/{done_id}", headers=H).json()
    assert done["status"] == "completed" and done["transcript"] == "hello there"
    assert (
        done["metadata"]["b2_transcript_json_key"] == "j.json"
        and done["metadata"]["b2_transcript_txt_key"] == "t.txt"
    )
    failed = client.get(f"/api/media/status/{failed_id}", headers=H).json()
    assert failed["status"] == "failed" and failed["metadata"]["error"] == "Invalid file format"
    assert client.post(f"/api/media/rerun/{done_id}", headers=H).status_code == 409
    rerun = client.post(f"/api/media/rerun/{failed_id}", headers=H).json()
    assert rerun["failure_cleared"] is True
    assert client.get(f"/api/media/status/{failed_id}", headers=H).json()["status"] == "pending"


def test_health_metrics_and_docs(client):
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "bucket": "ok"}
    client.get("/api/media/status/1", headers={"X-API-Key": "nope"})
    text = client.get("/metrics", headers=H).text
    assert 'gateway_requests_total{endpoint="status",status="401"} 1' in text
    spec = client.get("/openapi.json", headers=H).json()
    assert "/api/media/transcribe" in spec["paths"]
    assert set(spec["components"]["securitySchemes"]) == {
        "APIKeyHeader",
        "HTTPBasic",
    }  # the Authorize button
    # A browser asks for the key as a Basic password, then loads the spec with the same credentials.
    page = client.get("/docs", auth=("me", KEY))
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert client.get("/openapi.json", auth=("me", KEY)).status_code == 200
    body = spec["paths"]["/api/media/transcribe"]["post"]["requestBody"]["content"][
        "application/x-www-form-urlencoded"
    ]
    form = spec["components"]["schemas"][body["schema"]["$ref"].rpartition("/")[2]]
    assert {"recording_id", "url", "b2_prefix", "phone", "campaign", "campaign_id"} <= set(
        form["properties"]
    )


def test_concurrent_submits_of_one_recording_make_one_row_and_one_upload(
    client, gateway_settings, pg_url, origin
):
    url = origin.url("/gen/20000/vr/PR_same.mp3")
    seed_recordings(pg_url, [{"id": "9", "url": url}])
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        answers = list(
            pool.map(
                lambda _: client.post(
                    "/api/media/transcribe", data={"recording_id": "9"}, headers=H
                ),
                range(100),
            )
        )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["audio_file_id"] for a in answers}) == 1
    assert len(audio_rows(gateway_settings)) == 1 and origin.hits(url) == 1


def test_recordings_database_without_the_tables_answers_503(client, gateway_settings):
    answer = client.post("/api/media/transcribe", data={"recording_id": "1"}, headers=H)
    assert answer.status_code == 503 and "cannot read public.recordings" in answer.json()["detail"]
    assert audio_rows(gateway_settings) == []


def test_rate_limit_per_key_answers_429_with_retry_after(gateway_settings):
    from fastapi.testclient import TestClient

    from media_pipeline_dagster.gateway.api import create_app

    gateway_settings.rate_limit_per_minute = 3
    with TestClient(create_app(gateway_settings)) as c:
        codes = [c.get("/api/media/status/1", headers=H).status_code for _ in range(4)]
        assert codes == [404, 404, 404, 429]
        limited = c.get("/api/media/status/1", headers=H)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        # another key has its own budget
        assert (
            c.get("/api/media/status/1", headers={"X-API-Key": "second-" + "y" * 20}).status_code
            == 404
        )
        assert c.get("/healthz").status_code == 200  # no key, no limit
