"""Every verb of the bucket interface, on both backends, and what each says about bad input."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from pathlib import Path

import pytest

from media_pipeline_dagster.resources.bucket import (
    Bucket,
    BucketError,
    FolderBucket,
    ObjectMissing,
    S3Bucket,
    SetupOptions,
    StorageUnavailable,
)

from ..calls.helpers import with_changes


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


async def chunks(*parts: bytes):
    for part in parts:
        await asyncio.sleep(0)
        yield part


def test_bytes_round_trip_with_content_type_where_the_bucket_keeps_one(any_bucket: Bucket):
    any_bucket.put_bytes("a/b/one.json", b'{"x": 1}', content_type="application/json")
    assert any_bucket.read_bytes("a/b/one.json") == b'{"x": 1}'
    head = any_bucket.head("a/b/one.json")
    assert (head.size, head.etag) == (8, md5(b'{"x": 1}'))
    # A folder drops the type silently; S3 keeps it.
    expected = "application/json" if any_bucket.keeps_metadata else None
    assert head.content_type == expected
    assert isinstance(any_bucket, S3Bucket) == any_bucket.keeps_metadata


@pytest.mark.parametrize("multipart", [True, False])
def test_streamed_put_and_streamed_get(any_bucket: Bucket, multipart: bool):
    part = os.urandom(5 * 1024 * 1024)
    body = chunks(part, part[:1000], b"tail") if multipart else b"ID3 small"
    asyncio.run(
        any_bucket.put_stream("s/x.mp3", body, content_type="audio/mpeg", multipart=multipart)
    )
    expected = part + part[:1000] + b"tail" if multipart else b"ID3 small"
    assert b"".join(any_bucket.iter_bytes("s/x.mp3", chunk_size=1 << 20)) == expected
    assert asyncio.run(any_bucket.head_size("s/x.mp3")) == len(expected)
    if any_bucket.keeps_metadata:
        assert any_bucket.head("s/x.mp3").content_type == "audio/mpeg"


def test_put_file_is_checked_against_its_md5(any_bucket: Bucket, tmp_path: Path):
    source = tmp_path / "doc.pdf"
    source.write_bytes(b"%PDF-1.4 tiny")
    digest = md5(source.read_bytes())
    any_bucket.put_file(
        "cache/doc.pdf", source, content_type="application/pdf", md5=digest, metadata={"k": "v"}
    )
    head = any_bucket.head("cache/doc.pdf")
    assert head.size == 13 and head.etag == digest
    if any_bucket.keeps_metadata:
        assert head.metadata == {"md5": digest, "k": "v"}
    with pytest.raises((BucketError, OSError), match="BadDigest|InvalidDigest|changed while"):
        any_bucket.put_file(
            "cache/bad.pdf", source, content_type="application/pdf", md5="0" * 32, metadata={}
        )
    assert any_bucket.head("cache/bad.pdf") is None


def test_missing_keys(any_bucket: Bucket):
    assert any_bucket.head("no/such.key") is None
    assert asyncio.run(any_bucket.head_size("no/such.key")) is None
    with pytest.raises(ObjectMissing):
        any_bucket.read_bytes("no/such.key")
    with pytest.raises(ObjectMissing):
        next(any_bucket.iter_bytes("no/such.key"))
    any_bucket.delete("no/such.key")  # already what was asked
    asyncio.run(any_bucket.delete_async("no/such.key"))


def test_delete(any_bucket: Bucket):
    any_bucket.put_bytes("d/1", b"1")
    any_bucket.put_bytes("d/2", b"2")
    any_bucket.delete("d/1")
    asyncio.run(any_bucket.delete_async("d/2"))
    assert any_bucket.head_many(["d/1", "d/2"]) == {"d/1": None, "d/2": None}


def test_list_keys_is_one_folder_level(any_bucket: Bucket):
    for key in ("inv/2025-01-02.json", "inv/2025-01-01.json", "inv/deeper/x.json", "invx/y"):
        any_bucket.put_bytes(key, b"{}")
    assert any_bucket.list_keys("inv/") == ["inv/2025-01-01.json", "inv/2025-01-02.json"]
    assert any_bucket.list_keys("nothing/") == []


def test_list_versions_gives_every_latest_object_sorted(any_bucket: Bucket):
    bodies = {"b/2.wav": b"two", "a/1.wav": b"one", "empty.bin": b"", "skip/me.json": b"{}"}
    for key, data in bodies.items():
        any_bucket.put_bytes(key, data)
    listing = any_bucket.list_versions(exclude_prefix="skip/", page_size=2)
    assert [o.key for o in listing.objects] == ["a/1.wav", "b/2.wav", "empty.bin"]
    for entry in listing.objects:
        assert (entry.size, entry.etag) == (len(bodies[entry.key]), md5(bodies[entry.key]))
        assert entry.version is None  # neither backend keeps versions here
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.last_modified)
    assert listing.pages >= 1 and listing.method in ("ListObjectVersions", "folder walk")


def test_a_folder_listing_skips_partial_uploads_and_reuses_known_etags(tmp_path: Path):
    root = tmp_path / "bucket"
    (root / "a").mkdir(parents=True)
    (root / "a" / "one.wav").write_bytes(b"one")
    (root / "a" / "two.wav#3").write_bytes(b"partial upload")
    folder = FolderBucket(root_dir=str(root))
    hashed = []

    def hasher(path):
        hashed.append(path.name)
        return md5(path.read_bytes())

    first = folder.list_versions(hasher=hasher)
    assert [o.key for o in first.objects] == ["a/one.wav"] and hashed == ["one.wav"]
    known = {o.key: o for o in first.objects}
    assert folder.list_versions(known=lambda: known, hasher=hasher).objects == first.objects
    assert hashed == ["one.wav"]
    os.utime(root / "a" / "one.wav", (1_000_000_000, 1_000_000_000))  # touched: hashed again
    folder.list_versions(known=lambda: known, hasher=hasher)
    assert hashed == ["one.wav", "one.wav"]


def test_uri_and_key_of(any_bucket: Bucket):
    uri = any_bucket.uri("cache/2025/x.jpg")
    assert uri.startswith(any_bucket.describe()) and any_bucket.key_of(uri) == "cache/2025/x.jpg"
    assert any_bucket.key_of("s3://elsewhere/cache/2025/x.jpg") is None
    assert any_bucket.describe().startswith("s3://" if any_bucket.keeps_metadata else "file://")


def test_a_folder_key_cannot_leave_the_folder(tmp_path: Path):
    with pytest.raises(ValueError, match="would leave the bucket folder"):
        FolderBucket(root_dir=str(tmp_path / "b")).head("../../etc/passwd")


def test_preflight_passes_on_a_usable_bucket(any_bucket: Bucket):
    any_bucket.preflight("some/prefix")


def test_setup_creates_and_proves_writes(any_bucket: Bucket):
    report = any_bucket.setup(SetupOptions(enable_versioning=False))
    assert (report.existed or report.created) and report.write_test.startswith("ok")
    check = any_bucket.setup(SetupOptions(check_only=True, write_test=False))
    assert check.write_test == "skipped"
    assert any_bucket.list_versions().objects == []  # the write test leaves nothing behind


def test_a_folder_is_created_by_setup_and_reported_by_check_only(tmp_path: Path):
    folder = FolderBucket(root_dir=str(tmp_path / "new"), bucket="archive")
    check = folder.setup(SetupOptions(check_only=True))
    assert check.problems == [f"folder {folder.root} does not exist"] and not check.created
    report = folder.setup(SetupOptions())
    assert report.created and report.changes == [f"folder {folder.root} created"]


# ---- bad credentials, a missing bucket, an unreachable endpoint: the systemic sentences


def test_wrong_credentials(object_store: S3Bucket):
    wrong = with_changes(object_store, secret_access_key="not-the-secret-0123", max_retries=1)
    with pytest.raises(StorageUnavailable, match=r"refused our credentials \(HTTP 403") as err:
        wrong.preflight()
    assert "BACKBLAZE_B2_APPLICATION_KEY" in str(err.value)
    with pytest.raises(StorageUnavailable, match=r"refused our credentials \(HTTP 403"):
        asyncio.run(wrong.put_stream("k/x.mp3", b"ID3", content_type="audio/mpeg"))
    for call in (lambda: wrong.head("k/x.mp3"), lambda: wrong.list_versions()):
        with pytest.raises(BucketError) as refused:
            call()
        assert refused.value.kind == "refused" and refused.value.refused
        assert "not-the-secret-0123" not in str(refused.value)


def test_a_missing_bucket(object_store: S3Bucket):
    gone = with_changes(object_store, bucket="no-such-bucket-here")
    with pytest.raises(StorageUnavailable, match=r"'no-such-bucket-here' .* does not exist"):
        gone.preflight()
    with pytest.raises(BucketError) as err:
        gone.list_versions()
    assert err.value.kind == "no_bucket"
    # (SeaweedFS creates a bucket on its first PUT, so no put is tried here.)


def test_an_unreachable_endpoint():
    nowhere = S3Bucket(
        endpoint_url="http://127.0.0.1:9",
        access_key_id="k",
        secret_access_key="s",
        bucket="b",
        max_retries=0,
        connect_timeout_seconds=1,
    )
    with pytest.raises(StorageUnavailable, match="unreachable"):
        nowhere.preflight()
    with pytest.raises(BucketError) as err:
        nowhere.list_versions()
    assert err.value.kind == "unreachable" and err.value.endpoint == "http://127.0.0.1:9"
    unresolvable = with_changes(nowhere, endpoint_url="http://no-such-host.invalid:9000")
    with pytest.raises(StorageUnavailable, match="does not resolve"):
        unresolvable.preflight()


def test_a_folder_that_cannot_be_a_folder(tmp_path: Path):
    (tmp_path / "file").write_bytes(b"not a folder")
    folder = FolderBucket(root_dir=str(tmp_path / "file" / "bucket"))
    with pytest.raises(StorageUnavailable, match="cannot be created"):
        folder.preflight()
