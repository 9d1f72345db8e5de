"""The media archive's systems: the post_media database, the local media cache, and the archive bucket.

The bucket is AWS S3 in production (boto3; credentials from the AWS profile, default
``ab-power-user``, or explicit keys) and a folder in the local profile; both share the few
calls the archive makes (head, put_file, setup), so the profile picks one.
"""

from __future__ import annotations

import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from ..archive.bucket_setup import SetupOptions, SetupReport, setup_local_folder, setup_s3_bucket
from ..archive.database import create_post_media_engine, ensure_post_media
from ..archive.locate import MediaCache
from ..archive.objects import StoredObject, file_md5, md5_base64
from ..catalog.schema import mask_database_url, normalize_database_url
from ..kernel.engines import EngineCache

_ENGINES = EngineCache(create_post_media_engine)
_CLIENTS: dict[
    tuple, Any
] = {}  # a boto3 client takes ~0.15 s to build: one per configuration per process
_CLIENTS_LOCK = threading.Lock()
_MIB = 1 << 20


class PostMediaDatabaseResource(dg.ConfigurableResource):
    """The social-tui ``post_media`` table (ARCHIVE_DATABASE_URL): PostgreSQL in production, SQLite locally."""

    database_url: str
    create_table: bool = False  # local profile and tests: create post_media when missing

    _ready: bool = PrivateAttr(default=False)

    @property
    def engine(self) -> sa.Engine:
        url = normalize_database_url(self.database_url)
        engine = _ENGINES.get(url)
        if not self._ready:
            ensure_post_media(engine, create=self.create_table)
            self._ready = True
        return engine

    @property
    def display_url(self) -> str:
        return mask_database_url(self.database_url)


class MediaCacheResource(dg.ConfigurableResource):
    """The local media cache (MEDIA_CACHE_DIR): ``images/``, ``videos/``, ``documents/`` of ``<md5>.<ext>`` files."""

    path: str

    def cache(self) -> MediaCache:
        root = Path(self.path).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(
                f"media cache {root} is not a folder: set MEDIA_CACHE_DIR to the cache/media folder"
            )
        return MediaCache(root)


class ArchiveCredentialsError(RuntimeError):
    """No usable AWS credentials; the message names the profile and variables to set."""


class ArchiveBucketResource(dg.ConfigurableResource):
    """Where archived media go: ``describe()/<key>`` is the archive_url of an object."""

    bucket: str = "social-tui"

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def url(self, key: str) -> str:
        return f"{self.describe()}/{key}"

    def key_of(self, url: str) -> str | None:
        """The key of an archive_url in this bucket, or None when it points elsewhere."""
        prefix = self.describe() + "/"
        return url[len(prefix) :] if url.startswith(prefix) else None

    def head(self, key: str) -> StoredObject | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def put_file(
        self, key: str, path: Path, *, content_type: str, md5: str, metadata: dict[str, str]
    ) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    def setup(self, options: SetupOptions) -> SetupReport:  # pragma: no cover - abstract
        raise NotImplementedError

    def head_many(self, keys: list[str], concurrency: int = 16) -> dict[str, StoredObject | None]:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            return dict(zip(keys, pool.map(self.head, keys)))


