"""Opt-in object metadata in D1 (SeaweedFS HEADs, D1 through the cloudflare SDK) and the stale check."""

from __future__ import annotations

import json
import threading

import dagster as dg
import pytest

from media_pipeline_dagster.inventory.assets import b2_inventory, d1_media_assets
from media_pipeline_dagster.inventory.checks import STALE_MEDIA_ASSETS, no_stale_media_assets
from media_pipeline_dagster.resources.bucket import S3Bucket
from media_pipeline_dagster.resources.inventory_options import InventoryOptionsResource

from ..archive.helpers import denying_proxy
from ..servers.slowdown_proxy import slowdown_proxy
from .conftest import put_objects, sqlite_of
from .test_sync import SEED_TABLE

AUDIO = {
    "dexter/audio/4930123/20250101T120000Z_a.wav": (
        "audio/wav",
        {"campaign": "dexter-sued", "recording-id": "r1"},
    ),
    "dexter/audio/4930123/20250101T120500Z_b.mp3": ("audio/mpeg", {}),
    "dexter/transcriptions/json/4930123/20250101T120000Z_a.json": (
        "application/json",
        {"model": "whisper-1"},
    ),
}


def put_with_metadata(s3_server, bucket: str, objects=AUDIO) -> None:
    client = s3_server.client()
    for key, (content_type, metadata) in objects.items():
        client.put_object(
            Bucket=bucket, Key=key, Body=key.encode(), ContentType=content_type, Metadata=metadata
        )


def via(proxy_url: str, store: S3Bucket) -> S3Bucket:
    fields = {name: getattr(store, name) for name in type(store).model_fields}
    return S3Bucket(**{**fields, "endpoint_url": proxy_url})


def materialize(
    store,
    d1,
    *,
    config: dict | None = None,
    options: InventoryOptionsResource | None = None,
    assets=(b2_inventory, d1_media_assets),
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        list(assets),
        raise_on_error=False,
        resources={
            "object_store": store,
            "d1": d1,
            "inventory_options": options or InventoryOptionsResource(),
        },
        run_config={"ops": {"d1_media_assets": {"config": config}}} if config else None,
    )


def d1_meta(result) -> dict:
    (event,) = result.asset_materializations_for_node("d1_media_assets")
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()}


class HeadCounter:
    def __init__(self) -> None:
        self.heads: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str, headers) -> bool:
        if method == "HEAD":
            with self._lock:
                self.heads.append(path)
        return False  # count, never reject


def enrichment_of(conn) -> dict:
    columns = {r[1] for r in conn.execute("PRAGMA table_info(media_assets)")}
    if "content_type" not in columns:
        return {}
    rows = conn.execute(
        "SELECT b2_key, content_type, user_metadata, metadata_fetched_at FROM media_assets"
    ).fetchall()
    return {key: (ct, json.loads(um) if um else None, bool(at)) for key, ct, um, at in rows}


def test_enrichment_is_off_by_default_no_head_no_column(
    s3_server, bucket, object_store, rest_d1, d1_server
):
    put_with_metadata(s3_server, bucket)
    counter = HeadCounter()
    with slowdown_proxy(s3_server.endpoint_url, should_reject=counter) as proxy:
        result = materialize(via(proxy.endpoint_url, object_store), rest_d1)
    assert result.success and d1_meta(result)["new"] == 3
    assert counter.heads == [] and "enriched" not in d1_meta(result)
    with sqlite_of(rest_d1, d1_server) as conn:
        assert enrichment_of(conn) == {}


