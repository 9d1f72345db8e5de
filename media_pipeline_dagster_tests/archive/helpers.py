"""Test helpers: a generated media cache with its post_media rows, materialize, read back."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from media_pipeline_dagster.archive.assets import post_media_archive
from media_pipeline_dagster.resources.bucket import S3Bucket

from ..servers.seaweed import S3Server
from ..servers.slowdown_proxy import SlowdownProxy, _Handler, slowdown_proxy

DEC, NOV = "2025-12-01", "2025-11-01"
# For tests whose subject does not touch SQL (file lookup, S3 behaviour): the SQL paths run on both elsewhere.
SQLITE_ONLY = pytest.mark.parametrize("post_media_url", ["sqlite"], indirect=True)
AUTO = object()
FOLDERS = {"image": "images", "video": "videos", "document": "documents"}


@dataclass(frozen=True)
class Media:
    media_id: str
    md5: str
    content: bytes
    path: Path | None


class CacheBuilder:
    """A cache folder under construction and the post_media rows describing it."""

    def __init__(self, root: Path, engine: sa.Engine) -> None:
        self.root = root
        self.engine = engine

    def add(
        self,
        media_id: str | None = None,
        *,
        media_type: str = "image",
        ext: str = "jpg",
        mime_type: str | None = "image/jpeg",
        created_at: str | None = "2025-12-03 10:00:00",
        content: bytes | None = None,
        size: int = 64,
        file: bool = True,
        local_file_path: object = AUTO,
        md5_sum: object = AUTO,
        archive_url: str | None = None,
    ) -> Media:
        content = content if content is not None else secrets.token_bytes(size)
        md5 = hashlib.md5(content).hexdigest()
        media_id = media_id or f"med-{md5[:8]}"
        folder = FOLDERS.get(media_type, "images")
        path = self.root / folder / f"{md5}.{ext}" if ext else self.root / folder / md5
        if file:
            path.write_bytes(content)
        row = {
            "media_id": media_id,
            "post_id": f"post-{media_id}",
            "media_type": media_type,
            "media_url": f"https://example.social/{media_id}",
            "local_file_path": f"cache/media/{folder}/{path.name}"
            if local_file_path is AUTO
            else local_file_path,
            "md5_sum": md5 if md5_sum is AUTO else md5_sum,
            "file_size": len(content),
            "mime_type": mime_type,
            "archive_url": archive_url,
            "created_at": created_at,
        }
        self.insert(row)
        return Media(media_id, md5, content, path if file else None)

    def insert(self, row: dict) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    f"INSERT INTO post_media ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})"
                ),
                row,
            )


def s3_bucket_resource(server: S3Server, bucket: str, **changes) -> S3Bucket:
    fields = dict(
        bucket=bucket,
        region=server.region,
        endpoint_url=server.endpoint_url,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        max_retries=2,
        connect_timeout_seconds=2,
        request_timeout_seconds=10,
    )
    return S3Bucket(**{**fields, **changes})


_INSTANCE: list[dg.DagsterInstance] = []


def shared_instance() -> dg.DagsterInstance:
    """One in-memory instance for the module's runs: building one costs ~0.2 s per materialization."""
    if not _INSTANCE:
        _INSTANCE.append(dg.DagsterInstance.ephemeral())
    return _INSTANCE[0]


def materialize(
    resources: dict,
    partition: str = DEC,
    *,
    instance: dg.DagsterInstance | None = None,
    raise_on_error: bool = True,
    **config,
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [post_media_archive],
        partition_key=partition,
        resources=resources,
        instance=instance or shared_instance(),
        run_config={"ops": {"post_media_archive": {"config": config}}},
        raise_on_error=raise_on_error,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    (mat,) = result.asset_materializations_for_node("post_media_archive")
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def check(result: dg.ExecuteInProcessResult, name: str):
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def archive_urls(engine: sa.Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT media_id, archive_url FROM post_media")).all())


def bucket_objects(bucket) -> dict[str, tuple[int, str]]:
    """key -> (size, Content-Type) of every object in an S3 archive bucket."""
    client = bucket.boto3_client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket.bucket)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    heads = {k: client.head_object(Bucket=bucket.bucket, Key=k) for k in keys}
    return {k: (h["ContentLength"], h["ContentType"]) for k, h in heads.items()}


def read_object(bucket, key: str) -> bytes:
    return bucket.boto3_client().get_object(Bucket=bucket.bucket, Key=key)["Body"].read()


@contextmanager
def recording_proxy(
    endpoint_url: str, fail_keys: tuple[str, ...] = (), delay: float = 0.0
) -> Iterator[tuple[SlowdownProxy, list[str]]]:
    """A proxy in front of S3 that records the path of every PUT and answers 503 to PUTs of ``fail_keys``."""
    puts: list[str] = []

    def decide(method: str, path: str, _headers) -> bool:
        if method != "PUT":
            return False
        puts.append(path)
        if delay:
            time.sleep(delay)
        return any(k in path for k in fail_keys)

    with slowdown_proxy(endpoint_url, should_reject=decide) as proxy:
        yield proxy, puts


ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
)


class _DenyingHandler(_Handler):
    """The slowdown proxy's handler, answering 403 AccessDenied instead of 503 SlowDown."""

    def _reject(self, expects_continue: bool) -> None:
        if expects_continue:
            self.close_connection = True
        else:
            for _ in self._iter_raw_body():
                pass
        self.send_response(403, "Forbidden")
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(ACCESS_DENIED)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(ACCESS_DENIED)


@contextmanager
def denying_proxy(endpoint_url: str, should_deny) -> Iterator[SlowdownProxy]:
    """A proxy in front of S3 answering 403 AccessDenied to requests ``should_deny(method, path, headers)`` picks."""
    with slowdown_proxy(endpoint_url, should_reject=should_deny) as proxy:
        proxy._httpd.RequestHandlerClass = _DenyingHandler
        yield proxy
