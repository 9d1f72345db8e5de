"""boto3 sessions and clients for an S3 bucket, with the B2 checksum setting in its one place."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .errors import BucketCredentialsError

if TYPE_CHECKING:
    from .s3 import S3Bucket

# botocore >= 1.36 sends CRC32 checksum headers that Backblaze B2 rejects; every S3 service
# but AWS gets them only when an operation requires them.
B2_CHECKSUM_SETTINGS = {
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}
_CLIENTS: dict[tuple, Any] = {}  # a boto3 client takes ~0.15 s to build: one per configuration
_CLIENTS_LOCK = threading.Lock()


def boto3_session(bucket: S3Bucket):
    """Explicit keys win; else the profile when it exists; else boto3's default chain."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    if bucket.access_key_id and bucket.secret_access_key:
        return boto3.session.Session(
            aws_access_key_id=bucket.access_key_id,
            aws_secret_access_key=bucket.secret_access_key,
            aws_session_token=bucket.session_token or None,
            region_name=bucket.region,
        )
    try:
        profiles = boto3.session.Session().available_profiles
        if bucket.profile_name and bucket.profile_name in profiles:
            session = boto3.session.Session(
                profile_name=bucket.profile_name, region_name=bucket.region
            )
        else:
            session = boto3.session.Session(region_name=bucket.region)
        credentials = session.get_credentials()
    except ProfileNotFound:  # AWS_PROFILE in the environment names a profile that is not there
        credentials = None
    if credentials is None:
        raise BucketCredentialsError(
            f"no AWS credentials for the bucket {bucket.bucket!r}: profile {bucket.profile_name!r} is not in "
            "~/.aws/config or ~/.aws/credentials and no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are set; run "
            f"`aws configure --profile {bucket.profile_name}` or set ARCHIVE_AWS_ACCESS_KEY_ID and "
            "ARCHIVE_AWS_SECRET_ACCESS_KEY"
        )
    return session


def new_client(bucket: S3Bucket, max_pool_connections: int = 64, overrides=None):
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if bucket.endpoint_url else "auto"},
        max_pool_connections=max_pool_connections,
        retries={"mode": "adaptive", "max_attempts": bucket.max_retries},
        connect_timeout=bucket.connect_timeout_seconds,
        read_timeout=bucket.request_timeout_seconds,
        **(B2_CHECKSUM_SETTINGS if bucket.endpoint_url else {}),
    )
    if overrides is not None:
        config = config.merge(overrides)
    return boto3_session(bucket).client(
        "s3", endpoint_url=bucket.endpoint_url or None, region_name=bucket.region, config=config
    )


def shared_client(bucket: S3Bucket):
    key = tuple(sorted((k, str(v)) for k, v in bucket.model_dump().items()))
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = new_client(bucket)
        return _CLIENTS[key]
