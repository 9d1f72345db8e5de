"""setup_archive_bucket on moto (regions, Glacier lifecycle, versioning) and on the local folder."""

from __future__ import annotations

import dagster as dg
import pytest
from botocore.exceptions import ClientError

from media_pipeline_dagster.archive.jobs import setup_archive_bucket
from media_pipeline_dagster.resources.bucket import FolderBucket
from media_pipeline_dagster.resources.bucket.s3_setup import LIFECYCLE_RULE_ID

from .helpers import s3_bucket_resource


def run(bucket, raise_on_error: bool = True, **config) -> dg.ExecuteInProcessResult:
    return setup_archive_bucket.execute_in_process(
        run_config={"ops": {"configure_archive_bucket": {"config": config}}},
        resources={"archive_bucket": bucket},
        raise_on_error=raise_on_error,
    )


def report(result: dg.ExecuteInProcessResult) -> dict:
    return result.output_for_node("configure_archive_bucket")


def leftovers(client, bucket: str) -> list:
    listing = client.list_object_versions(Bucket=bucket)
    return listing.get("Versions", []) + listing.get("DeleteMarkers", [])


@pytest.fixture
def resource(moto_server, moto_bucket_name):
    return s3_bucket_resource(moto_server, moto_bucket_name, region="eu-west-1")


def test_creates_the_bucket_in_its_region_with_the_glacier_rule(resource):
    client = resource.boto3_client()
    first = report(run(resource))

    assert first["created"] and not first["existed"]
    assert client.get_bucket_location(Bucket=resource.bucket)["LocationConstraint"] == "eu-west-1"
    (rule,) = client.get_bucket_lifecycle_configuration(Bucket=resource.bucket)["Rules"]
    assert rule["ID"] == LIFECYCLE_RULE_ID and rule["Status"] == "Enabled"
    assert rule["Filter"] == {"Prefix": "cache/"}
    assert rule["Transitions"] == [{"Days": 90, "StorageClass": "GLACIER"}]
    assert first["write_test"].startswith("ok") and leftovers(client, resource.bucket) == []
    assert first["versioning"] == "never enabled"  # optional, off unless asked

    second = report(run(resource))  # idempotent
    assert not second["created"] and second["existed"] and second["changes"] == []
    assert second["lifecycle"].startswith("unchanged")


def test_versioning_on_request_and_the_write_test_leaves_no_versions(resource):
    run(resource)
    out = report(run(resource, enable_versioning=True))
    client = resource.boto3_client()
    assert client.get_bucket_versioning(Bucket=resource.bucket)["Status"] == "Enabled"
    assert out["changes"] == ["versioning enabled"]
    assert leftovers(client, resource.bucket) == []
    assert report(run(resource, enable_versioning=True))["changes"] == []


def test_rules_of_others_are_kept_and_a_changed_rule_is_updated(resource):
    client = resource.boto3_client()
    run(resource)
    other = {
        "ID": "expire-tmp",
        "Status": "Enabled",
        "Filter": {"Prefix": "tmp/"},
        "Expiration": {"Days": 7},
    }
    rules = client.get_bucket_lifecycle_configuration(Bucket=resource.bucket)["Rules"]
    client.put_bucket_lifecycle_configuration(
        Bucket=resource.bucket, LifecycleConfiguration={"Rules": [*rules, other]}
    )

    out = report(run(resource, glacier_after_days=30))

    assert out["lifecycle"].startswith("updated")
    rules = {
        r["ID"]: r
        for r in client.get_bucket_lifecycle_configuration(Bucket=resource.bucket)["Rules"]
    }
    assert set(rules) == {LIFECYCLE_RULE_ID, "expire-tmp"}
    assert rules[LIFECYCLE_RULE_ID]["Transitions"] == [{"Days": 30, "StorageClass": "GLACIER"}]


