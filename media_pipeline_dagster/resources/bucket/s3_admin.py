"""The S3 bucket's boto3 calls, for what obstore has no call for; errors become BucketError.

Versions listing (ListObjectVersions, falling back to ListObjectsV2 where a store has no
versions), HEAD of one version with user metadata, and a PUT the server checks against
Content-MD5.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .base import MiB
from .errors import BucketError
from .types import ListedObject, Listing, ObjectHead, iso_utc, normalize_etag

if TYPE_CHECKING:
    from .s3 import S3Bucket

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
GONE_CODES = {"404", "NoSuchKey", "NoSuchVersion", "NotFound"}
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"  # the ETag S3 gives a zero-byte object


def boto3_error(bucket: S3Bucket, exc: Exception) -> BucketError:
    """What a boto3 exception says about the bucket, in the bucket package's words."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    where, endpoint = bucket._where(), bucket.endpoint_url or "AWS S3"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        # A HEAD answer has no body: botocore's "code" is then the status, its message the reason.
        detail = f"HTTP {status} {code if code != str(status) else error.get('Message', '')}"
        if code == "NoSuchBucket":
            kind = "no_bucket"
        elif code in AUTH_CODES or status in (401, 403):
            kind = "refused"
        elif code in GONE_CODES or status == 404:
            kind = "missing"
        elif code in UNSUPPORTED_CODES or status in (405, 501):
            kind = "unsupported"
        else:
            kind = "failed"
        return BucketError(kind, where, detail.strip(), code, status, endpoint)
    if isinstance(exc, NoCredentialsError):
        return BucketError("no_credentials", where, str(exc), endpoint=endpoint)
    if isinstance(exc, EndpointConnectionError):
        return BucketError("unreachable", where, str(exc), endpoint=endpoint)
    return BucketError("unreachable", where, f"{type(exc).__name__}: {exc}", endpoint=endpoint)


def _boto3_errors():
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def head_object(bucket: S3Bucket, key: str, version: str | None) -> ObjectHead | None:
    extra = {"VersionId": version} if version else {}
    try:
        head = bucket.boto3_client().head_object(Bucket=bucket.bucket, Key=key, **extra)
    except _boto3_errors() as exc:
        error = boto3_error(bucket, exc)
        if error.kind == "missing":
            return None
        raise error from None
    # Header names are case-insensitive; S3 keeps them lower-case, some servers echo them capitalised.
    meta = {str(k).lower(): str(v) for k, v in (head.get("Metadata") or {}).items()}
    return ObjectHead(
        size=int(head["ContentLength"]),
        etag=normalize_etag(head.get("ETag")),
        content_type=head.get("ContentType") or None,
        metadata=meta,
        version=head.get("VersionId"),
    )


def put_file(
    bucket: S3Bucket,
    key: str,
    path: Path,
    *,
    content_type: str,
    md5: str,
    metadata: Mapping[str, str],
) -> None:
    import base64

    client = bucket.boto3_client()
    meta = {"md5": md5, **metadata}
    try:
        if path.stat().st_size <= bucket.multipart_threshold_mib * MiB:
            with open(path, "rb") as body:
                client.put_object(
                    Bucket=bucket.bucket,
                    Key=key,
                    Body=body,
                    ContentType=content_type,
                    # The server refuses the PUT (BadDigest) if the bytes it got differ.
                    ContentMD5=base64.b64encode(bytes.fromhex(md5)).decode("ascii"),
                    Metadata=meta,
                )
            return
        from boto3.s3.transfer import TransferConfig

        # Big files: multipart (each part checked by its own MD5); callers run files in parallel.
        client.upload_file(
            str(path),
            bucket.bucket,
            key,
            ExtraArgs={"ContentType": content_type, "Metadata": meta},
            Config=TransferConfig(
                multipart_threshold=bucket.multipart_threshold_mib * MiB, use_threads=False
            ),
        )
    except _boto3_errors() as exc:
        raise boto3_error(bucket, exc) from exc


def _add(listing: Listing, entry: dict, version: str | None) -> None:
    size = int(entry.get("Size") or 0)
    etag = normalize_etag(entry.get("ETag"))
    if not etag and size == 0:
        etag = EMPTY_MD5  # some S3 servers send an empty ETag for an empty object
    listing.objects.append(
        ListedObject(
            entry["Key"],
            size,
            etag,
            version if version and version != "null" else None,
            iso_utc(entry["LastModified"]),
        )
    )


def _versions(client, name: str, exclude_prefix: str, page_size: int) -> Listing:
    listing = Listing([], method="ListObjectVersions")
    pages = client.get_paginator("list_object_versions").paginate(
        Bucket=name, PaginationConfig={"PageSize": page_size}
    )
    for page in pages:
        listing.pages += 1
        for entry in page.get("Versions") or ():
            # Older versions and delete markers ("hidden" files in B2) are not in the bucket now.
            if entry.get("IsLatest") and not (
                exclude_prefix and entry["Key"].startswith(exclude_prefix)
            ):
                _add(listing, entry, entry.get("VersionId"))
    return listing


def _current_objects(client, name: str, exclude_prefix: str, page_size: int) -> Listing:
    listing = Listing([], method="ListObjectsV2")
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=name, PaginationConfig={"PageSize": page_size}
    )
    for page in pages:
        listing.pages += 1
        for entry in page.get("Contents") or ():
            if not (exclude_prefix and entry["Key"].startswith(exclude_prefix)):
                _add(listing, entry, None)
    return listing


def list_versions(bucket: S3Bucket, *, exclude_prefix: str, page_size: int) -> Listing:
    client = bucket.boto3_client()
    try:
        try:
            listing = _versions(client, bucket.bucket, exclude_prefix, page_size)
        except _boto3_errors() as exc:
            if boto3_error(bucket, exc).kind != "unsupported":
                raise
            listing = _current_objects(client, bucket.bucket, exclude_prefix, page_size)
    except _boto3_errors() as exc:
        raise boto3_error(bucket, exc) from exc
    listing.objects.sort(key=lambda o: o.key)
    return listing
