"""A bucket behind the S3 API: Backblaze B2 and AWS S3 in production, SeaweedFS in tests.

Data (puts, gets, sizes, deletes) goes through obstore's native client, which streams
without the Python-thread overhead of boto3. boto3 does what obstore has no call for:
version listings, HEADs with user metadata or of one version, a Content-MD5-checked PUT,
and bucket setup.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import obstore
from obstore.store import S3Store

from ...kernel.resilience import Kind, service_kind
from .base import Bucket
from .errors import (
    CREDENTIALS_HINT,
    ENDPOINT_HINT,
    StorageUnavailable,
    obstore_error_parts,
    storage_failure,
)
from .s3_admin import head_object, list_versions, put_file
from .s3_client import boto3_session, new_client, shared_client
from .s3_setup import setup_s3_bucket
from .s3_stream_put import presigned_put_url, streams_to
from .types import ListedObject, Listing, ObjectHead, SetupOptions, SetupReport


class S3Bucket(Bucket):
    """An S3 bucket; ``endpoint_url`` None means AWS. Explicit keys win, else the AWS profile
    ``profile_name`` when it exists, else boto3's default chain (AWS_* variables, a role)."""

    bucket: str
    region: str = "us-east-1"
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    profile_name: str | None = None
    connect_timeout_seconds: float = 10.0
    request_timeout_seconds: float = 300.0
    max_retries: int = 8
    # UNSIGNED-PAYLOAD spares hashing every upload a second time for SigV4 (TLS protects
    # the body over HTTPS); off until a given S3 service is known to accept it.
    unsigned_payload: bool = False
    # "sha256": every PUT (and every part) carries x-amz-checksum-sha256, which the server
    # checks against the bytes it got; off until a given S3 service is known to accept it.
    checksum_algorithm: str | None = None
    multipart_threshold_mib: int = 64  # put_file: larger files go up in parts

    def describe(self) -> str:
        return f"s3://{self.bucket}"

    @property
    def keeps_metadata(self) -> bool:
        return True

    def _where(self) -> str:
        return f"bucket {self.bucket!r} at {self.endpoint_url or 'AWS S3'}"

    def _credentials(self) -> dict[str, Any]:
        if self.access_key_id and self.secret_access_key:
            keys = {
                "access_key_id": self.access_key_id,
                "secret_access_key": self.secret_access_key,
            }
            return keys | ({"token": self.session_token} if self.session_token else {})
        from obstore.auth.boto3 import Boto3CredentialProvider

        return {"credential_provider": Boto3CredentialProvider(self.boto3_session())}

    def _build_store(self, retries: int | None = None) -> S3Store:
        endpoint: dict[str, Any] = {"endpoint": self.endpoint_url} if self.endpoint_url else {}
        checksum: dict[str, Any] = (
            {"checksum_algorithm": self.checksum_algorithm} if self.checksum_algorithm else {}
        )
        return S3Store(
            self.bucket,
            **endpoint,
            region=self.region,
            **self._credentials(),
            virtual_hosted_style_request=False if self.endpoint_url else None,
            unsigned_payload=self.unsigned_payload,
            **checksum,
            client_options={
                "allow_http": (self.endpoint_url or "").startswith("http://"),
                "connect_timeout": timedelta(seconds=self.connect_timeout_seconds),
                "timeout": timedelta(seconds=self.request_timeout_seconds),
                "pool_max_idle_per_host": "256",
            },
            # B2 answers 503 SlowDown past 500 requests/s: back off and try again.
            retry_config={
                "max_retries": self.max_retries
                if retries is None
                else min(retries, self.max_retries),
                "backoff": {
                    "init_backoff": timedelta(milliseconds=200),
                    "max_backoff": timedelta(seconds=20),
                    "base": 2,
                },
                "retry_timeout": timedelta(minutes=5),
            },
        )

    # ---- data, by obstore
    def presigner(self, key: str) -> Callable[[], str] | None:
        if not self._streams:
            return None
        store = self._obstore()
        return lambda: presigned_put_url(store, key)

    @functools.cached_property
    def _streams(self) -> bool:
        """Asked per file; the store's configuration is read from Rust once (a cached
        property lives in __dict__, unlike a pydantic private attribute: see _store_handle)."""
        return streams_to(self._obstore())

    def _systemic(self, exc: BaseException) -> Exception | None:
        return storage_failure(exc)

    def put_file(
        self, key: str, path: Path, *, content_type: str, md5: str, metadata: Mapping[str, str]
    ) -> None:
        put_file(self, key, path, content_type=content_type, md5=md5, metadata=metadata)

    def head(self, key: str, version: str | None = None) -> ObjectHead | None:
        return head_object(self, key, version)

    def list_versions(
        self,
        *,
        exclude_prefix: str = "",
        page_size: int = 1000,
        known: Callable[[], Mapping[str, ListedObject]] | None = None,
    ) -> Listing:
        return list_versions(self, exclude_prefix=exclude_prefix, page_size=page_size)

    def setup(self, options: SetupOptions) -> SetupReport:
        return setup_s3_bucket(self.boto3_client(), self.bucket, options, self.region)

    def preflight(self, prefix: str = "") -> None:
        host = urlsplit(self.endpoint_url).hostname or "" if self.endpoint_url else ""
        if host:
            try:
                socket.getaddrinfo(host, None)
            except (socket.gaierror, UnicodeError) as exc:
                raise StorageUnavailable(
                    f"object storage endpoint {self.endpoint_url}: host {host!r} does not resolve ({exc}); {ENDPOINT_HINT}"
                ) from None
        # One ListObjectsV2 request under the run's prefix (a key limited to a prefix may
        # list there), by obstore on a store that tries twice at most: the data store's
        # patient retries would make a dead endpoint look like a hang. A boto3 client
        # instead would cost each run 0.1-0.3 CPU s to import and build.
        listing = obstore.list(
            self._build_store(retries=1), prefix=prefix.strip("/") or None, chunk_size=1
        )
        try:
            next(iter(listing), None)
        except Exception as exc:
            raise self._preflight_failure(exc) from None

    def _preflight_failure(self, exc: Exception) -> StorageUnavailable:
        status, code, reason = obstore_error_parts(exc)
        where = self._where()
        if code == "NoSuchBucket":
            return StorageUnavailable(
                f"{where} does not exist (NoSuchBucket): create it or fix BACKBLAZE_B2_BUCKET"
            )
        if status is None:
            return StorageUnavailable(
                f"{where} is unreachable (could not connect to the endpoint: {reason}); {ENDPOINT_HINT}"
            )
        if service_kind(status) is Kind.SYSTEMIC:
            return StorageUnavailable(
                f"{where} refused our credentials (HTTP {status} {code}): {CREDENTIALS_HINT}"
            )
        return StorageUnavailable(f"{where} cannot be listed (HTTP {status} {code}): {reason}")

    def boto3_session(self):
        """The session whose credentials sign every request (explicit keys, profile, default chain)."""
        return boto3_session(self)

    def _new_client(self, max_pool_connections: int = 64, overrides=None):
        return new_client(self, max_pool_connections, overrides)

    def boto3_client(self):
        """The boto3 client of this configuration, shared by every thread (clients are thread-safe)."""
        return shared_client(self)
