"""transcriptions through the real openai SDK against a local server speaking the audio API."""

from __future__ import annotations

import hashlib

import pytest

from .conftest import openai_transcriber
from .helpers import checks, materialize, metadata, seed_audio, table, wav_bytes


def seed(resources, seconds=(3.0, 4.0, 5.0)) -> list[int]:
    return seed_audio(
        resources["catalog"].engine,
        resources["object_store"],
        [wav_bytes(s, freq=300 + 50 * i) for i, s in enumerate(seconds)],
    )


def rows(resources, name="transcriptions"):
    return table(resources["catalog"].engine, name)


def test_whisper_verbose_json_with_word_timestamps(instance, openai_resources, openai_fake):
    ids = seed(openai_resources)
    result = materialize(instance, openai_resources, timestamps="word", language="de")
    meta = metadata(result)
    assert meta["transcribed"] == 3 and meta["failed"] == 0
    assert meta["audio_minutes"] == pytest.approx(12.0 / 60, abs=0.01)
    assert meta["estimated_cost_usd_by_model"] == {
        "whisper-1": pytest.approx(0.006 * 12 / 60, abs=1e-4)
    }
    assert all(checks(result).values())
    sent = openai_fake.requests
    assert len(sent) == 3 and {r.model for r in sent} == {"whisper-1"}
    assert {r.response_format for r in sent} == {"verbose_json"} and {r.language for r in sent} == {
        "de"
    }
    assert all(set(r.timestamp_granularities) == {"segment", "word"} for r in sent)
    done = rows(openai_resources)
    assert [r.audio_file_id for r in done] == ids
    for row in done:
        assert row.provider == "OpenAI" and row.model == "whisper-1" and row.status == "completed"
        assert row.segments and row.raw_response["words"] and row.completed_at is not None
        assert (
            row.metadata["b2_transcript_txt_key"].endswith(".txt") and row.metadata["cost_usd"] > 0
        )
        assert row.segments[-1]["end"] == pytest.approx(row.metadata["duration"], abs=0.01)


def test_expected_language_setting_is_sent_to_openai_and_a_run_may_override_it(
    instance, openai_resources, openai_fake
):
    seed(openai_resources, seconds=(1.0, 2.0))
    resources = {**openai_resources, "transcriber": openai_transcriber(openai_fake, language="de")}
    meta = metadata(materialize(instance, resources, limit=1))
    assert meta["expected_language"] == "de" and [r.language for r in openai_fake.requests] == [
        "de"
    ]
    assert metadata(materialize(instance, resources, language="en"))["expected_language"] == "en"
    assert [r.language for r in openai_fake.requests] == ["de", "en"]


@pytest.mark.parametrize("model", ["gpt-4o-transcribe", "gpt-4o-mini-transcribe"])
def test_gpt4o_models_json_with_token_usage_cost(instance, openai_resources, openai_fake, model):
    seed(openai_resources, seconds=(3.0,))
    meta = metadata(materialize(instance, openai_resources, model=model))
    assert meta["transcribed"] == 1
    (sent,) = openai_fake.requests
    assert (
        sent.model == model and sent.response_format == "json" and not sent.timestamp_granularities
    )
    (row,) = rows(openai_resources)
    assert row.model == model and row.transcript_text and row.metadata["usage"]["type"] == "tokens"
    assert row.metadata["cost_usd"] > 0 and meta["estimated_cost_usd"] > 0


def test_diarize_stores_speakers_and_chunking_strategy(instance, openai_resources, openai_fake):
    seed(openai_resources, seconds=(40.0,))
    materialize(instance, openai_resources, model="gpt-4o-transcribe-diarize")
    (sent,) = openai_fake.requests
    assert sent.response_format == "diarized_json" and sent.chunking_strategy == "auto"
    (row,) = rows(openai_resources)
    assert row.diarization["chunking_strategy"] == "auto" and row.diarization["speakers"]
    assert all("speaker" in s for s in row.segments)


def test_429_honours_retry_after_and_gives_the_slot_away(instance, openai_resources, openai_fake):
    seed(openai_resources, seconds=(1.0, 1.5, 2.0, 2.5))
    openai_fake.set_faults(rate_limit_next=3, retry_after=0.3)
    meta = metadata(materialize(instance, openai_resources, concurrency=2))
    assert meta["transcribed"] == 4 and meta["rate_limited_retries"] == 3 and meta["failed"] == 0
    sent = openai_fake.requests
    assert [r.status for r in sent].count(429) == 3 and len(sent) == 7
    # the rate-limited files waited out Retry-After; meanwhile the freed slots served other files
    limited = [r.time for r in sent if r.status == 429]
    served = sorted(r.time for r in sent if r.status == 200)
    assert served[-1] - limited[-1] >= 0.29
    assert any(limited[0] < t < limited[0] + 0.29 for t in served)


