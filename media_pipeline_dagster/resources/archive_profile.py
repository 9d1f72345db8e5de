"""The archive's resources for each profile, built from an environment mapping that settings.py passes in.

Names: ARCHIVE_DATABASE_URL, MEDIA_CACHE_DIR, ARCHIVE_S3_BUCKET (social-tui), ARCHIVE_S3_REGION
(us-east-1), AWS_PROFILE (ab-power-user), ARCHIVE_AWS_ACCESS_KEY_ID / ARCHIVE_AWS_SECRET_ACCESS_KEY /
ARCHIVE_AWS_SESSION_TOKEN, ARCHIVE_S3_ENDPOINT_URL. The archive keeps its own key and region
names because AWS_ACCESS_KEY_ID and AWS_REGION may already hold the Backblaze B2 ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from .archive import MediaCacheResource, PostMediaDatabaseResource
from .bucket import FolderBucket, S3Bucket

DEFAULT_BUCKET = "social-tui"
DEFAULT_REGION = "us-east-1"
DEFAULT_PROFILE = "ab-power-user"
REQUIRED_IN_PROD = {
    "ARCHIVE_DATABASE_URL": "PostgreSQL URL of the social-tui database holding post_media",
    "MEDIA_CACHE_DIR": "the cache/media folder to archive",
}
KEY_PAIR = ("ARCHIVE_AWS_ACCESS_KEY_ID", "ARCHIVE_AWS_SECRET_ACCESS_KEY")


def _get(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def local_archive_resources(env: Mapping[str, str], data_dir: Path) -> dict[str, object]:
    """SQLite post_media, the cache and a folder as the bucket, all under the data dir unless set."""
    return {
        "post_media_db": PostMediaDatabaseResource(
            database_url=_get(env, "ARCHIVE_DATABASE_URL")
            or f"sqlite:///{data_dir / 'post_media.sqlite'}",
            create_table=True,
        ),
        "media_cache": MediaCacheResource(
            path=_get(env, "MEDIA_CACHE_DIR") or str(data_dir / "cache" / "media")
        ),
        "archive_bucket": FolderBucket(
            root_dir=str(data_dir / "archive"),
            bucket=_get(env, "ARCHIVE_S3_BUCKET") or DEFAULT_BUCKET,
        ),
    }


def prod_archive_missing(env: Mapping[str, str]) -> list[str]:
    """'NAME (what it is)' for every variable the prod profile needs and does not have."""
    missing = [f"{name} ({what})" for name, what in REQUIRED_IN_PROD.items() if not _get(env, name)]
    if bool(_get(env, KEY_PAIR[0])) != bool(_get(env, KEY_PAIR[1])):
        absent = KEY_PAIR[1] if _get(env, KEY_PAIR[0]) else KEY_PAIR[0]
        missing.append(f"{absent} (set both archive keys, or neither to use AWS_PROFILE)")
    return missing


def prod_archive_resources(env: Mapping[str, str]) -> dict[str, object]:
    """PostgreSQL post_media and AWS S3; call after prod_archive_missing() came back empty."""
    url = _get(env, "ARCHIVE_DATABASE_URL")
    if not url.lower().startswith("postgres"):
        raise ValueError(
            "ARCHIVE_DATABASE_URL must be a PostgreSQL URL in the prod profile (postgresql+psycopg2://...)"
        )
    secret = lambda name: dg.EnvVar(name) if _get(env, name) else None  # noqa: E731 - secrets stay env references
    return {
        "post_media_db": PostMediaDatabaseResource(database_url=dg.EnvVar("ARCHIVE_DATABASE_URL")),
        "media_cache": MediaCacheResource(path=_get(env, "MEDIA_CACHE_DIR")),
        "archive_bucket": S3Bucket(
            bucket=_get(env, "ARCHIVE_S3_BUCKET") or DEFAULT_BUCKET,
            region=_get(env, "ARCHIVE_S3_REGION") or DEFAULT_REGION,
            profile_name=_get(env, "AWS_PROFILE") or DEFAULT_PROFILE,
            access_key_id=secret("ARCHIVE_AWS_ACCESS_KEY_ID"),
            secret_access_key=secret("ARCHIVE_AWS_SECRET_ACCESS_KEY"),
            session_token=secret("ARCHIVE_AWS_SESSION_TOKEN"),
            endpoint_url=_get(env, "ARCHIVE_S3_ENDPOINT_URL") or None,
            request_timeout_seconds=120.0,
            max_retries=6,
        ),
    }