class S3ArchiveBucketResource(ArchiveBucketResource):
    """An AWS S3 bucket (ARCHIVE_S3_BUCKET); ``endpoint_url`` points it at another S3 server (tests)."""

    region: str = "us-east-1"
    profile_name: str | None = "ab-power-user"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    endpoint_url: str | None = None
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 120.0
    max_attempts: int = 6
    multipart_threshold_mib: int = 64

    def describe(self) -> str:
        return f"s3://{self.bucket}"

    def boto3_session(self):
        """Explicit keys win; else the profile when it exists; else boto3's default chain (AWS_* variables, role)."""
        import boto3

        if self.access_key_id and self.secret_access_key:
            return boto3.session.Session(
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                aws_session_token=self.session_token or None,
                region_name=self.region,
            )
        from botocore.exceptions import ProfileNotFound

        try:
            profiles = boto3.session.Session().available_profiles
            if self.profile_name and self.profile_name in profiles:
                session = boto3.session.Session(
                    profile_name=self.profile_name, region_name=self.region
                )
            else:
                session = boto3.session.Session(region_name=self.region)
            credentials = session.get_credentials()
        except ProfileNotFound:  # AWS_PROFILE in the environment names a profile that is not there
            credentials = None
        if credentials is None:
            raise ArchiveCredentialsError(
                f"no AWS credentials for the archive bucket {self.bucket!r}: profile {self.profile_name!r} is not in "
                "~/.aws/config or ~/.aws/credentials and no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are set; run "
                f"`aws configure --profile {self.profile_name}` or set ARCHIVE_AWS_ACCESS_KEY_ID and ARCHIVE_AWS_SECRET_ACCESS_KEY"
            )
        return session

    def client(self):
        """A boto3 client shared by every thread (sessions are not thread-safe; clients are)."""
        key = tuple(sorted((k, str(v)) for k, v in self.model_dump().items()))
        with _CLIENTS_LOCK:
            if key not in _CLIENTS:
                from botocore.config import Config

                config = Config(
                    signature_version="s3v4",
                    s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                    max_pool_connections=64,
                    retries={"mode": "standard", "max_attempts": self.max_attempts},
                    connect_timeout=self.connect_timeout_seconds,
                    read_timeout=self.read_timeout_seconds,
                )
                _CLIENTS[key] = self.boto3_session().client(
                    "s3",
                    endpoint_url=self.endpoint_url or None,
                    region_name=self.region,
                    config=config,
                )
            return _CLIENTS[key]

    def head(self, key: str) -> StoredObject | None:
        from botocore.exceptions import ClientError

        try:
            meta = self.client().head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise
        etag = str(meta.get("ETag", "")).strip('"').lower()
        md5 = (meta.get("Metadata") or {}).get("md5") or (
            etag if len(etag) == 32 and "-" not in etag else None
        )
        return StoredObject(size=int(meta["ContentLength"]), md5=md5)

    def put_file(
        self, key: str, path: Path, *, content_type: str, md5: str, metadata: dict[str, str]
    ) -> None:
        meta = {"md5": md5, **metadata}
        if path.stat().st_size <= self.multipart_threshold_mib * _MIB:
            with open(path, "rb") as body:
                self.client().put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType=content_type,
                    ContentMD5=md5_base64(md5),
                    Metadata=meta,
                )
            return
        from boto3.s3.transfer import TransferConfig

        # Big videos: multipart (each part checksummed by botocore); files already run in parallel.
        self.client().upload_file(
            str(path),
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type, "Metadata": meta},
            Config=TransferConfig(
                multipart_threshold=self.multipart_threshold_mib * _MIB, use_threads=False
            ),
        )

    def setup(self, options: SetupOptions) -> SetupReport:
        return setup_s3_bucket(self.client(), self.bucket, options)


class LocalArchiveBucketResource(ArchiveBucketResource):
    """A folder standing in for the archive bucket (local profile, demo); archive_url is a file:// URL."""

    root_dir: str

    @property
    def root(self) -> Path:
        return Path(self.root_dir).expanduser().resolve()

    def describe(self) -> str:
        return self.root.as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"key {key!r} would leave the archive folder {self.root}")
        return path

    def head(self, key: str) -> StoredObject | None:
        path = self._path(key)
        if not path.is_file():
            return None
        md5, size = file_md5(path)
        return StoredObject(size=size, md5=md5)

    def put_file(
        self, key: str, path: Path, *, content_type: str, md5: str, metadata: dict[str, str]
    ) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            shutil.copyfile(path, partial)
            copied, _ = file_md5(partial)
            if copied != md5:
                raise OSError(
                    f"copy of {path} has md5 {copied}, expected {md5}; the file changed while archiving"
                )
            os.replace(partial, target)  # readers never see half a file
        finally:
            partial.unlink(missing_ok=True)

    def setup(self, options: SetupOptions) -> SetupReport:
        return setup_local_folder(self.root, self.bucket, options)
