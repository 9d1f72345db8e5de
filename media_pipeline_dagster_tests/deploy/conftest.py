"""Fixtures of the deployment tests: the environment a production host would have, on local servers."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from ..servers import postgres
from ..servers.seaweed import S3Server


def plain_postgres_url(url: str) -> str:
    """postgresql://… without a driver suffix: what an operator writes, and what SQLAlchemy 2.1 maps to psycopg 3."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def dagster_storage_url(pg_base_url: str) -> Iterator[str]:
    """A database of its own for Dagster's runs, events and cursors, as deploy/ recommends."""
    with postgres.temporary_database(pg_base_url) as url:
        yield plain_postgres_url(url)


@dataclass
class Host:
    """What one production host has: its environment file, and where its data lives."""

    env: dict[str, str]
    catalog_url: str
    bucket: str
    inbox: Path
    s3_server: S3Server

    def s3_client(self):
        return self.s3_server.client()


@contextmanager
def production_host(pg_base_url: str, s3_server: S3Server, root: Path) -> Iterator[Host]:
    """deploy/media-pipeline.env.example filled in for this machine: prod profile, PostgreSQL
    (a catalog and Dagster's storage), SeaweedFS as B2 and as the compute-log bucket."""
    inbox, cache = root / "inbox", root / "media_cache"
    inbox.mkdir(parents=True)
    cache.mkdir()
    bucket = f"test-{secrets.token_hex(6)}"
    s3_server.create_bucket(bucket)
    with (
        postgres.temporary_database(pg_base_url) as catalog_url,
        postgres.temporary_database(pg_base_url) as storage_url,
    ):
        env = {
            "MEDIA_PIPELINE_ENV": "prod",
            "DAGSTER_POSTGRES_URL": plain_postgres_url(storage_url),
            "DAGSTER_COMPUTE_LOGS_BUCKET": bucket,
            "DAGSTER_COMPUTE_LOGS_ENDPOINT": s3_server.endpoint_url,
            "DAGSTER_COMPUTE_LOGS_REGION": s3_server.region,
            "AWS_ACCESS_KEY_ID": s3_server.access_key_id,
            "AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key,
            "DATABASE_URL": catalog_url,
            "BACKBLAZE_B2_S3_ENDPOINT": s3_server.endpoint_url,
            "BACKBLAZE_B2_REGION": s3_server.region,
            "BACKBLAZE_B2_KEY_ID": s3_server.access_key_id,
            "BACKBLAZE_B2_APPLICATION_KEY": s3_server.secret_access_key,
            "BACKBLAZE_B2_BUCKET": bucket,
            "MEDIA_PIPELINE_CSV_INBOX": str(inbox),
            "MEDIA_PIPELINE_TRANSCRIBER": "local",
            "ARCHIVE_DATABASE_URL": catalog_url,
            "MEDIA_CACHE_DIR": str(cache),
            # The fetch policy refuses internal addresses; the test's audio servers are on loopback.
            "MEDIA_PIPELINE_FETCH_ALLOW_NETWORKS": "127.0.0.1/32",
            # D1 is not exercised here; prod only insists the variables exist.
            "CLOUDFLARE_API_TOKEN": "unused-in-this-test",
            "CLOUDFLARE_ACCOUNT_ID": "unused-in-this-test",
            "MEDIA_PIPELINE_EXECUTOR": "multiprocess",
        }
        yield Host(
            env=env, catalog_url=catalog_url, bucket=bucket, inbox=inbox, s3_server=s3_server
        )
