"""One bucket interface (``Bucket``) and its two backends: ``S3Bucket`` and ``FolderBucket``."""

from .base import LIST_MIN_KEYS, Bucket, parent_folder
from .errors import (
    BucketCredentialsError,
    BucketError,
    BucketSetupError,
    ObjectMissing,
    StorageUnavailable,
)
from .folder import FolderBucket
from .s3 import S3Bucket
from .types import (
    ListedObject,
    Listing,
    ObjectHead,
    SetupOptions,
    SetupReport,
    iso_utc,
    normalize_etag,
)

__all__ = [
    "LIST_MIN_KEYS",
    "Bucket",
    "BucketCredentialsError",
    "BucketError",
    "BucketSetupError",
    "FolderBucket",
    "ListedObject",
    "Listing",
    "ObjectHead",
    "ObjectMissing",
    "S3Bucket",
    "SetupOptions",
    "SetupReport",
    "StorageUnavailable",
    "iso_utc",
    "normalize_etag",
    "parent_folder",
]