def test_enrichment_adds_content_type_and_user_metadata_once(
    s3_server, bucket, object_store, rest_d1, d1_server
):
    put_with_metadata(s3_server, bucket)
    counter = HeadCounter()
    options = InventoryOptionsResource(enrich_metadata=True, enrich_concurrency=2)
    with slowdown_proxy(s3_server.endpoint_url, should_reject=counter) as proxy:
        store = via(proxy.endpoint_url, object_store)
        first = materialize(store, rest_d1, options=options)
        assert first.success, first.get_step_failure_events()
        meta = d1_meta(first)
        assert (meta["new"], meta["enriched"], meta["enrich_heads"], meta["enrich_remaining"]) == (
            3,
            3,
            3,
            0,
        )
        assert "0012_media_assets_object_metadata.sql" in meta["schema_applied"]
        assert len(counter.heads) == 3

        again = materialize(store, rest_d1, options=options)  # every row has its metadata: no HEAD
        assert len(counter.heads) == 3 and d1_meta(again)["rows_written"] == 0

        put_with_metadata(
            s3_server,
            bucket,
            {"dexter/audio/4930123/20250102T090000Z_c.ogg": ("audio/ogg", {"x": "1"})},
        )
        third = materialize(store, rest_d1, options=options)
        assert len(counter.heads) == 4 and d1_meta(third)["enriched"] == 1
    with sqlite_of(rest_d1, d1_server) as conn:
        found = enrichment_of(conn)
    assert found["dexter/audio/4930123/20250101T120000Z_a.wav"] == (
        "audio/wav",
        {"campaign": "dexter-sued", "recording-id": "r1"},
        True,
    )
    assert found["dexter/audio/4930123/20250101T120500Z_b.mp3"] == ("audio/mpeg", {}, True)
    assert found["dexter/audio/4930123/20250102T090000Z_c.ogg"] == ("audio/ogg", {"x": "1"}, True)


def test_enrichment_of_existing_rows_is_bounded_per_run_and_never_overwrites(
    s3_server, bucket, object_store, local_d1
):
    put_with_metadata(s3_server, bucket)
    assert materialize(object_store, local_d1).success  # the mirror exists without metadata
    capped = InventoryOptionsResource(enrich_metadata=True, enrich_max_objects=2)

    first = materialize(object_store, local_d1, options=capped)
    meta = d1_meta(first)
    assert (
        meta["enrich_wanted"],
        meta["enrich_heads"],
        meta["enriched"],
        meta["enrich_remaining"],
    ) == (3, 2, 2, 1)
    second = materialize(object_store, local_d1, options=capped)
    assert (d1_meta(second)["enrich_wanted"], d1_meta(second)["enriched"]) == (1, 1)
    third = materialize(object_store, local_d1, options=capped)
    assert "enrich_wanted" not in d1_meta(third)  # nothing left: no HEAD at all
    with sqlite_of(local_d1) as conn:
        assert all(fetched for _, _, fetched in enrichment_of(conn).values())
        conn.execute(
            "UPDATE media_assets SET content_type = 'kept/by-hand' WHERE b2_key LIKE '%.json'"
        )
    put_with_metadata(s3_server, bucket, {"new.wav": ("audio/wav", {})})
    fourth = materialize(object_store, local_d1, options=capped)
    assert (d1_meta(fourth)["enrich_wanted"], d1_meta(fourth)["enriched"]) == (1, 1)
    with sqlite_of(local_d1) as conn:  # a row that has its metadata is never written again
        assert (
            enrichment_of(conn)["dexter/transcriptions/json/4930123/20250101T120000Z_a.json"][0]
            == "kept/by-hand"
        )


def test_the_metadata_is_the_inventoried_versions(
    s3_server, bucket, object_store, rest_d1, d1_server
):
    client = s3_server.client()
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    key = "dexter/audio/1/20250101T120000Z_a.wav"
    client.put_object(
        Bucket=bucket, Key=key, Body=b"first", ContentType="audio/wav", Metadata={"take": "1"}
    )
    assert materialize(object_store, rest_d1, assets=[b2_inventory]).success
    # Replaced after the inventory: the row (file id = the first version) must get the first version's metadata.
    client.put_object(
        Bucket=bucket, Key=key, Body=b"second", ContentType="audio/x-wav", Metadata={"take": "2"}
    )
    result = materialize(
        object_store,
        rest_d1,
        options=InventoryOptionsResource(enrich_metadata=True),
        assets=[d1_media_assets],
    )
    assert result.success and d1_meta(result)["enriched"] == 1
    with sqlite_of(rest_d1, d1_server) as conn:
        assert enrichment_of(conn)[key] == ("audio/wav", {"take": "1"}, True)


