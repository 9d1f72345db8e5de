"""post_media_archive through Dagster on SQLite and PostgreSQL, uploading to SeaweedFS."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from media_pipeline_dagster.archive.assets import SELECTED_ROWS_ARCHIVED

from ..servers.slowdown_proxy import slowdown_proxy
from .helpers import (
    NOV,
    SQLITE_ONLY,
    archive_urls,
    bucket_objects,
    check,
    materialize,
    metadata,
    read_object,
    recording_proxy,
)


def test_a_partition_archives_its_months_unarchived_rows(
    archive_resources, cache, archive_bucket, s3_server
):
    dec = [cache.add(created_at=f"2025-12-{d:02d} 12:00:00", size=100 + d) for d in (1, 15, 31)]
    video = cache.add(
        media_type="video", ext="mp4", mime_type="video/mp4", created_at="2025-12-31 23:59:59"
    )
    nov = cache.add(created_at="2025-11-30 23:59:59")
    jan = cache.add(created_at="2026-01-01 00:00:00")
    done = cache.add(
        created_at="2025-12-02 00:00:00", archive_url="s3://elsewhere/cache/2025/12/x.jpg"
    )

    meta = metadata(result := materialize(archive_resources))

    urls = archive_urls(cache.engine)
    objects = bucket_objects(archive_bucket)
    expected = {f"cache/2025/12/{m.md5}.jpg" for m in dec} | {f"cache/2025/12/{video.md5}.mp4"}
    assert set(objects) == expected
    assert objects[f"cache/2025/12/{video.md5}.mp4"] == (64, "video/mp4")
    assert all(objects[f"cache/2025/12/{m.md5}.jpg"][1] == "image/jpeg" for m in dec)
    assert read_object(archive_bucket, f"cache/2025/12/{dec[0].md5}.jpg") == dec[0].content
    for m in dec:
        assert urls[m.media_id] == f"s3://{archive_bucket.bucket}/cache/2025/12/{m.md5}.jpg"
    assert urls[nov.media_id] is None and urls[jan.media_id] is None  # other months untouched
    assert (
        urls[done.media_id] == "s3://elsewhere/cache/2025/12/x.jpg"
    )  # already archived: not selected
    assert (meta["rows_selected"], meta["uploaded"], meta["archive_url_written"]) == (4, 4, 4)
    assert meta["bytes_uploaded"] == sum(len(m.content) for m in dec) + 64
    stats = {r.data["media_type"]: r.data for r in meta["statistics"].records}
    assert (stats["all"]["total"], stats["all"]["archived"], stats["all"]["not_archived"]) == (
        7,
        5,
        2,
    )
    assert (stats["image"]["total"], stats["image"]["archived"], stats["video"]["archived"]) == (
        6,
        4,
        1,
    )
    assert check(result, SELECTED_ROWS_ARCHIVED).passed

    with recording_proxy(s3_server.endpoint_url) as (proxy, puts):
        again = dict(
            archive_resources,
            archive_bucket=type(archive_bucket)(
                **{**archive_bucket.model_dump(), "endpoint_url": proxy.endpoint_url}
            ),
        )
        meta = metadata(materialize(again))
    assert puts == [] and meta["rows_selected"] == 0  # nothing left, nothing uploaded twice


def test_month_boundaries_whatever_the_timestamp_format(archive_resources, cache):
    inside = [
        cache.add(created_at=v)
        for v in (
            "2025-12-01",
            "2025-12-01 00:00:00",
            "2025-12-01T00:00:00Z",
            "2025-12-31T23:59:59.999999",
            "2025-12-31 23:59:59",
        )
    ]
    outside = [
        cache.add(created_at=v)
        for v in ("2025-11-30 23:59:59.999", "2026-01-01", "2026-01-01T00:00:00")
    ]
    materialize(archive_resources)
    urls = archive_urls(cache.engine)
    assert [bool(urls[m.media_id]) for m in inside] == [True] * 5
    assert [bool(urls[m.media_id]) for m in outside] == [False] * 3


@SQLITE_ONLY
def test_unknown_mime_types_and_the_bin_case(archive_resources, cache, archive_bucket):
    jpg = cache.add(
        mime_type="application/octet-stream", ext="jpg", local_file_path=None
    )  # db '.bin', file '.jpg'
    odd = cache.add(mime_type="application/x-unheard-of", ext="bin", local_file_path=None)
    none = cache.add(mime_type=None, ext="", local_file_path=None)  # no type, no extension

    meta = metadata(materialize(archive_resources))

    objects = bucket_objects(archive_bucket)
    assert objects[f"cache/2025/12/{jpg.md5}.jpg"][1] == "image/jpeg"
    assert objects[f"cache/2025/12/{odd.md5}.bin"][1] == "application/x-unheard-of"
    assert objects[f"cache/2025/12/{none.md5}.bin"][1] == "application/octet-stream"
    assert meta["uploaded"] == 3
    assert meta["unknown_mime_types"] == {
        "application/octet-stream": 1,
        "application/x-unheard-of": 1,
        "(none)": 1,
    }


def test_missing_files_md5_mismatches_and_bad_rows_are_reported_not_uploaded(
    archive_resources, cache, archive_bucket
):
    good = cache.add()
    missing = cache.add(file=False)
    mismatch = cache.add(
        md5_sum="0" * 32, local_file_path=None
    )  # file <real md5>.jpg exists; row claims another md5
    wrong_bytes = cache.add()
    wrong_bytes.path.write_bytes(b"truncated download")  # same name, different content
    no_md5 = cache.add(md5_sum=None)
    bad_date = cache.add(created_at=None)

    result = materialize(archive_resources)
    meta = metadata(result)

    urls = archive_urls(cache.engine)
    assert urls[good.media_id] is not None
    assert all(urls[m.media_id] is None for m in (missing, mismatch, wrong_bytes, no_md5, bad_date))
    assert set(bucket_objects(archive_bucket)) == {f"cache/2025/12/{good.md5}.jpg"}
    assert meta["missing_local_files"] == 2  # 'mismatch' has no file under the md5 it claims
    assert {m["media_id"] for m in meta["missing_local_file_ids"]} == {
        missing.media_id,
        mismatch.media_id,
    }
    assert (meta["md5_mismatches"], meta["invalid_rows"]) == (1, 1)
    assert (
        f"{wrong_bytes.media_id} | md5_mismatch" in meta["problems"]
        and "not uploaded" in meta["problems"]
    )
    assert f"{no_md5.media_id} | invalid_row | md5_sum is NULL" in meta["problems"]
    assert meta["unpartitioned"]["created_at_null"] == 1 and meta["unpartitioned"]["media_ids"] == [
        bad_date.media_id
    ]
    evaluation = check(result, SELECTED_ROWS_ARCHIVED)
    assert not evaluation.passed and evaluation.metadata["rows_left_without_archive_url"].value == 4


@SQLITE_ONLY
def test_paths_outside_the_cache_are_refused(archive_resources, cache, archive_bucket, tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"private key material")
    md5 = hashlib.md5(secret.read_bytes()).hexdigest()
    outside = cache.add(file=False, md5_sum=md5, local_file_path=str(secret))
    climbing = cache.add(file=False, md5_sum=md5, local_file_path="../../secret.jpg")
    stale = cache.add(
        local_file_path="/home/someone/social-tui/cache/media/images/old.jpg"
    )  # the cache has it by md5

    meta = metadata(materialize(archive_resources))

    urls = archive_urls(cache.engine)
    assert urls[outside.media_id] is None and urls[climbing.media_id] is None
    assert set(bucket_objects(archive_bucket)) == {f"cache/2025/12/{stale.md5}.jpg"}
    assert md5 not in str(list(bucket_objects(archive_bucket)))
    assert (
        f"{outside.media_id} | refused_path" in meta["problems"]
        and "outside the media cache" in meta["problems"]
    )
    assert {r["media_id"] for r in meta["refused_path_ids"]} == {
        outside.media_id,
        climbing.media_id,
        stale.media_id,
    }


def test_undated_rows_belong_to_no_month_unless_asked(archive_resources, cache, archive_bucket):
    undated = cache.add(created_at=None)
    old = cache.add(created_at="2019-05-06 07:08:09")
    december = cache.add()

    meta = metadata(materialize(archive_resources))
    assert meta["uploaded"] == 1 and archive_urls(cache.engine)[undated.media_id] is None
    assert meta["unpartitioned"] == {
        "created_at_null": 1,
        "before_first_partition": 1,
        "after_last_partition": 0,
        "media_ids": sorted([undated.media_id, old.media_id]),
    }

    meta = metadata(materialize(archive_resources, include_unpartitioned=True))
    urls = archive_urls(cache.engine)
    assert urls[undated.media_id] == f"s3://{archive_bucket.bucket}/cache/undated/{undated.md5}.jpg"
    assert urls[old.media_id] == f"s3://{archive_bucket.bucket}/cache/2019/05/{old.md5}.jpg"
    assert urls[december.media_id] is not None
    assert meta["uploaded"] == 2 and meta["unpartitioned_unarchived_rows"] == 0


@SQLITE_ONLY
def test_dry_run_changes_nothing(archive_resources, cache, archive_bucket):
    rows = [cache.add() for _ in range(3)]
    meta = metadata(materialize(archive_resources, dry_run=True))
    assert (meta["planned"], meta["uploaded"], meta["archive_url_written"]) == (3, 0, 0)
    assert bucket_objects(archive_bucket) == {}
    assert set(archive_urls(cache.engine).values()) == {None}
    assert f"cache/2025/12/{rows[0].md5}.jpg" in meta["preview"]


def test_limit_takes_the_oldest_rows_first(archive_resources, cache):
    rows = [cache.add(created_at=f"2025-12-0{d} 10:00:00") for d in range(1, 6)]
    meta = metadata(materialize(archive_resources, limit=2, batch_size=1))
    urls = archive_urls(cache.engine)
    assert meta["uploaded"] == 2
    assert [m.media_id for m in rows if urls[m.media_id]] == [rows[0].media_id, rows[1].media_id]


@SQLITE_ONLY
def test_rows_sharing_a_file_share_one_upload(archive_resources, cache, s3_server, archive_bucket):
    first = cache.add(content=b"same picture")
    second = cache.add(media_id="med-repost", content=b"same picture")
    with recording_proxy(s3_server.endpoint_url) as (proxy, puts):
        bucket = type(archive_bucket)(
            **{**archive_bucket.model_dump(), "endpoint_url": proxy.endpoint_url}
        )
        materialize(dict(archive_resources, archive_bucket=bucket), batch_size=1)
    assert len(puts) == 1
    urls = archive_urls(cache.engine)
    assert urls[first.media_id] == urls[second.media_id] is not None


def test_force_repairs_archived_rows_without_uploading_verified_objects_again(
    archive_resources, cache, archive_bucket, s3_server
):
    kept, lost, wrong_url = (cache.add() for _ in range(3))
    materialize(archive_resources)
    archive_bucket.boto3_client().delete_object(
        Bucket=archive_bucket.bucket, Key=f"cache/2025/12/{lost.md5}.jpg"
    )
    with cache.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE post_media SET archive_url = 's3://old-bucket/x' WHERE media_id = :m"),
            {"m": wrong_url.media_id},
        )

    assert (
        metadata(materialize(archive_resources))["rows_selected"] == 0
    )  # without force: nothing to do
    with recording_proxy(s3_server.endpoint_url) as (proxy, puts):
        bucket = type(archive_bucket)(
            **{**archive_bucket.model_dump(), "endpoint_url": proxy.endpoint_url}
        )
        meta = metadata(materialize(dict(archive_resources, archive_bucket=bucket), force=True))

    assert [p.rsplit("/", 1)[-1] for p in puts] == [f"{lost.md5}.jpg"]
    assert (
        meta["rows_selected"],
        meta["uploaded"],
        meta["already_in_bucket"],
        meta["archive_url_written"],
    ) == (3, 1, 2, 1)
    urls = archive_urls(cache.engine)
    assert (
        urls[wrong_url.media_id]
        == f"s3://{archive_bucket.bucket}/cache/2025/12/{wrong_url.md5}.jpg"
    )
    assert len(bucket_objects(archive_bucket)) == 3 and urls[kept.media_id].endswith(
        f"{kept.md5}.jpg"
    )


def test_local_files_are_deleted_only_when_asked_and_verified(archive_resources, cache):
    kept_by_default = cache.add()
    materialize(archive_resources)
    assert kept_by_default.path.exists()

    alone = cache.add(content=b"only in december")
    shared = cache.add(content=b"also posted in november")
    cache.add(
        media_id="med-nov-copy",
        content=b"also posted in november",
        created_at="2025-11-20 10:00:00",
    )
    meta = metadata(materialize(archive_resources, delete_local_after_upload=True))

    assert not alone.path.exists()
    assert shared.path.exists()  # the November row still needs it
    assert meta["local_files_deleted"] == 1
    meta = metadata(materialize(archive_resources, NOV, delete_local_after_upload=True))
    assert not shared.path.exists() and meta["local_files_deleted"] == 1
    assert None not in archive_urls(cache.engine).values()


@SQLITE_ONLY
def test_a_file_is_kept_when_its_upload_cannot_be_verified(
    archive_resources, cache, archive_bucket, s3_server
):
    row = cache.add()
    put_paths: set[str] = set()

    def head_after_put_fails(method: str, path: str, _headers) -> bool:
        if method == "PUT":
            put_paths.add(path)
        return method == "HEAD" and path in put_paths  # 503 SlowDown on the verifying HEAD

    with slowdown_proxy(s3_server.endpoint_url, should_reject=head_after_put_fails) as proxy:
        bucket = type(archive_bucket)(
            **{**archive_bucket.model_dump(), "endpoint_url": proxy.endpoint_url}
        )
        meta = metadata(
            materialize(
                dict(archive_resources, archive_bucket=bucket), delete_local_after_upload=True
            )
        )

    assert row.path.exists() and meta["local_files_deleted"] == 0
    assert meta["upload_failures"] == 1 and archive_urls(cache.engine)[row.media_id] is None
    assert set(bucket_objects(archive_bucket)) == {
        f"cache/2025/12/{row.md5}.jpg"
    }  # uploaded, just not verified
