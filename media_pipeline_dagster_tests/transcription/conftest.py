"""Fixtures of the transcription tests: the OpenAI fake, and resources wired to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster_openai import OpenAIResource

from media_pipeline_dagster.resources.databases import CatalogResource
from media_pipeline_dagster.resources.fetch import FetchPolicyResource
from media_pipeline_dagster.resources.transcriber.resource import TranscriberResource

from ..servers.openai_fake import OpenAIFake, openai_server


@pytest.fixture(scope="session")
def openai_fake_server() -> Iterator[OpenAIFake]:
    with openai_server() as server:
        yield server


@pytest.fixture
def openai_fake(openai_fake_server: OpenAIFake) -> OpenAIFake:
    openai_fake_server.clear_faults()
    openai_fake_server.set_budget(None)
    openai_fake_server.reset()
    return openai_fake_server


def openai_transcriber(
    server: OpenAIFake, api_key: str | None = None, **fields
) -> TranscriberResource:
    return TranscriberResource(
        provider="openai",
        openai=OpenAIResource(api_key=api_key or server.api_key, base_url=server.base_url),
        request_timeout_seconds=fields.pop("request_timeout_seconds", 20.0),
        **fields,
    )


@pytest.fixture
def openai_resources(pg_url, object_store, openai_fake) -> dict:
    return {
        "catalog": CatalogResource(database_url=pg_url),
        "object_store": object_store,
        "transcriber": openai_transcriber(openai_fake),
        "fetch_policy": FetchPolicyResource(
            allow_networks=["127.0.0.1/32"]
        ),  # the test origin is on loopback
    }
