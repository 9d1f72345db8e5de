"""The inventory snapshot: one normalized JSON file per UTC day, kept in the bucket itself.

``inventory/2025-01-31.json`` holds the bucket's objects sorted by key, one per line, so
two days compare with ``diff``. The inventory never lists its own prefix: snapshots are
the pipeline's output, not media, and counting them would make every day look changed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

from ..resources.bucket import Bucket
from .listing import InventoryObject

FORMAT = 1
_DAY_FILE = re.compile(r"(\d{4}-\d{2}-\d{2})\.json$")


class SnapshotError(RuntimeError):
    pass


def normalize_prefix(prefix: str) -> str:
    cleaned = prefix.strip().strip("/")
    if not cleaned:
        raise SnapshotError(
            "the snapshot prefix must not be empty: it keeps snapshots apart from the media"
        )
    return cleaned + "/"


def snapshot_key(prefix: str, day: date) -> str:
    return f"{normalize_prefix(prefix)}{day:%Y-%m-%d}.json"


@dataclass(frozen=True)
class Snapshot:
    key: str
    taken_at: str
    source: str
    excluded_prefix: str
    objects: list[InventoryObject]

    @property
    def count(self) -> int:
        return len(self.objects)

    @property
    def total_bytes(self) -> int:
        return sum(o.size for o in self.objects)


@dataclass(frozen=True)
class Diff:
    added: list[str]
    removed: list[str]
    replaced: list[str]  # same key, another file id (a new version)


def diff(previous: Snapshot | None, current: Snapshot) -> Diff:
    before = {o.key: o.file_id for o in previous.objects} if previous else {}
    now = {o.key: o.file_id for o in current.objects}
    return Diff(
        added=sorted(k for k in now if k not in before),
        removed=sorted(k for k in before if k not in now),
        replaced=sorted(k for k in now if k in before and before[k] != now[k]),
    )


def encode(snapshot: Snapshot) -> bytes:
    header = {
        "format": FORMAT,
        "source": snapshot.source,
        "taken_at": snapshot.taken_at,
        "excluded_prefix": snapshot.excluded_prefix,
        "count": snapshot.count,
        "total_bytes": snapshot.total_bytes,
    }
    lines = [
        json.dumps(o.as_dict(), ensure_ascii=False, sort_keys=True)
        for o in sorted(snapshot.objects, key=lambda o: o.key)
    ]
    head = json.dumps(header, ensure_ascii=False, sort_keys=True)[:-1]
    body = ",\n".join(lines)
    return f'{head}, "objects": [\n{body}\n]}}\n'.encode()


def decode(data: bytes, key: str) -> Snapshot:
    try:
        doc = json.loads(data)
        objects = [InventoryObject(**o) for o in doc["objects"]]
        return Snapshot(key, doc["taken_at"], doc["source"], doc["excluded_prefix"], objects)
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(
            f"inventory snapshot {key} is not a format-{FORMAT} snapshot ({exc}); delete it or re-run b2_inventory"
        ) from exc


def write(store: Bucket, snapshot: Snapshot) -> int:
    data = encode(snapshot)
    # S3 services would guess the type otherwise.
    store.put_bytes(snapshot.key, data, content_type="application/json")
    return len(data)


def snapshot_keys(store: Bucket, prefix: str) -> list[str]:
    """Keys of the stored snapshots, oldest first."""
    return [k for k in store.list_keys(normalize_prefix(prefix)) if _DAY_FILE.search(k)]


def latest_key(store: Bucket, prefix: str) -> str | None:
    keys = snapshot_keys(store, prefix)
    return keys[-1] if keys else None


def read(store: Bucket, key: str) -> Snapshot:
    return decode(store.read_bytes(key), key)
