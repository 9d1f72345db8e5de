"""Hostile and broken input on a real uvicorn: a clear 4xx/503 every time, nothing fetched or stored
that should not be, secrets out of the logs."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys

import pytest
import requests
import sqlalchemy as sa

from media_pipeline_dagster.gateway.api import create_app

from .conftest import KEY, audio_rows, seed_recordings, served, stored_keys, wait_for

H = {"X-API-Key": KEY}
DOWN = "postgresql+psycopg2://postgres@127.0.0.1:9/nothing"  # nothing listens on port 9


def submit(base: str, data=None, headers=H, **kwargs) -> requests.Response:
    return requests.post(
        f"{base}/api/media/transcribe", data=data, headers=headers, timeout=30, **kwargs
    )


def failures(settings) -> list:
    with settings.catalog_engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT * FROM media_pipeline.ingest_failures")))


@pytest.fixture
def base(gateway_settings):
    with served(create_app(gateway_settings)) as url:
        yield url


@pytest.mark.parametrize(
    "field, value",
    [
        ("recording_id", "PR1001\x00"),
        ("recording_id", "\x00"),
        ("url", "http://x/a.mp3\n"),
        ("b2_prefix", "gate\x00way"),
        ("phone", "+49\x1b[31m"),
        ("campaign", "a\rb"),
        ("campaign_id", "\x7f"),
        ("callback_url", "http://127.0.0.1/h\r\nX: y"),
    ],
)
def test_control_characters_in_any_field_are_422(
    base, gateway_settings, pg_url, origin, field, value
):
    url = origin.url("/gen/1000/vr/PR1001.mp3")
    seed_recordings(pg_url, [{"id": "PR1001", "url": url}])
    form = {"recording_id": "PR1001", field: value}
    for answer in (
        submit(base, form),
        submit(base, files={k: (None, v) for k, v in form.items()}),
    ):  # urlencoded, multipart
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"].startswith(f"{field}: contains the control character")
    assert origin.hits(url) == 0 and audio_rows(gateway_settings) == []


def test_b2_prefix_and_key_bounds_are_checked_before_any_download(
    base, gateway_settings, pg_url, origin
):
    short, long_id = (
        origin.url("/gen/1000/vr/PR_short.mp3"),
        origin.url("/gen/1000/vr/PR_" + "a" * 990 + ".mp3"),
    )
    seed_recordings(pg_url, [{"id": "1", "url": short}, {"id": "2", "url": long_id}])
    too_long = submit(base, {"recording_id": "1", "b2_prefix": "p" * 2000})
    assert too_long.status_code == 422 and "b2_prefix" in too_long.json()["detail"]
    too_deep = submit(base, {"recording_id": "1", "b2_prefix": "/".join("abcdefghi")})
    assert too_deep.status_code == 422 and "at most 8 segments" in too_deep.json()["detail"]
    huge_key = submit(base, {"recording_id": "2", "b2_prefix": "tenant"})
    assert (
        huge_key.status_code == 422 and "more than the bucket's 1024" in huge_key.json()["detail"]
    )
    assert origin.hits(short) == 0 and origin.hits(long_id) == 0
    assert (
        audio_rows(gateway_settings) == [] and failures(gateway_settings) == []
    )  # nothing left to retry forever
    assert (
        submit(base, {"recording_id": "1", "b2_prefix": "/".join("abcdefgh")}).status_code == 200
    )  # 8 segments is fine


def test_database_down_is_a_clear_503_on_every_endpoint(gateway_settings, pg_url, origin):
    seed_recordings(pg_url, [{"id": "1", "url": origin.url("/gen/1000/vr/PR_down.mp3")}])
    gateway_settings.catalog_engine = sa.create_engine(DOWN, pool_pre_ping=True)
    with served(create_app(gateway_settings)) as base:  # the recordings database still answers
        catalog_down = submit(base, {"recording_id": "1"})
        gateway_settings.recordings_engine = sa.create_engine(DOWN, pool_pre_ping=True)
        both_down = submit(base, {"recording_id": "1"})
        status = requests.get(f"{base}/api/media/status/1", headers=H, timeout=30)
        rerun = requests.post(f"{base}/api/media/rerun/1", headers=H, timeout=30)
        health = requests.get(f"{base}/healthz", timeout=30)
        metrics = requests.get(f"{base}/metrics", headers=H, timeout=30)
    for answer in (catalog_down, status, rerun):
        assert answer.status_code == 503 and answer.headers["Retry-After"], answer.text
        assert answer.json()["detail"].startswith(
            "the catalog database is unavailable (OperationalError)"
        )
    assert both_down.status_code == 503 and both_down.json()["detail"].startswith(
        "cannot read public.recordings: OperationalError"
    )
    assert (
        health.status_code == 503 and health.json()["database"] == "unreachable: OperationalError"
    )
    assert metrics.status_code == 200
    assert origin.hits(origin.url("/gen/1000/vr/PR_down.mp3")) == 0


def test_failed_keys_are_limited_per_client_address(gateway_settings):
    gateway_settings.auth_failures_per_minute = 5
    app = create_app(gateway_settings)
    attacker, client = {"X-Forwarded-For": "203.0.113.5"}, {"X-Forwarded-For": "203.0.113.6"}
    # Behind a reverse proxy uvicorn takes the client address from X-Forwarded-For (docs/gateway.md).
    with served(app, proxy_headers=True, forwarded_allow_ips="127.0.0.1") as base:
        status = f"{base}/api/media/status/1"
        codes = [
            requests.get(
                status, headers={**attacker, "X-API-Key": f"guess-{i}"}, timeout=10
            ).status_code
            for i in range(6)
        ]
        assert codes == [401] * 5 + [429]
        blocked = requests.get(status, headers={**attacker, **H}, timeout=10)
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
        assert "203.0.113.5" in blocked.json()["detail"]
        assert (
            requests.get(status, headers={**client, **H}, timeout=10).status_code == 404
        )  # others are unaffected


def test_a_key_in_a_query_string_never_reaches_a_log_line(tmp_path, pg_url):
    """The real command line, access log on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "MEDIA_PIPELINE_ENV": "local",
        "MEDIA_PIPELINE_DATA_DIR": str(tmp_path),
        "API_KEY": KEY,
        "DATABASE_URL": pg_url,
        "MEDIA_PIPELINE_TRANSCRIBER": "local",
    }
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "media_pipeline_dagster.gateway:app",
                "--port",
                str(port),
                "--log-level",
                "info",
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:

            def up() -> bool:
                try:
                    return (
                        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
                        == 200
                    )
                except requests.ConnectionError:
                    assert proc.poll() is None, log.read_text()
                    return False

            wait_for(up, "the gateway to start", timeout=60)
            requests.get(
                f"http://127.0.0.1:{port}/api/media/status/1?api_key=leaked-{KEY}&x=1", timeout=10
            )
            requests.get(f"http://127.0.0.1:{port}/healthz?key=leaked-too", headers=H, timeout=10)
            wait_for(lambda: log.read_text().count("GET /") >= 3, "the access log lines")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = log.read_text()
    assert "leaked" not in text and KEY not in text
    assert '"GET /api/media/status/1?api_key=***&x=*** HTTP/1.1" 401' in text


