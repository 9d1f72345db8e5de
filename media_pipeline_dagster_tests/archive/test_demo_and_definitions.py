"""The demo's archive step on the shipped sample cache, and the domain's Definitions."""

from __future__ import annotations

import dagster as dg
import pytest

from media_pipeline_dagster.archive.definitions import defs
from media_pipeline_dagster.archive.samples import sample_rows
from media_pipeline_dagster.resources.archive_profile import (
    local_archive_resources,
    prod_archive_missing,
    prod_archive_resources,
)
from media_pipeline_dagster.resources.bucket import FolderBucket, S3Bucket

from .helpers import archive_urls


def local_resources(data) -> dict[str, object]:
    """What the local profile builds under MEDIA_PIPELINE_DATA_DIR."""
    return local_archive_resources({}, data)


def test_the_demo_archives_the_shipped_cache_once_and_prints_the_statistics(tmp_path, instance):
    from media_pipeline_dagster.archive.demo import run_archive_demo

    resources = local_resources(tmp_path)
    lines: list[str] = []
    assert run_archive_demo(resources, instance, out=lines.append)
    first = "\n".join(lines)
    assert "sample cache: 5 files copied, 6 post_media rows added" in first
    assert "archive 2025-11: 2 uploaded" in first
    assert (
        "archive 2025-12: 3 uploaded" in first
        and "1 missing local file" in first
        and "(missing: med-d7baf2b0)" in first
    )
    # The missing file is reported by id, arrives late, and the month archived again ends clean.
    late = first[first.index("(missing: med-d7baf2b0)") :]
    assert late.index("check selected_rows_archived: FAILED") < late.index(
        "1 missing file arrived in the cache late, as a slow download would; archiving 2025-12 again"
    )
    assert "archive 2025-12: 1 uploaded, 0 already in bucket, 0 missing local file" in late
    assert (
        late.rstrip().count("check selected_rows_archived: passed") == 1
        and "FAILED" not in late[late.index("arrived") :]
    )
    assert "S3 Archive Statistics" in first
    assert (
        "  Total Media:       6\n  Archived:          6 (100.0%)\n  Not Archived:      0" in first
    )
    assert "  Video:\n    Total:           1\n    Archived:        1 (100.0%)" in first
    archived = sorted(
        p.relative_to(tmp_path / "archive").as_posix() for p in (tmp_path / "archive").rglob("*.*")
    )
    assert (
        archived
        == sorted(
            [
                "cache/2025/11/5e546c749bb2e28ede173a3431b88d6c.png",
                "cache/2025/11/9ff5852d52e216aefad542353911c40e.jpg",
                "cache/2025/12/75bdfc711e497a42d95aee62f7b045b5.gif",  # the database's '.bin', found by its md5
                "cache/2025/12/0d167fa02e12b54fa3629a3804be0850.mp4",
                "cache/2025/12/de695bd80c03b040102dac428df7719d.pdf",
                "cache/2025/12/d7baf2b08cf702cda15921d812851dd9.jpg",  # the late file
            ]
        )
    )
    urls = archive_urls(resources["post_media_db"].engine)
    assert (
        urls["med-5e546c74"]
        == (tmp_path / "archive").resolve().as_uri()
        + "/cache/2025/11/5e546c749bb2e28ede173a3431b88d6c.png"
    )

    lines.clear()
    assert run_archive_demo(resources, instance, out=lines.append)
    second = "\n".join(lines)
    assert "0 files copied, 0 post_media rows added" in second and "sensor: no month" in second
    assert "  Archived:          6 (100.0%)" in second and "arrived" not in second
    assert len(sample_rows()) == 6


def test_the_domain_loads_with_its_resources(tmp_path):
    merged = dg.Definitions.merge(defs, dg.Definitions(resources=local_resources(tmp_path)))
    merged.validate_loadable(merged)
    keys = {k.to_user_string() for k in merged.resolve_asset_graph().get_all_asset_keys()}
    assert {"post_media", "media_cache", "post_media_archive"} <= keys
    assert merged.resolve_job_def("setup_archive_bucket") is not None
    assert merged.resolve_sensor_def("unarchived_post_media_sensor") is not None
    checks = {c.name for c in merged.resolve_asset_graph().asset_check_keys}
    assert checks == {
        "selected_rows_archived",
        "archived_objects_exist",
        "unarchived_rows_archivable",
    }


PROD = {
    "ARCHIVE_DATABASE_URL": "postgresql+asyncpg://u:pw@db.invalid/social",
    "MEDIA_CACHE_DIR": "/srv/social-tui/cache/media",
}


def test_the_local_profile_needs_nothing_but_python(tmp_path):
    resources = local_archive_resources({}, tmp_path)
    assert resources["post_media_db"].database_url == f"sqlite:///{tmp_path / 'post_media.sqlite'}"
    assert resources["media_cache"].path == str(tmp_path / "cache" / "media")
    assert isinstance(resources["archive_bucket"], FolderBucket)
    assert resources["archive_bucket"].root_dir == str(tmp_path / "archive")


def test_prod_names_what_is_missing():
    assert prod_archive_missing({}) == [
        "ARCHIVE_DATABASE_URL (PostgreSQL URL of the social-tui database holding post_media)",
        "MEDIA_CACHE_DIR (the cache/media folder to archive)",
    ]
    half = prod_archive_missing({**PROD, "ARCHIVE_AWS_ACCESS_KEY_ID": "AKIA"})
    assert half == [
        "ARCHIVE_AWS_SECRET_ACCESS_KEY (set both archive keys, or neither to use AWS_PROFILE)"
    ]
    with pytest.raises(ValueError, match="ARCHIVE_DATABASE_URL must be a PostgreSQL URL"):
        prod_archive_resources({**PROD, "ARCHIVE_DATABASE_URL": "sqlite:///x.sqlite"})


def test_prod_uses_the_profile_by_default_and_keeps_secrets_in_env_vars():
    bucket = prod_archive_resources(PROD)["archive_bucket"]
    assert isinstance(bucket, S3Bucket)
    assert (bucket.bucket, bucket.region, bucket.profile_name, bucket.access_key_id) == (
        "social-tui",
        "us-east-1",
        "ab-power-user",
        None,
    )
    keyed = prod_archive_resources(
        {
            **PROD,
            "AWS_PROFILE": "archiver",
            "ARCHIVE_S3_BUCKET": "media-archive",
            "ARCHIVE_S3_REGION": "eu-central-1",
            "ARCHIVE_AWS_ACCESS_KEY_ID": "AKIA",
            "ARCHIVE_AWS_SECRET_ACCESS_KEY": "s3cr3t",
        }
    )
    bucket, db = keyed["archive_bucket"], keyed["post_media_db"]
    assert (bucket.bucket, bucket.region, bucket.profile_name) == (
        "media-archive",
        "eu-central-1",
        "archiver",
    )
    assert (
        isinstance(bucket.secret_access_key, dg.EnvVar)
        and bucket.secret_access_key == "ARCHIVE_AWS_SECRET_ACCESS_KEY"
    )
    assert (
        isinstance(db.database_url, dg.EnvVar) and not db.create_table
    )  # production's table is never created
    merged = dg.Definitions.merge(defs, dg.Definitions(resources=keyed))
    merged.validate_loadable(merged)
