"""Run post_media_archive in a child process so a test can kill it mid-run (see test_faults)."""

from __future__ import annotations

import json
import sys

from media_pipeline_dagster.resources.archive import MediaCacheResource, PostMediaDatabaseResource
from media_pipeline_dagster.resources.bucket import S3Bucket

from .helpers import materialize

if __name__ == "__main__":
    args = json.loads(sys.argv[1])
    materialize(
        {
            "post_media_db": PostMediaDatabaseResource(database_url=args["database_url"]),
            "media_cache": MediaCacheResource(path=args["cache"]),
            "archive_bucket": S3Bucket(**args["bucket"]),
        },
        batch_size=args["batch_size"],
        concurrency=1,
    )