def test_substring_lookup_needs_8_characters_and_exactly_one_match(
    base, gateway_settings, pg_url, origin
):
    seed_recordings(
        pg_url,
        [{"id": str(i), "url": origin.url(f"/gen/1000/vr/PR_team-{i}.mp3")} for i in (1, 2, 3)],
    )
    for short in ("0.0", "/", "PR_team"):  # 0.0 is part of 127.0.0.1, in every URL
        answer = submit(base, {"recording_id": short})
        assert answer.status_code == 404, (short, answer.text)
    several = submit(base, {"recording_id": "PR_team-"})
    assert (
        several.status_code == 409
        and "part of the location of 3 recordings" in several.json()["detail"]
    )
    assert submit(base, {"recording_id": "PR_team-2"}).status_code == 200
    assert [r.recording_id for r in audio_rows(gateway_settings)] == ["PR_team-2"]


def test_the_key_is_checked_before_the_body_is_read(base, gateway_settings):
    broken = submit(
        base,
        b"--x\r\nnot a multipart body",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert broken.status_code == 401
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(
        ("127.0.0.1", port), timeout=15
    ) as sock:  # 20 MiB announced, 1 KiB sent
        sock.sendall(
            b"POST /api/media/transcribe HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 20971520\r\n\r\n" + b"a" * 1024
        )
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 401 ")  # answered without waiting for the other 20 MiB
    with_key = submit(base, b"recording_id=" + b"1" * 100_000)
    assert with_key.status_code == 413 and "larger than 65536 bytes" in with_key.json()["detail"]


def test_a_valid_key_is_not_refused_for_a_malformed_basic_header(
    base, gateway_settings, pg_url, origin
):
    seed_recordings(pg_url, [{"id": "1", "url": origin.url("/gen/1000/vr/PR_basic.mp3")}])
    for authorization in (
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic",
    ):
        answer = submit(base, {"recording_id": "1"}, headers={**H, "Authorization": authorization})
        assert answer.status_code == 200, (authorization, answer.text)
    basic = requests.get(f"{base}/api/media/status/1", auth=("anyone", KEY), timeout=10)
    assert basic.status_code == 200


@pytest.mark.parametrize(
    "callback",
    ["http://[", "http://127.0.0.1:99999/hook", "ftp://127.0.0.1/h", "http://user:pw@127.0.0.1/h"],
)
def test_an_invalid_callback_url_is_422_and_nothing_is_stored(
    base, gateway_settings, pg_url, origin, object_store, callback
):
    url = origin.url("/gen/1000/vr/PR_cb.mp3")
    seed_recordings(pg_url, [{"id": "1", "url": url}])
    gateway_settings.callback_hosts = frozenset({"127.0.0.1"})
    gateway_settings.webhook_secret = "s"
    answer = submit(base, {"recording_id": "1", "callback_url": callback})
    assert answer.status_code == 422 and answer.json()["detail"].startswith("callback_url: ")
    assert (
        origin.hits(url) == 0
        and audio_rows(gateway_settings) == []
        and stored_keys(object_store) == set()
    )
    with gateway_settings.catalog_engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM media_pipeline.gateway_callbacks")).scalar()
            == 0
        )