def test_a_key_that_may_not_read_objects_writes_the_mirror_then_fails_with_a_sentence(
    s3_server, bucket, object_store, rest_d1, d1_server
):
    put_with_metadata(s3_server, bucket)
    with denying_proxy(
        s3_server.endpoint_url, lambda method, path, headers: method == "HEAD"
    ) as proxy:
        result = materialize(
            via(proxy.endpoint_url, object_store),
            rest_d1,
            options=InventoryOptionsResource(enrich_metadata=True),
        )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "holds the snapshot's rows (3 written)" in message and "refused a HEAD" in message
    assert (
        "HTTP 403 Forbidden" in message
        and "readFiles" in message
        and "D1_ENRICH_METADATA" in message
    )
    with sqlite_of(rest_d1, d1_server) as conn:
        assert conn.execute(
            "SELECT count(*), count(metadata_fetched_at) FROM media_assets"
        ).fetchone() == (3, 0)


def test_a_local_folder_has_no_metadata_to_read(local_store, local_d1, caplog):
    put_objects(local_store, {"a.wav": b"a"})
    result = materialize(
        local_store, local_d1, options=InventoryOptionsResource(enrich_metadata=True)
    )
    assert result.success and "enriched" not in d1_meta(result)
    with sqlite_of(local_d1) as conn:
        assert enrichment_of(conn) == {}


# The stale check: objects the inventory has not seen for N days are reported, never deleted.


def check(d1, days: int = 30) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        [d1_media_assets, no_stale_media_assets],
        selection=dg.AssetSelection.checks(no_stale_media_assets),
        resources={
            "d1": d1,
            "object_store": None,
            "inventory_options": InventoryOptionsResource(stale_after_days=days),
        },
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == STALE_MEDIA_ASSETS
    return evaluation


def seed(conn, rows: list[tuple[str, str | None]]) -> None:
    conn.execute(SEED_TABLE)
    conn.execute("ALTER TABLE media_assets ADD COLUMN last_seen_at TEXT")
    for i, (key, seen) in enumerate(rows):
        conn.execute(
            "INSERT INTO media_assets (media_uid, b2_key, size, last_seen_at) VALUES (?, ?, 1, ?)",
            (f"b2_{i:040d}", key, seen),
        )


def test_stale_rows_are_reported_against_the_latest_inventory_and_kept(any_d1, d1_sqlite):
    seed(
        d1_sqlite,
        [
            ("fresh.wav", "2025-03-31 06:17:00"),
            ("week-old.wav", "2025-03-24 06:17:00"),
            ("gone-40-days.wav", "2025-02-19 06:17:00"),
            ("gone-before-tracking.wav", None),
        ],
    )
    evaluation = check(any_d1, days=30)
    meta = {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert (meta["stale"], meta["never_seen_since_tracking"], meta["rows"]) == (1, 1, 4)
    assert meta["latest_seen"] == "2025-03-31 06:17:00" and meta["cutoff"] == "2025-03-01 06:17:00"
    assert (
        "gone-40-days.wav" in meta["stale_preview"]
        and "gone-before-tracking.wav" in meta["stale_preview"]
    )
    assert (
        "fresh.wav" not in meta["stale_preview"] and "Nothing was deleted" in evaluation.description
    )
    assert d1_sqlite.execute("SELECT count(*) FROM media_assets").fetchone() == (4,)
    assert check(any_d1, days=60).metadata["stale"].value == 0


def test_the_stale_check_passes_when_every_object_was_seen(local_d1):
    with sqlite_of(local_d1) as conn:
        seed(conn, [("a.wav", "2025-03-31 06:17:00"), ("b.wav", "2025-03-30 06:17:00")])
    assert check(local_d1).passed


@pytest.mark.parametrize("tracked", [False, True])
def test_without_last_seen_the_check_says_how_to_start(local_d1, tracked):
    with sqlite_of(local_d1) as conn:
        conn.execute(SEED_TABLE)
        if tracked:  # tracking switched on, but no run has set it yet
            conn.execute("ALTER TABLE media_assets ADD COLUMN last_seen_at TEXT")
    evaluation = check(local_d1)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "D1_TRACK_LAST_SEEN=true" in evaluation.description
