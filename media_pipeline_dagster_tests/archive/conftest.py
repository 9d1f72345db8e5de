"""Archive fixtures: post_media on SQLite and PostgreSQL, a generated media cache, S3 buckets.

Uploads go to the session's SeaweedFS (it checks signatures and Content-MD5); the bucket
setup job runs against moto, because SeaweedFS answers NotImplemented to Glacier
lifecycle rules and ignores the region (tests of stores lacking a feature use SeaweedFS
and rclone on purpose).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from media_pipeline_dagster.resources.archive import MediaCacheResource, PostMediaDatabaseResource
from media_pipeline_dagster.resources.bucket import S3Bucket

from ..servers import postgres
from ..servers.seaweed import S3Server, _moto
from .helpers import CacheBuilder, s3_bucket_resource


@pytest.fixture(params=["sqlite", "postgresql"])
def post_media_url(request, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'social.sqlite'}"
    else:
        with postgres.temporary_database(request.getfixturevalue("pg_base_url")) as url:
            yield url


@pytest.fixture
def post_media_db(post_media_url: str) -> PostMediaDatabaseResource:
    return PostMediaDatabaseResource(database_url=post_media_url, create_table=True)


@pytest.fixture
def cache(tmp_path: Path, post_media_db: PostMediaDatabaseResource) -> CacheBuilder:
    root = tmp_path / "cache" / "media"
    for folder in ("images", "videos", "documents"):
        (root / folder).mkdir(parents=True)
    return CacheBuilder(root, post_media_db.engine)


@pytest.fixture
def archive_bucket(s3_server: S3Server, bucket: str) -> S3Bucket:
    return s3_bucket_resource(s3_server, bucket)


@pytest.fixture
def archive_resources(post_media_db, cache: CacheBuilder, archive_bucket) -> dict[str, object]:
    return {
        "post_media_db": post_media_db,
        "media_cache": MediaCacheResource(path=str(cache.root)),
        "archive_bucket": archive_bucket,
    }


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    """moto in server mode: lifecycle rules with Glacier transitions, regions and versioning."""
    with _moto() as server:
        yield server


@pytest.fixture
def moto_bucket_name() -> str:
    return f"archive-{secrets.token_hex(6)}"


@pytest.fixture
def cache_on_pg(
    pg_url: str, tmp_path: Path, archive_bucket
) -> tuple[CacheBuilder, dict[str, object]]:
    """A cache and its rows on PostgreSQL only (for tests that also run a child process)."""
    db = PostMediaDatabaseResource(database_url=pg_url, create_table=True)
    root = tmp_path / "pg-cache" / "media"
    for folder in ("images", "videos", "documents"):
        (root / folder).mkdir(parents=True)
    resources = {
        "post_media_db": db,
        "media_cache": MediaCacheResource(path=str(root)),
        "archive_bucket": archive_bucket,
    }
    return CacheBuilder(root, db.engine), resources
