"""Opt-in enrichment: one HEAD per object for its Content-Type and user metadata (x-amz-meta-*).

The cost is bounded by the caller: only rows D1 does not have metadata for, at most
``max_objects`` per run (the rest wait for the next run), ``concurrency`` HEADs at a time.
The HEAD asks for the exact version the inventory saw (B2's file id), so the metadata
belongs to the row's ``media_uid``; where a store has no versions the ETag must match.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..resources.bucket import Bucket, BucketError
from .statements import AssetRow, ObjectMetadata


class EnrichmentAccessError(RuntimeError):
    """The store refused the HEADs (credentials or permissions): no object's metadata can be read."""


@dataclass
class HeadOutcome:
    found: dict[str, ObjectMetadata] = field(default_factory=dict)  # media_uid -> metadata
    gone: list[str] = field(default_factory=list)  # keys deleted or replaced since the inventory
    failed: list[str] = field(default_factory=list)  # "key: reason"; tried again next run
    requests: int = 0
    fetched_at: str = ""


def supports_object_metadata(store: Bucket) -> bool:
    """A local folder keeps no Content-Type or user metadata: there is nothing to read."""
    return store.keeps_metadata


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def head_objects(store: Bucket, rows: Sequence[AssetRow], *, concurrency: int) -> HeadOutcome:
    """HEAD each row's object version; stop at the first refusal (401/403), which no retry changes."""
    outcome = HeadOutcome(fetched_at=_now())
    refused: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def one(row: AssetRow) -> None:
        if stop.is_set():
            return
        # The file id is the ETag where the store has no versions.
        versioned = row.b2_file_id != row.etag
        try:
            head = store.head(row.b2_key, version=row.b2_file_id if versioned else None)
        except BucketError as exc:
            with lock:
                outcome.requests += 1
                if exc.refused:
                    refused.append(f"{row.b2_key}: {exc.detail}")
                    stop.set()
                else:
                    outcome.failed.append(f"{row.b2_key}: {exc.detail}")
            return
        with lock:
            outcome.requests += 1
            if head is None:
                outcome.gone.append(row.b2_key)
                return
            if not versioned and head.etag != row.etag:
                # replaced since the inventory: its metadata is another object's
                outcome.gone.append(row.b2_key)
                return
            outcome.found[row.media_uid] = ObjectMetadata(head.content_type, dict(head.metadata))

    with ThreadPoolExecutor(
        max_workers=max(1, concurrency), thread_name_prefix="inventory-head"
    ) as pool:
        list(pool.map(one, rows))
    if refused:
        raise EnrichmentAccessError(
            f"{store.describe()} refused a HEAD ({refused[0]}): the key may list the bucket but not read its "
            "objects. Give it readFiles (s3:GetObject), or turn enrich_metadata off (D1_ENRICH_METADATA)."
        )
    return outcome
