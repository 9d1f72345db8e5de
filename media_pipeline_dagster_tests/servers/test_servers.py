"""The test servers themselves, against the real things (SeaweedFS, PostgreSQL, sockets)."""

from __future__ import annotations

import hashlib
import http.client
import socket
import time
from urllib.parse import urlsplit

import boto3
import pytest
import requests
import sqlalchemy as sa
from botocore.config import Config
from botocore.exceptions import ClientError

from media_pipeline_dagster_tests.servers.audio_origin import (
    DEFAULT_AUDIO_SIZE,
    MP3_FRAME_HEADER,
    audio_origin,
    expected_sha256,
    gen_bytes,
    iter_gen_bytes,
)
from media_pipeline_dagster_tests.servers.postgres import ensure_server, temporary_database
from media_pipeline_dagster_tests.servers.seaweed import S3Server, seaweedfs_server
from media_pipeline_dagster_tests.servers.slowdown_proxy import slowdown_proxy


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> S3Server:
    with seaweedfs_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="module")
def origin():
    with audio_origin() as o:
        yield o


def _client(server: S3Server, endpoint_url=None, secret=None, key=None):
    """A client that never retries, so every rejection surfaces."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url or server.endpoint_url,
        aws_access_key_id=key or server.access_key_id,
        aws_secret_access_key=secret or server.secret_access_key,
        region_name=server.region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1},
            request_checksum_calculation="when_required",
        ),
    )


def _error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def _port_refuses(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
        return False
    except OSError:
        return True


# --- S3 -----------------------------------------------------------------------


def test_s3_put_get_and_wrong_credentials_rejected(s3):
    s3.create_bucket("servers-roundtrip")
    client = s3.client()
    body = b"\x00payload\xff" * 1000
    client.put_object(Bucket="servers-roundtrip", Key="dir/obj.bin", Body=body)
    assert client.get_object(Bucket="servers-roundtrip", Key="dir/obj.bin")["Body"].read() == body

    if s3.backend == "moto":
        pytest.skip("moto accepts any credentials")
    with pytest.raises(ClientError) as wrong_secret:
        _client(s3, secret="0" * 40).get_object(Bucket="servers-roundtrip", Key="dir/obj.bin")
    assert _error_code(wrong_secret) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as wrong_key:
        _client(s3, key="AKNOTAREALKEY0000000").put_object(
            Bucket="servers-roundtrip", Key="dir/obj.bin", Body=b"overwritten"
        )
    assert _error_code(wrong_key) == "InvalidAccessKeyId"
    assert client.get_object(Bucket="servers-roundtrip", Key="dir/obj.bin")["Body"].read() == body


def test_s3_server_stops_and_gets_fresh_credentials(s3, tmp_path):
    with seaweedfs_server(tmp_path) as other:
        assert other.endpoint_url != s3.endpoint_url
        assert other.access_key_id != s3.access_key_id
        if other.backend != "moto":  # moto servers of one process share their state
            assert other.client().list_buckets()["Buckets"] == []
    assert _port_refuses(other.endpoint_url)


# --- slowdown proxy -----------------------------------------------------------------


def test_slowdown_proxy_rejects_first_puts_then_forwards(s3):
    s3.create_bucket("servers-proxy")
    with slowdown_proxy(s3.endpoint_url, fail_first_puts=2) as proxy:
        client = _client(s3, endpoint_url=proxy.endpoint_url)
        small, large = (
            b"small",
            bytes(range(256)) * 8192,
        )  # 2 MiB: botocore sends Expect: 100-continue
        for body in (small, large):
            with pytest.raises(ClientError) as rejected:
                client.put_object(Bucket="servers-proxy", Key="obj", Body=body)
            assert _error_code(rejected) == "SlowDown"
            assert rejected.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert proxy.rejected == 2

        client.put_object(Bucket="servers-proxy", Key="obj", Body=large)
        assert client.get_object(Bucket="servers-proxy", Key="obj")["Body"].read() == large
        assert s3.client().get_object(Bucket="servers-proxy", Key="obj")["Body"].read() == large
        assert proxy.rejected == 2 and proxy.forwarded == 2

        # Chunked request body, relayed frame by frame; the signature still checks out.
        url = client.generate_presigned_url(
            "put_object", Params={"Bucket": "servers-proxy", "Key": "chunked"}
        )
        parts = [bytes([i]) * 5000 for i in range(20)]
        response = requests.put(url, data=iter(parts), timeout=10)
        assert response.request.headers["Transfer-Encoding"] == "chunked"
        assert response.status_code == 200, response.text
        assert s3.client().get_object(Bucket="servers-proxy", Key="chunked")[
            "Body"
        ].read() == b"".join(parts)


def test_slowdown_proxy_predicate(s3):
    s3.create_bucket("servers-predicate")
    s3.client().put_object(Bucket="servers-predicate", Key="hot", Body=b"h")
    s3.client().put_object(Bucket="servers-predicate", Key="cold", Body=b"c")
    with slowdown_proxy(
        s3.endpoint_url, should_reject=lambda method, path, headers: path.endswith("/hot")
    ) as proxy:
        client = _client(s3, endpoint_url=proxy.endpoint_url)
        with pytest.raises(ClientError) as rejected:
            client.get_object(Bucket="servers-predicate", Key="hot")
        assert _error_code(rejected) == "SlowDown"
        assert client.get_object(Bucket="servers-predicate", Key="cold")["Body"].read() == b"c"
        assert (proxy.rejected, proxy.forwarded) == (1, 1)


# --- audio origin --------------------------------------------------------------


def test_origin_registered_file_get_head_and_hits(origin):
    url = origin.add_file("/shows/ep1.mp3", b"ID3fake", content_type="audio/mpeg")
    origin.reset_hits()
    r = requests.get(url, timeout=5)
    assert r.status_code == 200 and r.content == b"ID3fake"
    assert r.headers["Content-Type"] == "audio/mpeg" and r.headers["Content-Length"] == "7"
    head = requests.head(url, timeout=5)
    assert head.status_code == 200 and head.headers["Content-Length"] == "7" and head.content == b""
    assert origin.hits("/shows/ep1.mp3") == 2 and origin.hits(url) == 2
    assert origin.expected_sha256(url) == hashlib.sha256(b"ID3fake").hexdigest()
    origin.reset_hits()
    assert origin.hits(url) == 0


@pytest.mark.parametrize(
    "path, status",
    [
        ("/fault/404/a.mp3", 404),
        ("/fault/500/a.mp3", 500),
        ("/fault/503/a.mp3", 503),
        ("/nothing/here.mp3", 404),
        ("/gen/notanumber/a.mp3", 404),
    ],
)
def test_origin_error_routes(origin, path, status):
    r = requests.get(origin.url(path), timeout=5)
    assert r.status_code == status
    if status == 503:
        assert r.headers["Retry-After"] == "0"


def test_origin_flaky_fails_n_times_then_serves_audio(origin):
    path = "/fault/flaky/2/ep.mp3"
    origin.reset_hits()
    assert [requests.get(origin.url(path), timeout=5).status_code for _ in range(2)] == [500, 500]
    r = requests.get(origin.url(path), timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"] == "audio/mpeg"
    assert len(r.content) == DEFAULT_AUDIO_SIZE
    assert hashlib.sha256(r.content).hexdigest() == expected_sha256(path)
    assert origin.hits(path) == 3


def test_origin_html_routes(origin):
    page = requests.get(origin.url("/fault/html/ep.mp3"), timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.content.startswith(b"<!DOCTYPE html><html>")
    disguised = requests.get(origin.url("/fault/html-as-audio/ep.mp3"), timeout=5)
    assert disguised.status_code == 200 and disguised.headers["Content-Type"] == "audio/mpeg"
    assert disguised.content.startswith(b"<!DOCTYPE html>") and b"password" in disguised.content


def test_origin_slow_route(origin):
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(origin.url("/fault/slow/3/ep.mp3"), timeout=(2, 0.3))
    started = time.monotonic()
    r = requests.get(origin.url("/fault/slow/0.3/ep.mp3"), timeout=5)
    assert time.monotonic() - started >= 0.3
    assert r.status_code == 200 and r.content == gen_bytes(
        "/fault/slow/0.3/ep.mp3", DEFAULT_AUDIO_SIZE
    )


def test_origin_short_body_is_truncated(origin):
    parts = urlsplit(origin.url("/fault/short/ep.mp3"))
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("GET", parts.path)
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Content-Length") == "100000"
    with pytest.raises(http.client.IncompleteRead) as incomplete:
        response.read()
    assert len(incomplete.value.partial) == 1000
    conn.close()


def test_origin_gen_is_deterministic_streamed_audio(origin):
    size = 3 * (1 << 20) + 5
    path = f"/gen/{size}/show/ep.mp3"
    h, total = hashlib.sha256(), 0
    with requests.get(origin.url(path), stream=True, timeout=10) as r:
        assert r.status_code == 200 and r.headers["Content-Type"] == "audio/mpeg"
        assert r.headers["Content-Length"] == str(size)
        for chunk in r.iter_content(65536):
            if total == 0:
                assert chunk.startswith(MP3_FRAME_HEADER)
            h.update(chunk)
            total += len(chunk)
    assert total == size
    assert h.hexdigest() == expected_sha256(path) == expected_sha256(origin.url(path))
    assert h.hexdigest() == hashlib.sha256(gen_bytes(path, size)).hexdigest()
    assert b"".join(iter_gen_bytes(path, size, chunk_size=1000)) == gen_bytes(path, size)
    assert expected_sha256(f"/gen/{size}/show/other.mp3") != h.hexdigest()
    assert requests.head(origin.url(path), timeout=5).headers["Content-Length"] == str(size)


def test_origin_delay_applies_to_every_response():
    with audio_origin(delay_seconds=0.3) as slow_origin:
        started = time.monotonic()
        assert requests.get(slow_origin.url("/fault/404/x"), timeout=5).status_code == 404
        assert requests.get(slow_origin.url("/gen/10/x.mp3"), timeout=5).content == gen_bytes(
            "/gen/10/x.mp3", 10
        )
        assert time.monotonic() - started >= 0.6


# --- PostgreSQL ----------------------------------------------------------------


def test_temporary_database_created_and_dropped():
    base_url = ensure_server()
    admin = sa.create_engine(base_url + "/postgres", poolclass=sa.pool.NullPool)

    def exists(name: str) -> bool:
        with admin.connect() as conn:
            return (
                conn.execute(
                    sa.text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}
                ).scalar()
                == 1
            )

    with temporary_database(base_url) as url_a, temporary_database(base_url) as url_b:
        name_a = sa.make_url(url_a).database
        assert name_a != sa.make_url(url_b).database and name_a.startswith("mpd_test_")
        engine = sa.create_engine(url_a)
        conn = engine.connect()  # left open on purpose: the drop must still succeed
        conn.execute(sa.text("CREATE TABLE t (x int)"))
        conn.execute(sa.text("INSERT INTO t VALUES (42)"))
        conn.commit()
        assert conn.execute(sa.text("SELECT x FROM t")).scalar() == 42
        assert conn.execute(sa.text("SELECT current_database()")).scalar() == name_a
        assert exists(name_a)
    assert not exists(name_a)
    conn.invalidate()  # its server side is gone; a rollback would only log noise
    engine.dispose()
    admin.dispose()
