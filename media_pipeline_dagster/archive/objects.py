"""What the archive knows about a stored object, and file digests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..resources.bucket import ObjectHead

CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredObject:
    size: int
    md5: str | None  # hex; from our x-amz-meta-md5, else a plain (non-multipart) ETag, else unknown


def stored_object(head: ObjectHead | None) -> StoredObject | None:
    """What the archive reads from a HEAD: our md5 metadata, else a plain (single-part) ETag."""
    if head is None:
        return None
    etag = (head.etag or "").lower()
    md5 = head.metadata.get("md5") or (etag if len(etag) == 32 and "-" not in etag else None)
    return StoredObject(size=head.size, md5=md5)


def verified(stored: StoredObject | None, size: int, md5: str) -> bool:
    """The object holds exactly this file: same size and the same MD5."""
    return stored is not None and stored.size == size and stored.md5 == md5


def file_md5(path: Path) -> tuple[str, int]:
    """(md5 hex, size) of a file, read in 1 MiB pieces."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with open(path, "rb") as handle:
        while piece := handle.read(CHUNK):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size