def test_requests_are_paced_by_the_budget_the_api_reports_not_by_its_429s(
    instance, openai_resources, openai_fake
):
    seed(openai_resources, seconds=(1.0,) * 8)
    openai_fake.set_budget(120, rpm_burst=2)  # 2 requests per second, at most 2 at once
    meta = metadata(materialize(instance, openai_resources, concurrency=4))
    assert meta["transcribed"] == 8 and meta["failed"] == 0
    assert openai_fake.counts[429] == 0 and meta["rate_limited_retries"] == 0
    assert meta["requests_per_minute_allowed"] == 120 and meta["paced_wait_seconds"] > 0


def test_the_same_budget_without_pacing_is_met_with_429s(instance, openai_resources, openai_fake):
    """The setting above does bite: unpaced, 4 files at once against 2 per second get 429s."""
    seed(openai_resources, seconds=(1.0,) * 8)
    openai_fake.set_budget(120, rpm_burst=2)
    resources = {
        **openai_resources,
        "transcriber": openai_transcriber(openai_fake, pace_requests=False),
    }
    meta = metadata(materialize(instance, resources, concurrency=4))
    assert (
        meta["transcribed"] == 8
        and openai_fake.counts[429] > 0
        and meta["rate_limited_retries"] > 0
    )


def test_persistent_5xx_is_transient_with_cooldown_then_cleared_by_success(
    instance, openai_resources, openai_fake
):
    (audio_id,) = seed(openai_resources, seconds=(2.0,))
    openai_fake.set_faults(server_error_next=100)
    meta = metadata(materialize(instance, openai_resources))
    assert meta["failed"] == 1 and meta["failed_by_reason"] == {"transient: 500 from OpenAI": 1}
    assert len(openai_fake.requests) == 3  # the run's own retries
    (failure,) = rows(openai_resources, "transcription_failures")
    assert (
        failure.status == "transient"
        and failure.error_code == 500
        and failure.ignore_until is not None
    )
    assert rows(openai_resources, "transcription_claims") == []
    # in cooldown: the next run does not call the API
    openai_fake.clear_faults()
    openai_fake.reset()
    again = metadata(materialize(instance, openai_resources))
    assert again["skipped_by_reason"]["cooling_down"] == 1 and openai_fake.requests == []
    # a run with cooldown over (here: asked to retry failures) succeeds and clears the failure
    third = metadata(materialize(instance, openai_resources, retry_failed=True))
    assert third["transcribed"] == 1
    assert rows(openai_resources, "transcription_failures") == []
    assert [r.audio_file_id for r in rows(openai_resources)] == [audio_id]


def test_invalid_audio_is_permanent_and_not_retried(instance, openai_resources, openai_fake):
    bad = wav_bytes(2.0, freq=999)
    good_ids = seed(openai_resources, seconds=(2.0,))
    (bad_id,) = seed_audio(
        openai_resources["catalog"].engine,
        openai_resources["object_store"],
        [bad],
        day="2025-08-27",
    )
    openai_fake.set_faults(invalid_files=(hashlib.sha256(bad).hexdigest(),))
    meta = metadata(materialize(instance, openai_resources))
    assert meta["transcribed"] == 1 and meta["failed"] == 1
    (failure,) = rows(openai_resources, "transcription_failures")
    assert (
        failure.audio_file_id == bad_id
        and failure.status == "permanent"
        and failure.error_code == 400
    )
    openai_fake.reset()
    again = metadata(materialize(instance, openai_resources))
    assert again["skipped_by_reason"]["permanent_failure"] == 1 and openai_fake.requests == []
    assert [r.audio_file_id for r in rows(openai_resources)] == good_ids


ACCOUNT_ERRORS = {  # what OpenAI answers when the account, not the file, is the problem
    "insufficient_quota": (
        {"insufficient_quota": True},
        None,
        "429 insufficient_quota: You exceeded your current quota",
    ),
    "invalid_api_key": (
        {},
        "wrong-key",
        "401 invalid_api_key (the API key was refused): Incorrect API key provided",
    ),
    "forbidden": ({"forbidden": True}, None, "403 unsupported_country_region_territory"),
}


