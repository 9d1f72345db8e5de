"""Failures cannot look like success: a broken bucket or catalog fails the run at once, with
one sentence naming the cause; failed files leave a green run but a WARN on the partition."""

from __future__ import annotations

import asyncio
import socket

import dagster as dg
import pytest

from media_pipeline_dagster.kernel.fetch import FetchPolicy, parse_networks
from media_pipeline_dagster.resources.bucket import StorageUnavailable
from media_pipeline_dagster.resources.databases import CatalogResource
from media_pipeline_dagster.resources.transfer import TransferJob, TransferSettings, run_transfers

from .helpers import (
    catalog_rows,
    check_evaluations,
    failure_message,
    failures,
    materialize,
    metadata,
    token,
    with_changes,
    write_csv,
)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def broken_store(store, case: str):
    return {
        "wrong secret": lambda: with_changes(store, secret_access_key="not-the-secret"),
        "unknown key id": lambda: with_changes(store, access_key_id="AKIA-NOBODY"),
        "missing bucket": lambda: with_changes(store, bucket=f"missing-{token()}"),
        "endpoint refuses connections": lambda: with_changes(
            store, endpoint_url=f"http://127.0.0.1:{closed_port()}"
        ),
        "endpoint does not resolve": lambda: with_changes(
            store, endpoint_url="http://b2-endpoint.invalid:9000"
        ),
    }[case]()


@pytest.mark.parametrize(
    "case,sentence",
    [
        ("wrong secret", "refused our credentials (HTTP 403 SignatureDoesNotMatch)"),
        ("unknown key id", "refused our credentials (HTTP 403 InvalidAccessKeyId)"),
        ("missing bucket", "does not exist (NoSuchBucket): create it or fix BACKBLAZE_B2_BUCKET"),
        ("endpoint refuses connections", "is unreachable (could not connect to the endpoint"),
        ("endpoint does not resolve", "host 'b2-endpoint.invalid' does not resolve"),
    ],
)
def test_broken_storage_fails_the_run_before_any_download(
    instance, pipeline_resources, inbox, origin, case, sentence
):
    t = token()
    urls = [origin.url(f"/gen/100/{t}/{i}.mp3") for i in range(12)]
    write_csv(inbox, [{"url": u} for u in urls])
    store = broken_store(pipeline_resources["object_store"], case)
    result = materialize(
        instance, {**pipeline_resources, "object_store": store}, raise_on_error=False
    )
    assert not result.success
    assert sentence in failure_message(result)
    assert (
        sum(origin.hits(u) for u in urls) == 0
    )  # nothing fetched against a bucket that cannot take it
    assert (
        catalog_rows(pipeline_resources) == [] and failures(pipeline_resources) == {}
    )  # no URL blamed


def test_a_403_on_upload_stops_every_transfer_and_is_never_retried(object_store, origin):
    """Without the preflight (e.g. a key that may list but not write): the first refused
    upload ends the batch; no file is downloaded again."""
    t = token()
    urls = [origin.url(f"/gen/2000/{t}/{i}.mp3") for i in range(6)]
    jobs = [TransferJob(u, f"k/{i}.mp3", "audio/mpeg") for i, u in enumerate(urls)]
    outcomes = []

    async def collect(outcome):
        outcomes.append(outcome)

    store = with_changes(object_store, secret_access_key="not-the-secret")
    with pytest.raises(
        StorageUnavailable,
        match=r"refused our credentials \(HTTP 403 SignatureDoesNotMatch\) \(PUT http",
    ):
        settings = TransferSettings(
            concurrency=2,
            max_attempts=4,
            backoff_base=0.01,
            fetch_policy=FetchPolicy(allowed_networks=parse_networks(["127.0.0.1/32"])),
        )
        asyncio.run(run_transfers(jobs, store, settings, collect))
    assert outcomes == []
    assert sum(origin.hits(u) for u in urls) <= 2  # at most the two in flight; none twice
    assert all(origin.hits(u) <= 1 for u in urls)


def test_unreachable_catalog_fails_the_run_naming_the_database(
    instance, pipeline_resources, inbox, origin
):
    write_csv(inbox, [{"url": origin.url(f"/gen/100/{token()}/a.mp3")}])
    catalog = CatalogResource(
        database_url=f"postgresql://postgres:s3cret@127.0.0.1:{closed_port()}/catalog"
    )
    result = materialize(instance, {**pipeline_resources, "catalog": catalog}, raise_on_error=False)
    message = failure_message(result)
    assert (
        "catalog database postgresql://postgres:***@127.0.0.1:" in message
        and "cannot be reached" in message
    )
    assert "Check DATABASE_URL" in message and "s3cret" not in message


def test_a_partition_whose_every_file_failed_is_not_clean(
    instance, pipeline_resources, inbox, origin
):
    t = token()
    write_csv(inbox, [{"url": origin.url(f"/fault/404/{t}/{i}.mp3")} for i in range(3)])
    result = materialize(instance, pipeline_resources)
    assert (
        result.success and metadata(result)["failed"] == 3
    )  # per-file failures keep the run green...
    evaluations = check_evaluations(result)
    ingested, objects = evaluations["all_rows_ingested"], evaluations["objects_in_bucket"]
    assert (
        not ingested.passed and ingested.severity == dg.AssetCheckSeverity.WARN
    )  # ...but never look clean
    assert ingested.metadata["reasons"].value.count("HTTP 404") == 3
    assert (
        not objects.passed and objects.metadata["rows_checked"].value == 0
    )  # nothing checked is not a pass
    assert objects.severity == dg.AssetCheckSeverity.WARN

    again = check_evaluations(
        materialize(instance, pipeline_resources)
    )  # the 404s are skipped now, still shown
    assert not again["all_rows_ingested"].passed
    assert (
        "failed before; not fetched again" in again["all_rows_ingested"].metadata["reasons"].value
    )
