"""Streaming one PUT through a presigned URL, against SeaweedFS and moto's S3 server."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from obstore.store import LocalStore, S3Store

from media_pipeline_dagster.resources.bucket.errors import StorageUnavailable, storage_failure
from media_pipeline_dagster.resources.bucket.s3_stream_put import (
    SizeMismatch,
    StreamPut,
    StreamPutError,
    presigned_put_url,
    streams_to,
)
from media_pipeline_dagster_tests.servers.seaweed import S3Server, _moto, free_ports
from media_pipeline_dagster_tests.servers.slowdown_proxy import slowdown_proxy

KiB = 1024


@pytest.fixture(scope="module")
def moto_server() -> Iterator[S3Server]:
    with _moto() as server:
        yield server


@pytest.fixture(params=["seaweedfs", "moto"])
def server(request) -> S3Server:
    return request.getfixturevalue("s3_server" if request.param == "seaweedfs" else "moto_server")


@pytest.fixture
def target(server: S3Server) -> tuple[S3Server, str, S3Store]:
    name = f"stream-{secrets.token_hex(6)}"
    server.create_bucket(name)
    return server, name, _store(server, name)


def _store(server: S3Server, bucket: str, secret: str | None = None, **extra) -> S3Store:
    return S3Store(
        bucket,
        endpoint=server.endpoint_url,
        region=server.region,
        access_key_id=server.access_key_id,
        secret_access_key=secret or server.secret_access_key,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
        **extra,
    )


async def _chunks(*parts: bytes, fail_after: int | None = None):
    for i, part in enumerate(parts):
        if fail_after is not None and i == fail_after:
            raise ConnectionResetError("origin went away")
        await asyncio.sleep(0)
        yield part


def _put(
    store, key: str, source, size: int, content_type: str | None = "audio/mpeg", retries: int = 0
) -> str:
    async def go():
        put = StreamPut(4, connect_timeout=5, read_timeout=30)
        try:
            return await put.put(
                lambda: presigned_put_url(store, key), source, size, content_type, retries=retries
            )
        finally:
            await put.close()

    return asyncio.run(go())


def _absent(server: S3Server, bucket: str, key: str) -> bool:
    try:
        server.client().head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        return exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound")
    return False


def test_streams_every_chunk_into_one_object(target):
    server, bucket, store = target
    parts = [secrets.token_bytes(64 * KiB), secrets.token_bytes(300 * KiB), b"tail"]
    body = b"".join(parts)
    etag = _put(store, "calls/a b+c.mp3", _chunks(*parts), len(body))
    got = server.client().get_object(Bucket=bucket, Key="calls/a b+c.mp3")
    assert got["Body"].read() == body
    assert got["ContentType"] == "audio/mpeg"
    assert etag.strip('"') == hashlib.md5(body).hexdigest()  # a single PUT's ETag is its MD5


def test_a_whole_body_is_sent_as_it_is_and_must_have_the_declared_size(target):
    server, bucket, store = target
    _put(store, "whole.mp3", b"ID3" + b"x" * 997, 1000)
    assert server.client().get_object(Bucket=bucket, Key="whole.mp3")["Body"].read()[:3] == b"ID3"
    with pytest.raises(SizeMismatch):
        _put(store, "wrong.mp3", b"x" * 10, 11)
    assert _absent(server, bucket, "wrong.mp3")


def test_an_empty_body_is_an_empty_object(target):
    server, bucket, store = target
    _put(store, "empty.mp3", _chunks(), 0)
    assert server.client().head_object(Bucket=bucket, Key="empty.mp3")["ContentLength"] == 0


@pytest.mark.parametrize(
    ("parts", "size"),
    [((b"x" * 1000, b"y" * 1000), 3000), ((b"x" * 1000, b"y" * 1000), 1500)],
    ids=["source-ends-early", "source-runs-long"],
)
def test_a_source_of_the_wrong_size_leaves_no_object(target, parts, size):
    server, bucket, store = target
    with pytest.raises(SizeMismatch):
        _put(store, "short.mp3", _chunks(*parts), size)
    assert _absent(server, bucket, "short.mp3")


def test_a_failing_source_is_raised_as_it_is_and_leaves_no_object(target):
    server, bucket, store = target
    with pytest.raises(ConnectionResetError, match="origin went away"):
        _put(store, "cut.mp3", _chunks(b"a" * 70_000, b"b" * 70_000, fail_after=1), 140_000)
    assert _absent(server, bucket, "cut.mp3")


def test_refused_credentials_are_the_buckets_failure(s3_server):
    """(moto accepts any key: SeaweedFS only.)"""
    bucket = f"stream-{secrets.token_hex(6)}"
    s3_server.create_bucket(bucket)
    store = _store(s3_server, bucket, secret="wrong" + secrets.token_hex(8))
    with pytest.raises(StreamPutError) as caught:
        _put(store, "x.mp3", _chunks(b"x" * 10), 10)
    assert caught.value.status == 403
    assert "X-Amz-Signature" not in str(caught.value)  # the URL is shown without its query
    assert isinstance(storage_failure(caught.value), StorageUnavailable)


def test_an_unreachable_endpoint_is_the_buckets_failure():
    down = S3Server(f"http://127.0.0.1:{free_ports(1)[0]}", "AK", "secret")
    with pytest.raises(StreamPutError) as caught:
        _put(_store(down, "b"), "x.mp3", _chunks(b"x"), 1)
    assert isinstance(storage_failure(caught.value), StorageUnavailable)


def test_which_stores_stream(s3_server, tmp_path):
    """HTTPS endpoints (TLS protects the unsigned body) or an explicit unsigned_payload."""
    https = S3Server("https://s3.us-west-004.backblazeb2.com", "k", "s", region="us-west-004")
    assert streams_to(_store(https, "b"))
    assert not streams_to(_store(s3_server, "b"))
    assert streams_to(_store(s3_server, "b", unsigned_payload=True))
    assert not streams_to(LocalStore(str(tmp_path)))


def test_a_throttled_put_is_sent_again_from_the_kept_bytes(s3_server):
    bucket = f"stream-{secrets.token_hex(6)}"
    s3_server.create_bucket(bucket)
    parts = [secrets.token_bytes(100 * KiB), secrets.token_bytes(5 * KiB)]
    with slowdown_proxy(s3_server.endpoint_url, fail_first_puts=2) as proxy:
        shaped = S3Server(proxy.endpoint_url, s3_server.access_key_id, s3_server.secret_access_key)
        _put(_store(shaped, bucket), "slow.mp3", _chunks(*parts), 105 * KiB, retries=3)
        assert proxy.rejected == 2
    got = s3_server.client().get_object(Bucket=bucket, Key="slow.mp3")["Body"].read()
    assert got == b"".join(parts)


def test_without_retries_a_throttled_put_is_one_objects_trouble(s3_server):
    bucket = f"stream-{secrets.token_hex(6)}"
    s3_server.create_bucket(bucket)
    with slowdown_proxy(s3_server.endpoint_url, fail_first_puts=1) as proxy:
        shaped = S3Server(proxy.endpoint_url, s3_server.access_key_id, s3_server.secret_access_key)
        with pytest.raises(StreamPutError) as caught:
            _put(_store(shaped, bucket), "slow.mp3", _chunks(b"x" * 10), 10)
    assert caught.value.status == 503 and caught.value.retryable
    assert storage_failure(caught.value) is None  # the run goes on; the file is retried later
