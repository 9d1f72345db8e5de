"""The standalone checks: archived objects exist (HEAD, sampled), rows that could never be archived."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from media_pipeline_dagster.archive.assets import post_media_archive
from media_pipeline_dagster.archive.checks import archived_objects_exist, unarchived_rows_archivable

from .helpers import SQLITE_ONLY, materialize, shared_instance


def run_checks(resources: dict, **config) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [post_media_archive, archived_objects_exist, unarchived_rows_archivable],
        resources=resources,
        instance=shared_instance(),
        selection=dg.AssetSelection.checks(archived_objects_exist, unarchived_rows_archivable),
        run_config={"ops": {"post_media_archive_archived_objects_exist": {"config": config}}}
        if config
        else None,
    )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def values(evaluation: dg.AssetCheckEvaluation) -> dict:
    return {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}


def test_archived_objects_exist_and_a_deleted_one_is_named(
    archive_resources, cache, archive_bucket
):
    rows = [cache.add() for _ in range(4)]
    materialize(archive_resources)
    evaluation = run_checks(archive_resources)["archived_objects_exist"]
    assert evaluation.passed and values(evaluation)["rows_checked"] == 4

    archive_bucket.boto3_client().delete_object(
        Bucket=archive_bucket.bucket, Key=f"cache/2025/12/{rows[2].md5}.jpg"
    )
    evaluation = run_checks(archive_resources)["archived_objects_exist"]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert values(evaluation)["missing_objects"] == [
        {
            "media_id": rows[2].media_id,
            "archive_url": f"s3://{archive_bucket.bucket}/cache/2025/12/{rows[2].md5}.jpg",
        }
    ]


def test_a_sample_of_limit_rows_on_large_archives(archive_resources, cache, archive_bucket):
    rows = [cache.add() for _ in range(6)]
    materialize(archive_resources)
    for row in rows:
        archive_bucket.boto3_client().delete_object(
            Bucket=archive_bucket.bucket, Key=f"cache/2025/12/{row.md5}.jpg"
        )
    evaluation = run_checks(archive_resources, limit=2, sample=True)["archived_objects_exist"]
    meta = values(evaluation)
    assert (meta["rows_archived"], meta["rows_checked"], meta["sampled"], meta["missing"]) == (
        6,
        2,
        True,
        2,
    )


@SQLITE_ONLY
def test_objects_with_other_content_and_urls_of_other_buckets(
    archive_resources, cache, archive_bucket
):
    changed, foreign = cache.add(), cache.add()
    materialize(archive_resources)
    archive_bucket.boto3_client().put_object(
        Bucket=archive_bucket.bucket,
        Key=f"cache/2025/12/{changed.md5}.jpg",
        Body=b"overwritten",
        ContentType="image/jpeg",
    )
    with cache.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE post_media SET archive_url = 's3://another-bucket/x.jpg' WHERE media_id = :m"
            ),
            {"m": foreign.media_id},
        )
    meta = values(evaluation := run_checks(archive_resources)["archived_objects_exist"])
    assert not evaluation.passed
    assert [d["media_id"] for d in meta["md5_differs"]] == [changed.media_id]
    assert meta["not_in_this_bucket"] == 1


def test_rows_without_a_local_file_or_a_month_are_reported(archive_resources, cache):
    archived = cache.add()
    materialize(
        archive_resources, delete_local_after_upload=True
    )  # archived, local copy gone: fine
    evaluation = run_checks(archive_resources)["unarchived_rows_archivable"]
    assert evaluation.passed and values(evaluation)["archived_without_local_file"] == 1
    assert not archived.path.exists()

    missing = cache.add(file=False)
    undated = cache.add(created_at=None)
    meta = values(evaluation := run_checks(archive_resources)["unarchived_rows_archivable"])
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert meta["missing_local_files"] == [
        {"media_id": missing.media_id, "media_type": "image", "md5_sum": missing.md5}
    ]
    assert meta["unpartitioned"]["created_at_null"] == 1 and meta["unpartitioned"]["media_ids"] == [
        undated.media_id
    ]
