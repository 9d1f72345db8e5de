"""What bucket verbs answer with: object heads, listings, setup options and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


def iso_utc(moment: datetime | float) -> str:
    """ISO 8601 in UTC to the second, as listings and snapshots write it: 2025-01-31T12:00:00Z."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_etag(etag: str | None) -> str | None:
    return etag.strip().strip('"') if etag else None


@dataclass(frozen=True)
class ObjectHead:
    size: int
    etag: str | None  # without quotes; the MD5 of a single-part object
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # user metadata, lower-case names
    version: str | None = None


@dataclass(frozen=True)
class ListedObject:
    key: str
    size: int
    etag: str | None
    version: str | None  # None where the store keeps no versions
    last_modified: str  # ISO 8601, UTC, seconds: 2025-01-31T12:00:00Z


@dataclass
class Listing:
    objects: list[ListedObject]
    pages: int = 0
    method: str = ""  # "ListObjectVersions", "ListObjectsV2" or "folder walk"
    skipped: list[str] = field(default_factory=list)  # "key: reason", left out


@dataclass(frozen=True)
class SetupOptions:
    region: str | None = None  # None: the bucket's own configured region
    check_only: bool = False
    enable_versioning: bool = False
    glacier_after_days: int = 90
    lifecycle_prefix: str = "cache/"  # objects under it move to Glacier
    write_test: bool = True


@dataclass
class SetupReport:
    bucket: str
    existed: bool = False
    created: bool = False
    region: str | None = None
    lifecycle: str = ""
    versioning: str = ""
    write_test: str = "skipped"
    changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what check_only found missing or different
    unsupported: list[str] = field(default_factory=list)  # what the store lacks, one sentence each