@pytest.mark.parametrize("case", sorted(ACCOUNT_ERRORS))
def test_account_errors_stop_the_run_at_once_and_park_nothing(
    instance, openai_resources, openai_fake, case
):
    faults, api_key, expected = ACCOUNT_ERRORS[case]
    ids = seed(openai_resources, seconds=(1.0, 1.5, 2.0, 2.5, 3.0, 3.5))
    openai_fake.set_faults(**faults)
    resources = {
        **openai_resources,
        "transcriber": openai_transcriber(openai_fake, api_key=api_key),
    }
    result = materialize(instance, resources, raise_on_error=False, concurrency=2)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert expected in failure, failure
    sent = openai_fake.requests
    assert 1 <= len(sent) <= 2 and len({r.file_sha256 or r.seq for r in sent}) == len(
        sent
    )  # no file retried
    for name in ("transcriptions", "transcription_failures", "transcription_claims"):
        assert rows(openai_resources, name) == []  # claims handed back, no cooldown written
    # once the account is fixed, the very next run transcribes everything: nothing was parked
    openai_fake.clear_faults()
    meta = metadata(materialize(instance, openai_resources))
    assert meta["transcribed"] == len(ids) and meta["skipped"] == 0


def test_ordinary_rate_limits_are_still_retried_and_never_stop_the_run(
    instance, openai_resources, openai_fake
):
    seed(openai_resources, seconds=(1.0, 1.5))
    openai_fake.set_faults(rate_limit_next=2, retry_after=0.1)
    meta = metadata(materialize(instance, openai_resources, concurrency=1))
    assert meta["transcribed"] == 2 and meta["failed"] == 0 and meta["rate_limited_retries"] == 2


def test_unknown_model_fails_before_any_request(instance, openai_resources, openai_fake):
    seed(openai_resources)
    result = materialize(instance, openai_resources, model="whisper-2", raise_on_error=False)
    assert not result.success and openai_fake.requests == []
    assert (
        "unknown OpenAI transcription model 'whisper-2'"
        in result.get_step_failure_events()[0].step_failure_data.error.message
    )


def test_dry_run_lists_without_calling(instance, openai_resources, openai_fake):
    seed(openai_resources)
    meta = metadata(materialize(instance, openai_resources, dry_run=True, limit=2))
    assert meta["pending_at_start"] == 2 and "transcriptions/json" in meta["plan_preview"]
    assert openai_fake.requests == [] and rows(openai_resources, "transcription_claims") == []


def test_audio_without_object_is_read_from_its_url(instance, openai_resources, openai_fake, origin):
    import sqlalchemy as sa

    body = wav_bytes(2.0, freq=777)
    engine = openai_resources["catalog"].engine
    ok_id, gone_id = seed_audio(
        engine, openai_resources["object_store"], [body, wav_bytes(1.0)], with_object=False
    )
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE media_pipeline.audio_files SET url = :u WHERE id = :i"),
            [
                {"u": origin.add_file("/calls/legacy.wav", body, "audio/wav"), "i": ok_id},
                {"u": origin.url("/fault/404/gone.wav"), "i": gone_id},
            ],
        )
    meta = metadata(materialize(instance, openai_resources))
    assert meta["transcribed"] == 1 and meta["failed"] == 1
    (sent,) = openai_fake.requests
    assert sent.file_sha256 == hashlib.sha256(body).hexdigest()
    (row,) = rows(openai_resources)
    assert row.metadata["audio_source"] == "url"
    (failure,) = rows(openai_resources, "transcription_failures")
    assert (
        failure.audio_file_id == gone_id
        and failure.status == "permanent"
        and failure.error_code == 404
    )


def test_limit_then_force_updates_in_place(instance, openai_resources, openai_fake):
    ids = seed(openai_resources)
    assert metadata(materialize(instance, openai_resources, limit=2))["transcribed"] == 2
    assert metadata(materialize(instance, openai_resources))["transcribed"] == 1
    first = {r.audio_file_id: r.completed_at for r in rows(openai_resources)}
    openai_fake.reset()
    again = metadata(
        materialize(instance, openai_resources, force=True, model="gpt-4o-mini-transcribe")
    )
    assert again["transcribed"] == 3 and len(openai_fake.requests) == 3
    done = rows(openai_resources)
    assert [r.audio_file_id for r in done] == ids  # still one row per file
    assert all(
        r.model == "gpt-4o-mini-transcribe" and r.completed_at > first[r.audio_file_id]
        for r in done
    )