def test_check_only_reports_without_creating_anything(resource):
    client = resource.boto3_client()
    result = run(resource, raise_on_error=False, check_only=True)
    assert not result.success
    failure = result.failure_data_for_node("configure_archive_bucket").error.message
    assert f"bucket {resource.bucket} does not exist" in failure and "without check_only" in failure
    assert resource.bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}

    client.create_bucket(
        Bucket=resource.bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    result = run(resource, raise_on_error=False, check_only=True, enable_versioning=True)
    assert not result.success  # no lifecycle rule, versioning off
    assert (
        "lifecycle rule" in result.failure_data_for_node("configure_archive_bucket").error.message
    )
    with pytest.raises(ClientError, match="NoSuchLifecycleConfiguration"):
        client.get_bucket_lifecycle_configuration(Bucket=resource.bucket)

    run(resource)
    out = report(run(resource, check_only=True))
    assert out["problems"] == [] and out["write_test"] == "skipped" and out["changes"] == []


def test_an_existing_bucket_in_another_region_is_used_as_it_is(moto_server, moto_bucket_name):
    elsewhere = s3_bucket_resource(moto_server, moto_bucket_name, region="us-west-2")
    elsewhere.boto3_client().create_bucket(
        Bucket=moto_bucket_name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    out = report(run(s3_bucket_resource(moto_server, moto_bucket_name, region="us-east-1")))
    assert out["region"] == "us-west-2" and not out["created"]
    assert any("not us-east-1" in c for c in out["changes"])


def test_the_local_folder_flavour(tmp_path):
    folder = FolderBucket(root_dir=str(tmp_path / "archive"))
    assert not run(folder, raise_on_error=False, check_only=True).success
    out = report(run(folder))
    assert (
        out["created"]
        and out["write_test"].startswith("ok")
        and "not applicable" in out["lifecycle"]
    )
    assert list((tmp_path / "archive").rglob("*.*")) == []
    assert report(run(folder))["changes"] == []


# Stores without (some) lifecycle support: the job ends with a sentence naming what the store
# lacks, after creating the bucket and proving it can be written, never with a botocore error.


@pytest.fixture(scope="module")
def rclone_server(tmp_path_factory):
    from ..servers.rclone_s3 import rclone_s3_server

    with rclone_s3_server(tmp_path_factory.mktemp("rclone") / "data") as server:
        yield server


def failure(result: dg.ExecuteInProcessResult) -> tuple[str, dict]:
    event = result.failure_data_for_node("configure_archive_bucket")
    assert event is not None and event.user_failure_data is not None, (
        "expected a dg.Failure, got an error"
    )
    meta = {k: getattr(v, "value", v) for k, v in event.user_failure_data.metadata.items()}
    return event.error.message, meta


def test_a_store_refusing_glacier_transitions_is_named_not_a_traceback(s3_server, moto_bucket_name):
    # SeaweedFS keeps expiration rules but answers NotImplemented to a transition to GLACIER.
    resource = s3_bucket_resource(s3_server, moto_bucket_name)
    message, meta = failure(run(resource, raise_on_error=False))

    assert (
        "store lacks a feature" in message
        and "does not accept a lifecycle rule moving objects to GLACIER" in message
    )
    assert (
        "NotImplemented" in message
        and f"s3://{moto_bucket_name} at {s3_server.endpoint_url}" in message
    )
    assert (
        "under cache/ will stay in their storage class" in message and "ClientError" not in message
    )
    assert meta["lifecycle"] == "not supported by this store" and meta["created"] is True
    assert meta["write_test"].startswith("ok")
    assert moto_bucket_name in {b["Name"] for b in s3_server.client().list_buckets()["Buckets"]}


def test_a_store_without_lifecycle_or_versioning_says_both(rclone_server, moto_bucket_name):
    resource = s3_bucket_resource(rclone_server, moto_bucket_name)
    message, meta = failure(run(resource, raise_on_error=False, enable_versioning=True))

    # rclone reads PUT ?lifecycle as "create bucket" and has no versioning at all.
    assert (
        "does not accept a lifecycle rule moving objects to GLACIER" in message
        and "BucketAlreadyExists" in message
    )
    assert (
        "has no object versioning (PutBucketVersioning answered HTTP 501 NotImplemented" in message
    )
    assert meta["lifecycle"] == meta["versioning"] == "not supported by this store"
    assert meta["created"] is True and meta["write_test"].startswith("ok")

    # Asked again, it says the same, creates nothing and does not fail differently.
    again, meta = failure(run(resource, raise_on_error=False, enable_versioning=True))
    assert (
        "does not accept a lifecycle rule" in again
        and meta["existed"] is True
        and meta["created"] is False
    )


def test_an_unreachable_store_is_a_sentence_too(moto_bucket_name):
    from ..servers.seaweed import S3Server, free_ports

    (port,) = free_ports(1)
    nowhere = S3Server(f"http://127.0.0.1:{port}", "AKNOBODY", "secret")
    result = run(s3_bucket_resource(nowhere, moto_bucket_name, max_retries=1), raise_on_error=False)
    message, _ = failure(result)
    assert (
        f"cannot set up s3://{moto_bucket_name} at http://127.0.0.1:{port}" in message
        and "network" in message
    )
