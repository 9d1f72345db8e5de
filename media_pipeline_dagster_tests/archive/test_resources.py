"""The archive's resources: AWS credentials by profile or keys, the post_media table, the cache, the folder bucket."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from media_pipeline_dagster.archive.database import PostMediaTableError
from media_pipeline_dagster.archive.objects import stored_object
from media_pipeline_dagster.resources.archive import MediaCacheResource, PostMediaDatabaseResource
from media_pipeline_dagster.resources.archive_profile import DEFAULT_PROFILE
from media_pipeline_dagster.resources.bucket import BucketCredentialsError, FolderBucket, S3Bucket

from .helpers import (
    SQLITE_ONLY,
    archive_urls,
    bucket_objects,
    denying_proxy,
    materialize,
    metadata,
    s3_bucket_resource,
)


@pytest.fixture
def aws_home(tmp_path: Path, monkeypatch) -> Path:
    """An empty ~/.aws and no AWS_* credentials in the environment."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(
        "AWS_EC2_METADATA_DISABLED", "true"
    )  # no instance-role lookup from a test machine
    home = tmp_path / "aws"
    home.mkdir()
    (home / "config").write_text("")
    (home / "credentials").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    return home


def test_the_profile_signs_real_requests(aws_home, s3_server, bucket):
    (aws_home / "credentials").write_text(
        f"[ab-power-user]\naws_access_key_id = {s3_server.access_key_id}\naws_secret_access_key = {s3_server.secret_access_key}\n"
    )
    resource = S3Bucket(
        bucket=bucket,
        endpoint_url=s3_server.endpoint_url,
        region=s3_server.region,
        profile_name=DEFAULT_PROFILE,
    )
    assert resource.profile_name == "ab-power-user" and resource.access_key_id is None
    resource.boto3_client().put_object(
        Bucket=bucket, Key="cache/probe.txt", Body=b"x", ContentType="text/plain"
    )
    assert resource.head("cache/probe.txt").size == 1 and resource.head("cache/absent.txt") is None


