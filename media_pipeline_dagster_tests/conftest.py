"""Shared fixtures: the real services the tests talk to, started by the test session.

PostgreSQL must be running (``scripts/ensure_postgres.sh`` installs and starts one);
SeaweedFS and the audio origin are started here, once per session.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from media_pipeline_dagster.resources.bucket import S3Bucket
from media_pipeline_dagster.resources.call_sources import CallSourcesResource
from media_pipeline_dagster.resources.databases import CatalogResource, RecordingsDatabaseResource
from media_pipeline_dagster.resources.fetch import FetchPolicyResource
from media_pipeline_dagster.resources.http import AudioTransferResource
from media_pipeline_dagster.resources.inbox import CsvInboxResource

from .servers import postgres
from .servers.audio_origin import AudioOrigin, audio_origin
from .servers.seaweed import S3Server, seaweedfs_server


@pytest.fixture(scope="session")
def pg_base_url() -> str:
    return postgres.ensure_server()


@pytest.fixture
def pg_url(pg_base_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    with postgres.temporary_database(pg_base_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request, tmp_path: Path) -> Iterator[str]:
    """The catalog database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    else:
        with postgres.temporary_database(request.getfixturevalue("pg_base_url")) as url:
            yield url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    with seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """A new, empty bucket per test."""
    name = f"test-{secrets.token_hex(6)}"
    s3_server.create_bucket(name)
    return name


@pytest.fixture
def object_store(s3_server: S3Server, bucket: str) -> S3Bucket:
    return S3Bucket(
        endpoint_url=s3_server.endpoint_url,
        region=s3_server.region,
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
        bucket=bucket,
        # What an HTTPS bucket (B2) gets: uploads streamed through presigned PUTs.
        unsigned_payload=True,
    )


@pytest.fixture(scope="session")
def origin() -> Iterator[AudioOrigin]:
    with audio_origin() as server:
        yield server


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def pipeline_resources(pg_url: str, object_store: S3Bucket, inbox: Path) -> dict[str, object]:
    """Everything audio_files needs, on real PostgreSQL and SeaweedFS, with quick retries."""
    return {
        "catalog": CatalogResource(database_url=pg_url),
        "object_store": object_store,
        "csv_inbox": CsvInboxResource(path=str(inbox)),
        "recordings_db": RecordingsDatabaseResource(),
        "call_sources": CallSourcesResource(),
        "fetch_policy": FetchPolicyResource(allow_networks=["127.0.0.1/32"]),
        "audio_transfer": AudioTransferResource(
            read_timeout_seconds=2.0,
            connect_timeout_seconds=2.0,
            backoff_base_seconds=0.05,
            backoff_max_seconds=0.2,
            max_attempts=3,
        ),
    }


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst
