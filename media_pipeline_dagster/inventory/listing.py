"""Every object of the bucket, all pages: key, size, ETag, file id and last-modified.

S3 (Backblaze B2, SeaweedFS): ListObjectVersions, keeping each key's latest version that
is not a delete marker, so the file id is B2's fileId (the S3 VersionId). Where a store
has no versions (VersionId "null") or no ListObjectVersions at all, the file id is the
ETag, as the old inventory script did. A local folder: a walk, the file id is the MD5 of the content
(what S3 reports as the ETag of a single-part upload).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..resources.object_store import (
    LocalObjectStoreResource,
    ObjectStoreResource,
    S3ObjectStoreResource,
)

AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidToken",
    "ExpiredToken",
    "Unauthorized",
    "Forbidden",
    "403",
    "401",
}
UNSUPPORTED_CODES = {"NotImplemented", "MethodNotAllowed", "501", "405"}
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"  # the ETag S3 gives a zero-byte object
# obstore's LocalStore writes "<name>#<n>" and renames it when complete.
_STAGING = re.compile(r"#\d+$")


class InventoryAccessError(RuntimeError):
    """The bucket cannot be listed (credentials, bucket name, network); nothing was written."""


@dataclass(frozen=True)
class InventoryObject:
    key: str
    size: int
    etag: str | None
    file_id: str
    last_modified: str  # ISO 8601, UTC, seconds: 2025-01-31T12:00:00Z

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Listing:
    objects: list[InventoryObject]
    pages: int = 0
    method: str = ""
    skipped: list[str] = field(default_factory=list)  # "key: reason", left out of the snapshot


def iso_utc(moment: datetime | float) -> str:
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_etag(etag: str | None) -> str | None:
    return etag.strip().strip('"') if etag else None


def list_bucket(
    store: ObjectStoreResource,
    *,
    exclude_prefix: str,
    page_size: int = 1000,
    previous: Mapping[str, InventoryObject] | None = None,
) -> Listing:
    """All objects outside ``exclude_prefix``, sorted by key."""
    if isinstance(store, S3ObjectStoreResource):
        listing = list_s3(store, exclude_prefix=exclude_prefix, page_size=page_size)
    elif isinstance(store, LocalObjectStoreResource):
        _ = store.store  # creates the folder, as every other use of the local bucket does
        listing = list_local(
            Path(store.root_dir), exclude_prefix=exclude_prefix, previous=previous or {}
        )
    else:
        raise TypeError(
            f"cannot list a {type(store).__name__}; expected an S3 or a local object store"
        )
    listing.objects.sort(key=lambda o: o.key)
    return listing


def access_error(exc: Exception, store: S3ObjectStoreResource) -> InventoryAccessError:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    where = f"bucket {store.bucket!r} at {store.endpoint_url}"
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in AUTH_CODES:
            return InventoryAccessError(
                f"the S3 endpoint rejected the credentials for {where} ({code}): check BACKBLAZE_B2_KEY_ID and "
                "BACKBLAZE_B2_APPLICATION_KEY (a key allowed to list the bucket: listFiles, readFiles)."
            )
        if code == "NoSuchBucket":
            return InventoryAccessError(
                f"{where} does not exist: check BACKBLAZE_B2_BUCKET and the endpoint's region."
            )
        return InventoryAccessError(f"listing {where} failed: {code or exc}")
    if isinstance(exc, NoCredentialsError):
        return InventoryAccessError(
            f"no credentials for {where}: set BACKBLAZE_B2_KEY_ID and BACKBLAZE_B2_APPLICATION_KEY."
        )
    if isinstance(exc, EndpointConnectionError):
        return InventoryAccessError(
            f"cannot reach {store.endpoint_url} to list {where}: check BACKBLAZE_B2_S3_ENDPOINT and the network."
        )
    return InventoryAccessError(f"listing {where} failed: {type(exc).__name__}: {exc}")


def list_s3(store: S3ObjectStoreResource, *, exclude_prefix: str, page_size: int = 1000) -> Listing:
    from botocore.exceptions import BotoCoreError, ClientError

    client = store.boto3_client()
    try:
        try:
            return _versions(client, store.bucket, exclude_prefix, page_size)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) not in UNSUPPORTED_CODES:
                raise
        return _current_objects(client, store.bucket, exclude_prefix, page_size)
    except (ClientError, BotoCoreError) as exc:
        raise access_error(exc, store) from exc


def _add(listing: Listing, entry: dict, version_id: str | None) -> None:
    size = int(entry.get("Size") or 0)
    etag = normalize_etag(entry.get("ETag"))
    if not etag and size == 0:
        etag = EMPTY_MD5  # some S3 servers send an empty ETag for an empty object
    file_id = version_id if version_id and version_id != "null" else etag
    if not file_id:
        listing.skipped.append(
            f"{entry['Key']}: neither a VersionId nor an ETag, so no stable media_uid"
        )
        return
    listing.objects.append(
        InventoryObject(entry["Key"], size, etag, file_id, iso_utc(entry["LastModified"]))
    )


def _versions(client, bucket: str, exclude_prefix: str, page_size: int) -> Listing:
    listing = Listing([], method="ListObjectVersions")
    pages = client.get_paginator("list_object_versions").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": page_size}
    )
    for page in pages:
        listing.pages += 1
        for entry in page.get("Versions") or ():
            # Older versions and delete markers ("hidden" files in B2) are not in the bucket now.
            if entry.get("IsLatest") and not entry["Key"].startswith(exclude_prefix):
                _add(listing, entry, entry.get("VersionId"))
    return listing


def _current_objects(client, bucket: str, exclude_prefix: str, page_size: int) -> Listing:
    listing = Listing([], method="ListObjectsV2")
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": page_size}
    )
    for page in pages:
        listing.pages += 1
        for entry in page.get("Contents") or ():
            if not entry["Key"].startswith(exclude_prefix):
                _add(listing, entry, None)
    return listing


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if not _STAGING.search(name):
                yield Path(dirpath, name)


def list_local(
    root: Path,
    *,
    exclude_prefix: str,
    previous: Mapping[str, InventoryObject],
    hasher: Callable[[Path], str] = _md5,
) -> Listing:
    """A folder as a bucket; a file whose size and mtime match the previous snapshot keeps its hash."""
    listing = Listing([], method="folder walk", pages=1)
    if not root.is_dir():
        raise InventoryAccessError(
            f"local bucket folder {root} is not a folder: check MEDIA_PIPELINE_DATA_DIR."
        )
    for path in _walk(root):
        key = path.relative_to(root).as_posix()
        if key.startswith(exclude_prefix):
            continue
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            listing.skipped.append(
                key.encode("utf-8", "backslashreplace").decode() + ": file name is not UTF-8"
            )
            continue
        stat = path.stat()
        modified = iso_utc(stat.st_mtime)
        known = previous.get(key)
        if known and known.size == stat.st_size and known.last_modified == modified and known.etag:
            etag = known.etag
        else:
            etag = hasher(path)
        listing.objects.append(InventoryObject(key, stat.st_size, etag, etag, modified))
    return listing
