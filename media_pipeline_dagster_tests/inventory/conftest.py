"""Inventory fixtures: the local D1 REST server, D1 resources on both backends, object stores."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from media_pipeline_dagster.resources.bucket import Bucket, FolderBucket
from media_pipeline_dagster.resources.d1 import CloudflareD1Resource, D1Resource, LocalD1Resource

from ..servers.d1_fake import FakeD1, fake_d1_server

# Retries in tests: quick, but the same code paths as production.
QUICK_RETRIES = {"max_retries": 2, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05}


@pytest.fixture(scope="session")
def d1_server(tmp_path_factory) -> Iterator[FakeD1]:
    with fake_d1_server(tmp_path_factory.mktemp("fake-d1")) as server:
        yield server


@pytest.fixture
def d1_database(d1_server: FakeD1) -> Iterator[tuple[str, str]]:
    """A fresh, empty D1 database on the server: (name, id)."""
    name = f"lgfc-test-{secrets.token_hex(4)}"
    db_id = d1_server.create_database(name)
    d1_server.reset()
    yield name, db_id
    d1_server.reset()


def rest_resource(server: FakeD1, name: str, **overrides) -> CloudflareD1Resource:
    fields = {
        "api_token": server.api_token,
        "account_id": server.account_id,
        "database_name": name,
        "base_url": server.base_url,
        **QUICK_RETRIES,
        **overrides,
    }
    return CloudflareD1Resource(**fields)


@pytest.fixture
def rest_d1(d1_server: FakeD1, d1_database: tuple[str, str]) -> CloudflareD1Resource:
    return rest_resource(d1_server, d1_database[0])


@pytest.fixture
def local_d1(tmp_path: Path) -> LocalD1Resource:
    return LocalD1Resource(path=str(tmp_path / "d1" / "lgfc_lite.sqlite"))


@pytest.fixture(params=["rest", "local"])
def any_d1(request) -> D1Resource:
    return request.getfixturevalue(f"{request.param}_d1")


def sqlite_of(resource: D1Resource, server: FakeD1 | None = None) -> sqlite3.Connection:
    """The SQLite file behind a D1 resource, to look at what it holds (autocommit)."""
    if isinstance(resource, LocalD1Resource):
        Path(resource.path).parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(resource.path, isolation_level=None)
    assert server is not None
    db_id = next(i for i, n in server.databases.items() if n == resource.database_name)
    return server.connect(db_id)


@pytest.fixture
def d1_sqlite(any_d1: D1Resource, request) -> Iterator[sqlite3.Connection]:
    server = (
        request.getfixturevalue("d1_server") if isinstance(any_d1, CloudflareD1Resource) else None
    )
    conn = sqlite_of(any_d1, server)
    yield conn
    conn.close()


def media_rows(conn: sqlite3.Connection) -> list[tuple]:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'media_assets'").fetchone():
        return []
    return conn.execute(
        "SELECT media_uid, b2_key, b2_file_id, size, etag FROM media_assets ORDER BY id"
    ).fetchall()


@pytest.fixture
def local_store(tmp_path: Path) -> FolderBucket:
    return FolderBucket(root_dir=str(tmp_path / "bucket"))


@pytest.fixture(params=["s3", "local"])
def any_store(request) -> Bucket:
    return request.getfixturevalue("object_store" if request.param == "s3" else "local_store")


def put_objects(store: Bucket, objects: Mapping[str, bytes], concurrency: int = 64) -> None:
    """Many small objects at once (concurrent)."""

    async def main() -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(key: str, data: bytes) -> None:
            async with gate:
                await store.put_stream(key, data, multipart=False)

        await asyncio.gather(*(one(k, v) for k, v in objects.items()))

    asyncio.run(main())