def test_without_the_profile_the_usual_aws_variables_are_used(aws_home, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    session = S3Bucket(bucket="social-tui", profile_name=DEFAULT_PROFILE).boto3_session()
    assert session.get_credentials().access_key == "AKIAFROMENVIRONMENT"


@pytest.mark.parametrize("aws_profile_env", [None, "ab-power-user"])
def test_no_credentials_at_all_says_what_to_set(aws_home, monkeypatch, aws_profile_env):
    if aws_profile_env:
        monkeypatch.setenv("AWS_PROFILE", aws_profile_env)  # set, but no such profile in ~/.aws
    with pytest.raises(BucketCredentialsError) as err:
        S3Bucket(bucket="social-tui", profile_name=DEFAULT_PROFILE).boto3_session()
    message = str(err.value)
    assert "'ab-power-user'" in message and "aws configure --profile ab-power-user" in message
    assert "ARCHIVE_AWS_ACCESS_KEY_ID" in message


@SQLITE_ONLY
def test_wrong_keys_fail_the_run_with_what_to_check(archive_resources, cache, s3_server, bucket):
    row = cache.add()
    bad = s3_bucket_resource(s3_server, bucket, secret_access_key="not-the-secret")
    result = materialize(dict(archive_resources, archive_bucket=bad), raise_on_error=False)
    assert not result.success
    message = result.failure_data_for_node("post_media_archive").error.message
    assert f"cannot use the archive bucket s3://{bucket}" in message and "403" in message
    assert "ARCHIVE_AWS_ACCESS_KEY_ID" in message and "not-the-secret" not in message
    assert (
        archive_urls(cache.engine)[row.media_id] is None
        and bucket_objects(archive_resources["archive_bucket"]) == {}
    )


@SQLITE_ONLY
def test_access_lost_mid_run_stops_the_run_after_recording_its_batch(
    archive_resources, cache, s3_server, archive_bucket
):
    rows = [cache.add(created_at=f"2025-12-0{d} 10:00:00") for d in range(1, 7)]
    puts: list[str] = []

    def deny_after_two_puts(method: str, path: str, _headers) -> bool:
        if method == "PUT":
            puts.append(path)
        return len(puts) > 2

    with denying_proxy(s3_server.endpoint_url, deny_after_two_puts) as proxy:
        through = type(archive_bucket)(
            **{**archive_bucket.model_dump(), "endpoint_url": proxy.endpoint_url}
        )
        result = materialize(
            dict(archive_resources, archive_bucket=through),
            raise_on_error=False,
            batch_size=2,
            concurrency=1,
        )

    assert not result.success
    message = result.failure_data_for_node("post_media_archive").error.message
    assert (
        "stopped after batch 2/3 (its archived rows are recorded)" in message
        and "AccessDenied" in message
    )
    urls = archive_urls(cache.engine)
    assert [bool(urls[m.media_id]) for m in rows] == [True, True, False, False, False, False]
    assert len(puts) == 3  # the third was refused; batch 3 never started


@SQLITE_ONLY
def test_large_files_go_up_in_parts_and_are_recognised_afterwards(
    archive_resources, cache, s3_server, bucket
):
    big = cache.add(media_type="video", ext="mp4", mime_type="video/mp4", size=(1 << 20) + 123)
    resources = dict(
        archive_resources,
        archive_bucket=s3_bucket_resource(s3_server, bucket, multipart_threshold_mib=1),
    )
    assert metadata(materialize(resources))["uploaded"] == 1
    head = (
        resources["archive_bucket"]
        .boto3_client()
        .head_object(Bucket=bucket, Key=f"cache/2025/12/{big.md5}.mp4")
    )
    assert (
        "-" in head["ETag"]
        and head["Metadata"]["md5"] == big.md5
        and head["ContentType"] == "video/mp4"
    )
    with cache.engine.begin() as conn:
        conn.execute(sa.text("UPDATE post_media SET archive_url = NULL"))
    meta = metadata(materialize(resources))
    assert (meta["uploaded"], meta["already_in_bucket"]) == (0, 1)


def test_a_missing_post_media_table_is_named_not_created(post_media_url):
    with pytest.raises(
        PostMediaTableError, match="table post_media not found .* ARCHIVE_DATABASE_URL"
    ):
        _ = PostMediaDatabaseResource(database_url=post_media_url).engine
    engine = sa.create_engine(post_media_url)
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("post_media")
    engine.dispose()


def test_a_post_media_table_without_archive_url_is_named(post_media_url):
    engine = sa.create_engine(post_media_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE post_media (media_id TEXT PRIMARY KEY, media_type TEXT, local_file_path TEXT,"
            " md5_sum TEXT, mime_type TEXT, created_at TIMESTAMP)"
        )
    engine.dispose()
    with pytest.raises(PostMediaTableError, match="lacks column.* archive_url"):
        _ = PostMediaDatabaseResource(database_url=post_media_url, create_table=True).engine


def test_the_media_cache_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="MEDIA_CACHE_DIR"):
        MediaCacheResource(path=str(tmp_path / "nowhere")).cache()


def test_the_folder_bucket(tmp_path):
    folder = FolderBucket(root_dir=str(tmp_path / "archive"))
    source = tmp_path / "f.jpg"
    source.write_bytes(b"picture")
    md5 = hashlib.md5(b"picture").hexdigest()
    folder.put_file("cache/2025/12/x.jpg", source, content_type="image/jpeg", md5=md5, metadata={})
    assert stored_object(folder.head("cache/2025/12/x.jpg")).md5 == md5
    assert folder.key_of(folder.uri("cache/2025/12/x.jpg")) == "cache/2025/12/x.jpg"
    assert folder.uri("k").startswith("file://") and folder.key_of("s3://social-tui/k") is None
    with pytest.raises(OSError, match="changed while copying"):
        folder.put_file(
            "cache/2025/12/y.jpg", source, content_type="image/jpeg", md5="0" * 32, metadata={}
        )
    assert not (tmp_path / "archive" / "cache" / "2025" / "12" / "y.jpg").exists()
    with pytest.raises(ValueError, match="would leave the bucket folder"):
        folder.head("../../etc/passwd")
    assert [p.name for p in (tmp_path / "archive").rglob("*") if p.is_file()] == ["x.jpg"]


def test_s3_objects_carry_their_md5(archive_bucket, tmp_path):
    source = tmp_path / "doc.pdf"
    source.write_bytes(b"%PDF-1.4 tiny")
    md5 = hashlib.md5(source.read_bytes()).hexdigest()
    archive_bucket.put_file(
        "cache/2025/12/doc.pdf",
        source,
        content_type="application/pdf",
        md5=md5,
        metadata={"media-id": "m"},
    )
    assert stored_object(archive_bucket.head("cache/2025/12/doc.pdf")).md5 == md5
    assert bucket_objects(archive_bucket) == {"cache/2025/12/doc.pdf": (13, "application/pdf")}
    with pytest.raises(Exception, match="BadDigest|InvalidDigest|Content-MD5"):
        archive_bucket.put_file(
            "cache/2025/12/bad.pdf",
            source,
            content_type="application/pdf",
            md5="0" * 32,
            metadata={},
        )
