"""Take the day's inventory: list the bucket, compare with the previous snapshot, store the new one."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ..resources.bucket import Bucket, iso_utc
from . import snapshot as snapshots
from .listing import InventoryObject, Listing, list_bucket
from .snapshot import Diff, Snapshot

DEFAULT_SNAPSHOT_PREFIX = "inventory/"


@dataclass(frozen=True)
class InventoryResult:
    snapshot: Snapshot
    previous: Snapshot | None
    diff: Diff
    listing: Listing
    snapshot_bytes: int
    seconds: float


def _previous(store: Bucket, prefix: str) -> Snapshot | None:
    key = snapshots.latest_key(store, prefix)
    return snapshots.read(store, key) if key else None


def take_inventory(
    store: Bucket,
    *,
    prefix: str = DEFAULT_SNAPSHOT_PREFIX,
    page_size: int = 1000,
    now: datetime | None = None,
) -> InventoryResult:
    """List every object outside ``prefix`` and write ``<prefix><UTC day>.json`` (replacing that day's)."""
    started = time.perf_counter()
    prefix = snapshots.normalize_prefix(prefix)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    # The listing goes first: bad credentials or endpoint fail there, with a clear message.
    # A folder asks for the previous snapshot meanwhile, to skip hashing unchanged files.
    read: dict[str, Snapshot | None] = {}

    def previous_objects() -> dict[str, InventoryObject]:
        read["previous"] = _previous(store, prefix)
        return {o.key: o for o in read["previous"].objects} if read["previous"] else {}

    listing = list_bucket(
        store, exclude_prefix=prefix, page_size=page_size, previous=previous_objects
    )
    previous = read["previous"] if "previous" in read else _previous(store, prefix)
    current = Snapshot(
        key=snapshots.snapshot_key(prefix, now.date()),
        taken_at=iso_utc(now),
        source=store.describe(),
        excluded_prefix=prefix,
        objects=listing.objects,
    )
    written = snapshots.write(store, current)
    changes = snapshots.diff(previous, current)
    return InventoryResult(
        current, previous, changes, listing, written, time.perf_counter() - started
    )
