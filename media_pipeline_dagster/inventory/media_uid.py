"""The old ingest script's stable identifier of a bucket object, byte for byte.

The old Node ingest script computed ``b2_${sha256(file_id + ':' + key).substring(0, 40)}``
(hex digest of the UTF-8 string), so rows it wrote are recognised by the same value here.
"""

from __future__ import annotations

import hashlib

PREFIX = "b2_"
HEX_CHARS = 40


def media_uid(file_id: str, key: str) -> str:
    if not file_id:
        raise ValueError(
            f"object {key!r} has no file id (VersionId or ETag); its media_uid would not be stable"
        )
    return PREFIX + hashlib.sha256(f"{file_id}:{key}".encode()).hexdigest()[:HEX_CHARS]
