"""Listing the bucket: S3 (SeaweedFS) and a local folder, odd keys, versions, pages, access errors."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

import pytest

from media_pipeline_dagster.inventory.listing import InventoryAccessError, list_bucket
from media_pipeline_dagster.resources.bucket import S3Bucket

from .conftest import put_objects

# 1,000 bytes in UTF-8; SeaweedFS stores a key's path segments as file names (<= 255 bytes each).
LONG_KEY = "/".join(["é" * 100] * 4) + "/" + "x" * 196
ODD = {
    'quote\'s "double".wav': b"quotes",
    "semi;colon; DROP TABLE media_assets;--.mp3": b"semicolons",
    "Música/日本語/ファイル 🎵.wav": b"unicode",
    LONG_KEY: b"long",
    "empty/zero-byte.bin": b"",
}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_long_key_is_1000_bytes():
    assert len(LONG_KEY.encode()) == 1000


def test_every_odd_key_is_listed_exactly(any_store):
    put_objects(any_store, {**ODD, "inventory/2020-01-01.json": b"{}"})
    listing = list_bucket(any_store, exclude_prefix="inventory/")
    assert [o.key for o in listing.objects] == sorted(ODD)
    by_key = {o.key: o for o in listing.objects}
    for key, data in ODD.items():
        obj = by_key[key]
        assert (obj.size, obj.etag) == (len(data), md5(data))
        assert obj.file_id == obj.etag  # no versions here: the ETag, as the seed did
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", obj.last_modified)
    assert by_key["empty/zero-byte.bin"].size == 0


def test_a_versioned_bucket_gives_version_ids_and_hides_deleted_objects(object_store, s3_server):
    client = s3_server.client()
    client.put_bucket_versioning(
        Bucket=object_store.bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    for body in (b"v1", b"v2"):
        client.put_object(
            Bucket=object_store.bucket, Key="a.wav", Body=body, ContentType="audio/wav"
        )
    client.put_object(
        Bucket=object_store.bucket, Key="gone.wav", Body=b"x", ContentType="audio/wav"
    )
    client.delete_object(Bucket=object_store.bucket, Key="gone.wav")
    latest = client.head_object(Bucket=object_store.bucket, Key="a.wav")["VersionId"]

    listing = list_bucket(object_store, exclude_prefix="inventory/")
    assert [(o.key, o.file_id, o.size) for o in listing.objects] == [("a.wav", latest, 2)]
    assert listing.method == "ListObjectVersions"


def test_all_pages_are_read(object_store):
    put_objects(object_store, {f"p/{i:02d}.bin": b"x" for i in range(7)})
    listing = list_bucket(object_store, exclude_prefix="inventory/", page_size=2)
    assert len(listing.objects) == 7 and listing.pages == 4


def test_wrong_credentials_fail_fast_with_a_clear_message(s3_server, bucket):
    store = S3Bucket(
        endpoint_url=s3_server.endpoint_url,
        region=s3_server.region,
        access_key_id=s3_server.access_key_id,
        secret_access_key="not-the-secret-0123",
        bucket=bucket,
        max_retries=1,
    )
    with pytest.raises(InventoryAccessError) as err:
        list_bucket(store, exclude_prefix="inventory/")
    assert "rejected the credentials" in str(err.value) and "BACKBLAZE_B2_APPLICATION_KEY" in str(
        err.value
    )
    assert "not-the-secret-0123" not in str(err.value)


def test_a_missing_bucket_is_named(s3_server):
    store = S3Bucket(
        endpoint_url=s3_server.endpoint_url,
        region=s3_server.region,
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
        bucket="no-such-bucket-here",
    )
    with pytest.raises(InventoryAccessError, match="'no-such-bucket-here' .* does not exist"):
        list_bucket(store, exclude_prefix="inventory/")


def test_an_unreachable_endpoint_is_named():
    store = S3Bucket(
        endpoint_url="http://127.0.0.1:9",
        region="us-east-1",
        access_key_id="k",
        secret_access_key="s",
        bucket="b",
        max_retries=1,
        connect_timeout_seconds=1,
    )
    with pytest.raises(InventoryAccessError, match="cannot reach http://127.0.0.1:9"):
        list_bucket(store, exclude_prefix="inventory/")


def test_a_folder_keeps_the_previous_snapshots_hash_of_an_unchanged_file(local_store):
    local_store.put_bytes("a/one.wav", b"one")
    first = list_bucket(local_store, exclude_prefix="inventory/")
    remembered = replace(first.objects[0], etag="f" * 32, file_id="f" * 32)
    again = list_bucket(
        local_store, exclude_prefix="inventory/", previous=lambda: {"a/one.wav": remembered}
    )
    assert again.objects == [remembered]  # size and mtime match: not hashed again


def test_s3_never_reads_the_previous_snapshot_for_its_listing(object_store):
    object_store.put_bytes("a.wav", b"a")

    def previous():
        raise AssertionError("S3 gives ETags itself; the snapshot is not needed")

    listing = list_bucket(object_store, exclude_prefix="inventory/", previous=previous)
    assert [o.key for o in listing.objects] == ["a.wav"]
