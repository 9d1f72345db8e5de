"""Finding a row's file as the seed did, refusing anything outside the cache; keys and Content-Types."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path

import pytest

from media_pipeline_dagster.archive.locate import (
    MediaCache,
    archive_key,
    content_type,
    extension_of,
    normalize_md5,
)
from media_pipeline_dagster.archive.queries import MediaRow, parse_created_at


def row(**fields) -> MediaRow:
    base = dict(
        media_id="m1",
        post_id="p1",
        media_type="image",
        local_file_path=None,
        md5_sum=None,
        file_size=None,
        mime_type="image/jpeg",
        archive_url=None,
        created_at=datetime(2025, 12, 3),
        created_at_raw="2025-12-03",
    )
    return MediaRow(**{**base, **fields})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "cache" / "media"
    for folder in ("images", "videos", "documents"):
        (root / folder).mkdir(parents=True)
    return root


def put(path: Path, content: bytes = b"data") -> str:
    path.write_bytes(content)
    return hashlib.md5(content).hexdigest()


def test_local_file_path_as_the_app_records_it_relative_or_absolute(root):
    md5 = put(root / "images" / "photo-under-another-name.jpg")
    found = MediaCache(root).locate(
        row(local_file_path="cache/media/images/photo-under-another-name.jpg", md5_sum=md5)
    )
    assert (found.path, found.how) == (
        root / "images" / "photo-under-another-name.jpg",
        "local_file_path",
    )
    absolute = MediaCache(root).locate(
        row(local_file_path=str(root / "images" / "photo-under-another-name.jpg"))
    )
    assert absolute.path == root / "images" / "photo-under-another-name.jpg"


def test_md5_and_the_mime_types_extension_when_local_file_path_is_stale(root):
    md5 = put(root / "videos" / "x.mp4", b"v")
    (root / "videos" / "x.mp4").rename(root / "videos" / f"{md5}.mp4")
    put(root / "videos" / f"{md5}.webm", b"other")  # same stem, but mime_type says mp4
    found = MediaCache(root).locate(
        row(
            media_type="video",
            mime_type="video/mp4",
            md5_sum=md5.upper(),
            local_file_path="cache/media/videos/gone.mp4",
        )
    )
    assert (found.path.name, found.how) == (f"{md5}.mp4", "md5_extension")


def test_database_says_bin_the_file_is_jpg(root):
    md5 = put(root / "images" / "tmp")
    (root / "images" / "tmp").rename(root / "images" / f"{md5}.jpg")
    found = MediaCache(root).locate(row(mime_type="application/octet-stream", md5_sum=md5))
    assert (found.path.name, found.how) == (f"{md5}.jpg", "md5_stem")
    assert extension_of(found.path, "application/octet-stream") == "jpg"


def test_unknown_media_type_searches_every_folder(root):
    md5 = put(root / "documents" / "tmp")
    (root / "documents" / "tmp").rename(root / "documents" / f"{md5}.pdf")
    assert (
        MediaCache(root).locate(row(media_type="sticker", mime_type=None, md5_sum=md5)).path.name
        == f"{md5}.pdf"
    )


def test_missing_everywhere(root):
    found = MediaCache(root).locate(
        row(md5_sum="0" * 32, local_file_path="cache/media/images/nothing.jpg")
    )
    assert found.path is None and found.refused_path is None


@pytest.mark.parametrize(
    "make_path",
    [
        lambda root, outside: str(outside),  # absolute, elsewhere
        lambda root, outside: "../../secret.jpg",  # climbs out of the cache
        lambda root, outside: "cache/media/images/../../../secret.jpg",
    ],
)
def test_paths_outside_the_cache_are_refused_and_never_read(root, make_path):
    outside = root.parent.parent / "secret.jpg"
    md5 = put(outside, b"not for the archive")
    found = MediaCache(root).locate(row(local_file_path=make_path(root, outside), md5_sum=md5))
    assert found.path is None
    assert found.refused_path == make_path(root, outside)


def test_a_symlink_in_the_cache_leading_out_is_refused(root):
    outside = root.parent.parent / "secret.jpg"
    md5 = put(outside, b"secret")
    os.symlink(outside, root / "images" / f"{md5}.jpg")
    found = MediaCache(root).locate(row(md5_sum=md5))
    assert found.path is None and found.refused_path == str(root / "images" / f"{md5}.jpg")
    by_path = MediaCache(root).locate(
        row(md5_sum=md5, local_file_path=f"cache/media/images/{md5}.jpg")
    )
    assert by_path.path is None and by_path.refused_path is not None


def test_refused_local_file_path_falls_back_to_the_copy_inside_the_cache(root):
    md5 = put(root / "images" / "tmp", b"kept")
    (root / "images" / "tmp").rename(root / "images" / f"{md5}.jpg")
    found = MediaCache(root).locate(
        row(md5_sum=md5, local_file_path="/home/someone/social-tui/cache/media/images/x.jpg")
    )
    assert found.path == root / "images" / f"{md5}.jpg"
    assert found.refused_path == "/home/someone/social-tui/cache/media/images/x.jpg"


@pytest.mark.parametrize("value", [None, "", "*", "abc", "g" * 32, "0" * 31, "../" + "0" * 29])
def test_md5_sums_that_are_not_32_hex_digits_are_rejected(value):
    assert normalize_md5(value) is None


def test_keys_and_content_types():
    md5 = "0123456789abcdef0123456789abcdef"
    assert archive_key(datetime(2025, 1, 31, 23, 59), md5, "jpg") == f"cache/2025/01/{md5}.jpg"
    assert archive_key(None, md5, "jpg") == f"cache/undated/{md5}.jpg"
    assert (
        content_type("jpg", "application/octet-stream") == "image/jpeg"
    )  # the key's extension wins
    assert content_type("mp4", None) == "video/mp4"
    assert (
        content_type("bin", "application/x-unheard-of") == "application/x-unheard-of"
    )  # unknown type kept
    assert content_type("bin", "not a mime type") == "application/octet-stream"
    assert content_type("zzz", None) == "application/octet-stream"
    assert extension_of(Path(md5), "image/png") == "png"  # no extension on disk: the mime type's
    assert extension_of(Path(md5), "application/x-unheard-of") == "bin"


def test_created_at_as_either_backend_returns_it():
    assert parse_created_at("2025-12-03 10:00:00") == datetime(2025, 12, 3, 10)
    assert parse_created_at("2025-12-03T10:00:00+02:00") == datetime(2025, 12, 3, 8)
    assert parse_created_at(datetime(2025, 12, 3, 10)) == datetime(2025, 12, 3, 10)
    assert parse_created_at("yesterday") is None and parse_created_at(None) is None
