"""The OpenAPI document is the contract: schemathesis fuzzes the real app (uvicorn, PostgreSQL,
SeaweedFS, the audio origin) from the document it serves, with positive and negative data.

Every answer must be documented (status, content type, body schema), none may be a 5xx,
and every protected operation must answer 401 to the same request without its key.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from media_pipeline_dagster.gateway.api import create_app

from .conftest import KEY, seed_recordings, served

H = {"X-API-Key": KEY}
MAX_EXAMPLES = 40  # per operation and mode: bounded
CONFIG = schemathesis.Config.from_dict({"generation": {"max-examples": MAX_EXAMPLES}})


@schemathesis.check
def protected_without_key(ctx, response, case):
    """The same request without the key is refused with 401 (only /healthz is public)."""
    if case.path == "/healthz":
        return
    headers = {
        k: v
        for k, v in (case.headers or {}).items()
        if k.lower() not in ("x-api-key", "authorization")
    }
    anonymous = case.call(headers={**headers, "X-API-Key": ""})
    if anonymous.status_code != 401:
        raise AssertionError(
            f"{case.method} {case.formatted_path} without a key answered {anonymous.status_code}, not 401"
        )
    return


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    ignored_auth,
    protected_without_key,
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_gateway_does_what_its_document_says(gateway_settings, pg_url, origin, mode):
    seed_recordings(
        pg_url,
        [
            {"id": str(i), "url": origin.url(f"/gen/2000/vr/PR_contract-{i}.mp3")}
            for i in range(1, 6)
        ],
    )
    gateway_settings.rate_limit_per_minute = (
        0  # the fuzzer is one key sending fast; the limits have their own tests
    )
    gateway_settings.auth_failures_per_minute = 0
    with served(create_app(gateway_settings)) as base:
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json", config=CONFIG, headers=H)
        schema.config.update(base_url=base)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.label for op in operations} == {
            "POST /api/media/transcribe",
            "GET /api/media/status/{audio_file_id}",
            "POST /api/media/rerun/{audio_file_id}",
            "GET /healthz",
            "GET /metrics",
        }
        for operation in operations:
            if mode is GenerationMode.NEGATIVE and operation.path in ("/healthz", "/metrics"):
                continue  # no inputs to get wrong

            @given(case=operation.as_strategy(mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def fuzz(case):
                case.call_and_validate(headers=H, checks=CHECKS)

            fuzz()


def test_the_document_states_the_form_rule_and_every_error(gateway_settings):
    with served(create_app(gateway_settings)) as base:
        spec = requests.get(f"{base}/openapi.json", headers=H, timeout=10).json()
    form = spec["components"]["schemas"]["TranscribeForm"]
    assert [rule["required"] for rule in form["anyOf"]] == [["recording_id"], ["url"]]
    submit = spec["paths"]["/api/media/transcribe"]["post"]["responses"]
    assert set(submit) == {"200", "400", "401", "404", "409", "413", "422", "429", "503", "504"}
    assert spec["components"]["schemas"]["ErrorBody"]["properties"]["detail"]["type"] == "string"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                assert answer.get("content"), f"{method} {path} {status} has no documented body"
