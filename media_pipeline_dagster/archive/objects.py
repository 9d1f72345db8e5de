"""What the archive knows about a stored object, and file digests."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredObject:
    size: int
    md5: str | None  # hex; from our x-amz-meta-md5, else a plain (non-multipart) ETag, else unknown


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


def md5_base64(md5_hex: str) -> str:
    """Content-MD5 header value: S3 rejects the PUT (BadDigest) if the bytes it got differ."""
    return base64.b64encode(bytes.fromhex(md5_hex)).decode("ascii")
