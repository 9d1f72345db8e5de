"""Object storage: Backblaze B2 (or any S3 API) in production, a local folder otherwise.

Both expose an ``obstore`` store, whose native transfer core streams bytes without the
Python-thread overhead of boto3, and the same few helpers on top of it. The S3 flavour
also hands out a boto3 client configured for B2.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import obstore
from obstore.exceptions import NotFoundError
from obstore.store import LocalStore, S3Store
from pydantic import PrivateAttr

from ..kernel.resilience import Kind, service_kind
from .storage_errors import CREDENTIALS_HINT, ENDPOINT_HINT, StorageUnavailable

# botocore >= 1.36 sends CRC32 checksum headers that Backblaze B2 rejects.
B2_CHECKSUM_SETTINGS = {
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}


LIST_MIN_KEYS = 50


def _by_folder(keys: Sequence[str]) -> dict[str, list[str]]:
    """Keys grouped by the folder a listing would cover: '<...>/audio' for our layout."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        head, sep, _ = key.rpartition("/audio/")
        folder = f"{head}/audio" if sep else key.rpartition("/")[0]
        groups.setdefault(folder, []).append(key)
    return groups


class ObjectStoreResource(dg.ConfigurableResource):
    """What every domain needs from a bucket; subclasses say which bucket."""

    _store: Any = PrivateAttr(default=None)

    def build_store(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def store(self) -> Any:
        if self._store is None:
            self._store = self.build_store()
        return self._store

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def preflight(self, prefix: str = "") -> None:  # pragma: no cover - abstract
        """Raise StorageUnavailable unless the bucket answers with our credentials: one cheap
        request before a run downloads anything, so a bad key fails the run, not every file."""
        raise NotImplementedError

    def uri(self, key: str) -> str:
        return f"{self.describe().rstrip('/')}/{key}"

    async def head_size(self, key: str) -> int | None:
        """Size of the object, or None when there is none."""
        try:
            meta = await obstore.head_async(self.store, key)
        except (NotFoundError, FileNotFoundError):
            return None
        return int(meta["size"])

    async def head_sizes(self, keys: Sequence[str], concurrency: int = 32) -> dict[str, int | None]:
        gate = asyncio.Semaphore(concurrency)

        async def one(key: str) -> tuple[str, int | None]:
            async with gate:
                return key, await self.head_size(key)

        return dict(await asyncio.gather(*(one(k) for k in keys)))

    async def sizes(
        self, keys: Sequence[str], concurrency: int = 32, list_ratio: int = 20
    ) -> dict[str, int | None]:
        """Sizes of these objects (None: absent).

        Many keys under one folder are listed, 1,000 per request, rather than asked one
        HEAD each; a listing that would read over 20 entries per wanted key gives up and
        leaves the rest to HEAD requests, so a small partition of a huge campaign stays cheap.
        (``list_ratio``: entries a listing may read per wanted key.)
        """
        found: dict[str, int | None] = {}
        rest: list[str] = []
        for folder, group in _by_folder(keys).items():
            if len(group) < LIST_MIN_KEYS:
                rest.extend(group)
                continue
            listed, complete = await self._listed_sizes(
                folder, group, max_entries=len(group) * list_ratio
            )
            found.update(listed)
            unseen = [k for k in group if k not in listed]
            if complete:
                found.update(dict.fromkeys(unseen))
            else:
                rest.extend(unseen)
        found.update(await self.head_sizes(rest, concurrency))
        return found

    async def _listed_sizes(
        self, folder: str, group: list[str], max_entries: int
    ) -> tuple[dict[str, int], bool]:
        wanted = set(group)
        listed: dict[str, int] = {}
        entries = 0
        # offset = "start after": the first wanted key minus its last character sorts before it.
        stream = obstore.list(self.store, prefix=folder, offset=min(group)[:-1], chunk_size=1000)
        async for batch in stream:
            for meta in batch:
                if meta["path"] in wanted:
                    listed[meta["path"]] = int(meta["size"])
            entries += len(batch)
            if len(listed) == len(wanted):
                return listed, True
            if entries >= max_entries:
                return listed, False
        return listed, True

    def read_bytes(self, key: str) -> bytes:
        return bytes(obstore.get(self.store, key).bytes())


class S3ObjectStoreResource(ObjectStoreResource):
    """A bucket behind the S3 API: Backblaze B2 in production, SeaweedFS in tests."""

    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str
    bucket: str
    connect_timeout_seconds: float = 10.0
    request_timeout_seconds: float = 300.0
    max_retries: int = 8
    # Over HTTPS uploads of known size stream through presigned PUTs (UNSIGNED-PAYLOAD, TLS
    # protects the body; kernel.s3_stream_put). True also allows that over plain HTTP and
    # sends obstore's header-signed requests (multipart) unsigned: off until the service
    # is known to accept it.
    unsigned_payload: bool = False

    def build_store(self) -> S3Store:
        return S3Store(
            self.bucket,
            endpoint=self.endpoint_url,
            region=self.region,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            virtual_hosted_style_request=False,
            unsigned_payload=self.unsigned_payload,
            client_options={
                "allow_http": self.endpoint_url.startswith("http://"),
                "connect_timeout": timedelta(seconds=self.connect_timeout_seconds),
                "timeout": timedelta(seconds=self.request_timeout_seconds),
                "pool_max_idle_per_host": "256",
            },
            # B2 answers 503 SlowDown past 500 requests/s: back off and try again.
            retry_config={
                "max_retries": self.max_retries,
                "backoff": {
                    "init_backoff": timedelta(milliseconds=200),
                    "max_backoff": timedelta(seconds=20),
                    "base": 2,
                },
                "retry_timeout": timedelta(minutes=5),
            },
        )

    def describe(self) -> str:
        return f"s3://{self.bucket}"

    def preflight(self, prefix: str = "") -> None:
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"bucket {self.bucket!r} at {self.endpoint_url}"
        host = urlsplit(self.endpoint_url).hostname or ""
        try:
            socket.getaddrinfo(host, None)
        except (socket.gaierror, UnicodeError) as exc:
            raise StorageUnavailable(
                f"object storage endpoint {self.endpoint_url}: host {host!r} does not resolve ({exc}); {ENDPOINT_HINT}"
            ) from None
        client = self.boto3_client(
            max_pool_connections=1,
            config_overrides=Config(retries={"mode": "standard", "total_max_attempts": 2}),
        )
        try:
            client.list_objects_v2(
                Bucket=self.bucket, Prefix=prefix.strip("/") + "/" if prefix else "", MaxKeys=1
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code == "NoSuchBucket":
                raise StorageUnavailable(
                    f"{where} does not exist (NoSuchBucket): create it or fix BACKBLAZE_B2_BUCKET"
                ) from None
            if service_kind(status) is Kind.SYSTEMIC:
                raise StorageUnavailable(
                    f"{where} refused our credentials (HTTP {status} {code}): {CREDENTIALS_HINT}"
                ) from None
            raise StorageUnavailable(
                f"{where} cannot be listed (HTTP {status} {code}): {exc}"
            ) from None
        except BotoCoreError as exc:
            raise StorageUnavailable(f"{where} is unreachable ({exc}); {ENDPOINT_HINT}") from None
        finally:
            client.close()

    def boto3_client(self, max_pool_connections: int = 32, config_overrides=None):
        """A boto3 S3 client with the B2 checksum settings (for listing and management)."""
        import boto3
        from botocore.config import Config

        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            max_pool_connections=max_pool_connections,
            retries={"mode": "adaptive", "max_attempts": self.max_retries},
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.request_timeout_seconds,
            **B2_CHECKSUM_SETTINGS,
        )
        if config_overrides is not None:
            config = config.merge(config_overrides)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=config,
        )


class LocalObjectStoreResource(ObjectStoreResource):
    """A folder standing in for the bucket in the local profile and the demo."""

    root_dir: str

    def build_store(self) -> LocalStore:
        Path(self.root_dir).mkdir(parents=True, exist_ok=True)
        return LocalStore(self.root_dir, mkdir=True)

    def describe(self) -> str:
        return Path(self.root_dir).resolve().as_uri()

    def preflight(self, prefix: str = "") -> None:
        root = Path(self.root_dir)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"the bucket folder {root} cannot be created: {exc}") from None
        if not os.access(root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"the bucket folder {root} is not writable by this process")
