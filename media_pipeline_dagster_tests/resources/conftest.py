"""Both backends of the bucket interface: SeaweedFS behind S3, and a temporary folder."""

from __future__ import annotations

import pytest

from media_pipeline_dagster.resources.bucket import Bucket, FolderBucket


@pytest.fixture(params=["s3", "folder"])
def any_bucket(request, tmp_path) -> Bucket:
    if request.param == "folder":
        return FolderBucket(root_dir=str(tmp_path / "bucket"), bucket="folder-bucket")
    return request.getfixturevalue("object_store")
