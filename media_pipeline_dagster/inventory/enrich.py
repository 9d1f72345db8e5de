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

from ..resources.object_store import ObjectStoreResource, S3ObjectStoreResource
from .listing import AUTH_CODES, normalize_etag
from .statements import AssetRow, ObjectMetadata

GONE_CODES = {"404", "NoSuchKey", "NoSuchVersion", "NotFound"}


class EnrichmentAccessError(RuntimeError):
    """The store refused the HEADs (credentials or permissions): no object's metadata can be read."""


@dataclass
class HeadOutcome:
    found: dict[str, ObjectMetadata] = field(default_factory=dict)  # media_uid -> metadata
    gone: list[str] = field(default_factory=list)  # keys deleted or replaced since the inventory
    failed: list[str] = field(default_factory=list)  # "key: reason"; tried again next run
    requests: int = 0
    fetched_at: str = ""


def supports_object_metadata(store: ObjectStoreResource) -> bool:
    """A local folder keeps no Content-Type or user metadata: there is nothing to read."""
    return isinstance(store, S3ObjectStoreResource)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _code(exc) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _answer(exc) -> str:
    # A HEAD answer has no body: botocore's "code" is then the status again, its message the reason phrase.
    code = _code(exc)
    return f"HTTP {_status(exc)} {code if code != str(_status(exc)) else exc.response.get('Error', {}).get('Message', '')}"


def head_objects(
    store: S3ObjectStoreResource, rows: Sequence[AssetRow], *, concurrency: int
) -> HeadOutcome:
    """HEAD each row's object version; stop at the first refusal (401/403), which no retry changes."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = store.boto3_client(max_pool_connections=max(1, concurrency))
    outcome = HeadOutcome(fetched_at=_now())
    refused: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def one(row: AssetRow) -> None:
        if stop.is_set():
            return
        versioned = (
            row.b2_file_id != row.etag
        )  # the file id is the ETag where the store has no versions
        kwargs = {"VersionId": row.b2_file_id} if versioned else {}
        try:
            head = client.head_object(Bucket=store.bucket, Key=row.b2_key, **kwargs)
        except ClientError as exc:
            with lock:
                outcome.requests += 1
                if _code(exc) in AUTH_CODES or _status(exc) in (401, 403):
                    refused.append(f"{row.b2_key}: {_answer(exc)}")
                    stop.set()
                elif _code(exc) in GONE_CODES or _status(exc) == 404:
                    outcome.gone.append(row.b2_key)
                else:
                    outcome.failed.append(f"{row.b2_key}: {_answer(exc)}")
            return
        except BotoCoreError as exc:
            with lock:
                outcome.requests += 1
                outcome.failed.append(f"{row.b2_key}: {exc}")
            return
        with lock:
            outcome.requests += 1
            if not versioned and normalize_etag(head.get("ETag")) != row.etag:
                outcome.gone.append(
                    row.b2_key
                )  # replaced since the inventory: its metadata is another object's
                return
            # Header names are case-insensitive; S3 keeps them lower-case, some servers echo them capitalised.
            meta = {str(k).lower(): str(v) for k, v in (head.get("Metadata") or {}).items()}
            outcome.found[row.media_uid] = ObjectMetadata(head.get("ContentType") or None, meta)

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
