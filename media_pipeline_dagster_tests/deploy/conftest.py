"""Fixtures of the deployment tests: the environment a production host would have, on local servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from ..servers import postgres
from ..servers.seaweed import S3Server


def plain_postgres_url(url: str) -> str:
    """postgresql://… without a driver suffix: what an operator writes, and what needs psycopg 3."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def dagster_storage_url(pg_base_url: str) -> Iterator[str]:
    """A database of its own for Dagster's runs, events and cursors, as deploy/ recommends."""
    with postgres.temporary_database(pg_base_url) as url:
        yield plain_postgres_url(url)


@pytest.fixture
def production_env(pg_url: str, dagster_storage_url: str, s3_server: S3Server, bucket: str, inbox: Path, tmp_path: Path) -> dict[str, str]:
    """deploy/media-pipeline.env.example filled in for this machine: prod profile, PostgreSQL,
    SeaweedFS as B2 and as the compute-log bucket."""
    cache = tmp_path / "media_cache"
    cache.mkdir()
    return {
        "MEDIA_PIPELINE_ENV": "prod",
        "DAGSTER_POSTGRES_URL": dagster_storage_url,
        "DAGSTER_COMPUTE_LOGS_BUCKET": bucket,
        "DAGSTER_COMPUTE_LOGS_ENDPOINT": s3_server.endpoint_url,
        "DAGSTER_COMPUTE_LOGS_REGION": s3_server.region,
        "AWS_ACCESS_KEY_ID": s3_server.access_key_id,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key,
        "DATABASE_URL": pg_url,
        "BACKBLAZE_B2_S3_ENDPOINT": s3_server.endpoint_url,
        "BACKBLAZE_B2_REGION": s3_server.region,
        "BACKBLAZE_B2_KEY_ID": s3_server.access_key_id,
        "BACKBLAZE_B2_APPLICATION_KEY": s3_server.secret_access_key,
        "BACKBLAZE_B2_BUCKET": bucket,
        "MEDIA_PIPELINE_CSV_INBOX": str(inbox),
        "MEDIA_PIPELINE_TRANSCRIBER": "local",
        "ARCHIVE_DATABASE_URL": pg_url,
        "MEDIA_CACHE_DIR": str(cache),
        # The fetch policy refuses internal addresses; the test's audio servers are on loopback.
        "MEDIA_PIPELINE_FETCH_ALLOW_NETWORKS": "127.0.0.1/32",
        # D1 is not exercised here; prod only insists the variables exist.
        "CLOUDFLARE_API_TOKEN": "unused-in-this-test",
        "CLOUDFLARE_ACCOUNT_ID": "unused-in-this-test",
        "MEDIA_PIPELINE_EXECUTOR": "multiprocess",
    }
