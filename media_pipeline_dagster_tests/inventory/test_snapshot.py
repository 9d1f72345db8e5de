"""Daily snapshots in the bucket: normalized JSON, one per UTC day, compared with the previous one."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from media_pipeline_dagster.inventory import snapshot as snapshots
from media_pipeline_dagster.inventory.collect import take_inventory

from .conftest import put_objects

DAY1 = datetime(2025, 3, 1, 6, 17, 5, tzinfo=UTC)
DAY2 = datetime(2025, 3, 2, 6, 17, 9, tzinfo=UTC)


def test_snapshots_are_daily_normalized_and_compared(any_store):
    put_objects(any_store, {"b.wav": b"bb", "a.wav": b"a", "c/d.mp3": b"ddd"})
    first = take_inventory(any_store, now=DAY1)
    assert first.snapshot.key == "inventory/2025-03-01.json"
    assert (first.snapshot.count, first.snapshot.total_bytes) == (3, 6)
    assert first.previous is None and first.diff.added == ["a.wav", "b.wav", "c/d.mp3"]

    doc = json.loads(any_store.read_bytes(first.snapshot.key))
    assert (
        doc["taken_at"] == "2025-03-01T06:17:05Z"
        and doc["count"] == 3
        and doc["excluded_prefix"] == "inventory/"
    )
    assert [o["key"] for o in doc["objects"]] == ["a.wav", "b.wav", "c/d.mp3"]
    assert set(doc["objects"][0]) == {"key", "size", "etag", "file_id", "last_modified"}

    any_store.delete("b.wav")
    put_objects(any_store, {"e.wav": b"new", "a.wav": b"replaced"})
    second = take_inventory(any_store, now=DAY2)
    assert second.previous.key == "inventory/2025-03-01.json"
    assert (second.diff.added, second.diff.removed, second.diff.replaced) == (
        ["e.wav"],
        ["b.wav"],
        ["a.wav"],
    )
    # Its own snapshots are never part of the inventory.
    assert all(not o.key.startswith("inventory/") for o in second.snapshot.objects)
    assert snapshots.snapshot_keys(any_store, "inventory/") == [
        "inventory/2025-03-01.json",
        "inventory/2025-03-02.json",
    ]
    assert snapshots.read(any_store, second.snapshot.key) == second.snapshot


def test_a_second_run_the_same_day_replaces_that_days_snapshot(local_store):
    put_objects(local_store, {"a.wav": b"a"})
    take_inventory(local_store, now=DAY1)
    put_objects(local_store, {"b.wav": b"b"})
    again = take_inventory(local_store, now=DAY1.replace(hour=9))
    assert again.previous.count == 1 and again.diff.added == ["b.wav"]
    assert snapshots.snapshot_keys(local_store, "inventory") == ["inventory/2025-03-01.json"]
    assert snapshots.read(local_store, "inventory/2025-03-01.json").count == 2


def test_a_damaged_snapshot_is_named(local_store):
    put_objects(local_store, {"inventory/2025-01-01.json": b"{not json"})
    with pytest.raises(
        snapshots.SnapshotError, match="inventory/2025-01-01.json is not a format-1 snapshot"
    ):
        take_inventory(local_store, now=DAY1)


def test_the_snapshot_prefix_cannot_be_empty(local_store):
    with pytest.raises(snapshots.SnapshotError, match="must not be empty"):
        take_inventory(local_store, prefix="/", now=DAY1)
