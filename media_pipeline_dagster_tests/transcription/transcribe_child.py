"""Run one ``transcriptions`` materialization in a child process (concurrency and kill tests).

Usage: python -m media_pipeline_dagster_tests.transcription.transcribe_child '<json>' with keys
pg_url, s3 (endpoint_url, region, access_key_id, secret_access_key, bucket), base_url, api_key,
partition, config (run config of the asset).
"""

from __future__ import annotations

import json
import sys

import dagster as dg
from dagster_openai import OpenAIResource

from media_pipeline_dagster.resources.bucket import S3Bucket
from media_pipeline_dagster.resources.databases import CatalogResource
from media_pipeline_dagster.resources.fetch import FetchPolicyResource
from media_pipeline_dagster.resources.transcriber.resource import TranscriberResource

from .helpers import materialize


def main(args: dict) -> None:
    resources = {
        "catalog": CatalogResource(database_url=args["pg_url"]),
        "object_store": S3Bucket(**args["s3"]),
        "fetch_policy": FetchPolicyResource(),
        "transcriber": TranscriberResource(
            provider="openai",
            openai=OpenAIResource(api_key=args["api_key"], base_url=args["base_url"]),
        ),
    }
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(
            instance, resources, partition=args["partition"], **args.get("config", {})
        )
        (mat,) = result.asset_materializations_for_node("transcriptions")
        print(json.dumps({"transcribed": mat.metadata["transcribed"].value}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
