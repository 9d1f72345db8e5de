"""Every object of the bucket, all pages: key, size, ETag, file id and last-modified.

S3 (Backblaze B2, SeaweedFS): ListObjectVersions, keeping each key's latest version that
is not a delete marker, so the file id is B2's fileId (the S3 VersionId). Where a store
has no versions (VersionId "null") or no ListObjectVersions at all, the file id is the
ETag, as the old inventory script did. A local folder: a walk, the file id is the MD5 of the content
(what S3 reports as the ETag of a single-part upload).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

from ..resources.bucket import Bucket, BucketError, ListedObject


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


def list_bucket(
    store: Bucket,
    *,
    exclude_prefix: str,
    page_size: int = 1000,
    previous: Callable[[], Mapping[str, InventoryObject]] | None = None,
) -> Listing:
    """All objects outside ``exclude_prefix``, sorted by key; ``previous`` (the last snapshot's
    objects) is asked for only by a bucket that must hash its files."""

    def known() -> dict[str, ListedObject]:
        return {
            k: ListedObject(o.key, o.size, o.etag, None, o.last_modified)
            for k, o in (previous() if previous else {}).items()
        }

    try:
        listed = store.list_versions(
            exclude_prefix=exclude_prefix, page_size=page_size, known=known
        )
    except BucketError as exc:
        raise access_error(exc) from exc
    listing = Listing([], pages=listed.pages, method=listed.method, skipped=list(listed.skipped))
    for entry in listed.objects:
        # The file id is B2's fileId (the S3 VersionId); where a store keeps no versions, the ETag.
        file_id = entry.version or entry.etag
        if not file_id:
            listing.skipped.append(
                f"{entry.key}: neither a VersionId nor an ETag, so no stable media_uid"
            )
            continue
        listing.objects.append(
            InventoryObject(entry.key, entry.size, entry.etag, file_id, entry.last_modified)
        )
    return listing


def access_error(exc: BucketError) -> InventoryAccessError:
    where = exc.where
    if exc.kind == "refused":
        return InventoryAccessError(
            f"the S3 endpoint rejected the credentials for {where} ({exc.code or exc.status}): check "
            "BACKBLAZE_B2_KEY_ID and BACKBLAZE_B2_APPLICATION_KEY (a key allowed to list the bucket: "
            "listFiles, readFiles)."
        )
    if exc.kind == "no_bucket" and exc.code:
        return InventoryAccessError(
            f"{where} does not exist: check BACKBLAZE_B2_BUCKET and the endpoint's region."
        )
    if exc.kind == "no_bucket":  # a folder standing in for the bucket
        return InventoryAccessError(
            f"local {where} is not a folder: check MEDIA_PIPELINE_DATA_DIR."
        )
    if exc.kind == "no_credentials":
        return InventoryAccessError(
            f"no credentials for {where}: set BACKBLAZE_B2_KEY_ID and BACKBLAZE_B2_APPLICATION_KEY."
        )
    if exc.kind == "unreachable":
        return InventoryAccessError(
            f"cannot reach {exc.endpoint} to list {where}: check BACKBLAZE_B2_S3_ENDPOINT and the "
            "network."
        )
    return InventoryAccessError(f"listing {where} failed: {exc.code or exc.detail}")
