"""Run one ``audio_files`` materialization in a child process (for the kill-and-rerun test).

Usage: python -m media_pipeline_dagster_tests.calls.ingest_child '<json>' with keys
pg_url, s3 (endpoint_url, region, access_key_id, secret_access_key, bucket), inbox,
partition, concurrency.
"""

from __future__ import annotations

import json
import sys

import dagster as dg

from media_pipeline_dagster.resources.bucket import S3Bucket
from media_pipeline_dagster.resources.call_sources import CallSourcesResource
from media_pipeline_dagster.resources.databases import CatalogResource, RecordingsDatabaseResource
from media_pipeline_dagster.resources.fetch import FetchPolicyResource
from media_pipeline_dagster.resources.http import AudioTransferResource
from media_pipeline_dagster.resources.inbox import CsvInboxResource

from .helpers import materialize


def main(args: dict) -> None:
    resources = {
        "catalog": CatalogResource(database_url=args["pg_url"]),
        "object_store": S3Bucket(**args["s3"]),
        "csv_inbox": CsvInboxResource(path=args["inbox"]),
        "recordings_db": RecordingsDatabaseResource(),
        "call_sources": CallSourcesResource(),
        "audio_transfer": AudioTransferResource(),
        "fetch_policy": FetchPolicyResource(allow_networks=["127.0.0.1/32"]),
    }
    with dg.DagsterInstance.ephemeral() as instance:
        materialize(
            instance, resources, partition=args["partition"], concurrency=args["concurrency"]
        )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
