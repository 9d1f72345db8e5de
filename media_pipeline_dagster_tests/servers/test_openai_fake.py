"""The fake OpenAI transcription server, driven by the real ``openai`` SDK."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import requests
from openai.types.audio import Transcription, TranscriptionDiarized, TranscriptionVerbose

from media_pipeline_dagster_tests.servers.fixtures_audio import (
    encoded_bytes,
    wav_bytes,
    wav_bytes_of_size,
)
from media_pipeline_dagster_tests.servers.openai_fake import MAX_REQUEST_BYTES, openai_server

WAV_12S = wav_bytes(12.3)
SHA_12S = hashlib.sha256(WAV_12S).hexdigest()


@pytest.fixture(scope="module")
def server():
    with openai_server(api_key="test-key") as s:
        yield s


@pytest.fixture(autouse=True)
def _clean(server):
    server.clear_faults()
    server.reset()
    yield


def _client(server, max_retries=0, **kw) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.base_url, api_key="test-key", max_retries=max_retries, **kw
    )


def _create(server, data=WAV_12S, name="call.wav", max_retries=0, **kw):
    return _client(server, max_retries).audio.transcriptions.create(file=(name, data), **kw)


def _message(exc) -> str:
    """The error envelope's message (the SDK's own .message adds an 'Error code' prefix)."""
    return exc.value.body["message"]


def _assert_covers(spans, duration):
    """Segments start at 0, touch each other, and end exactly at the duration."""
    assert spans[0][0] == 0.0 and spans[-1][1] == duration
    for (a, b), (c, _) in itertools.pairwise(spans):
        assert a < b == c


# -- shapes ---------------------------------------------------------------------------


def test_whisper_json_has_text_and_duration_usage(server):
    r = _create(server, model="whisper-1")
    assert isinstance(r, Transcription)
    assert r.text == " ".join(f"Audio {SHA_12S[:8]} part {i} of 3." for i in (1, 2, 3))
    assert r.usage.type == "duration" and r.usage.seconds == 13


def test_whisper_verbose_json_segments_by_default(server):
    r = _create(server, model="whisper-1", response_format="verbose_json", language="de")
    assert isinstance(r, TranscriptionVerbose)
    assert (r.duration, r.language, r.words) == (12.3, "german", None)
    assert [s.id for s in r.segments] == [0, 1, 2]
    _assert_covers([(s.start, s.end) for s in r.segments], 12.3)
    assert r.text == " ".join(s.text.strip() for s in r.segments)
    assert all(s.tokens and s.seek == 0 and s.temperature == 0.0 for s in r.segments)


@pytest.mark.parametrize("grans", [["word"], ["word", "segment"], ["segment"]])
def test_whisper_verbose_json_granularities(server, grans):
    r = _create(
        server, model="whisper-1", response_format="verbose_json", timestamp_granularities=grans
    )
    assert (r.segments is not None) == ("segment" in grans)
    assert (r.words is not None) == ("word" in grans)
    if r.words:
        assert [w.word for w in r.words] == r.text.replace(".", "").split()
        assert r.words[-1].end == 12.3
        assert all(a.start < a.end <= b.start for a, b in zip(r.words, r.words[1:]))
    assert server.requests[-1].timestamp_granularities == tuple(grans)


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_whisper_plain_text_formats(server, fmt):
    r = _create(server, model="whisper-1", response_format=fmt)
    assert isinstance(r, str)
    if fmt == "text":
        assert r == " ".join(f"Audio {SHA_12S[:8]} part {i} of 3." for i in (1, 2, 3)) + "\n"
    elif fmt == "srt":
        assert r.startswith("1\n00:00:00,000 --> 00:00:04,100\nAudio ")
        assert "3\n00:00:08,200 --> 00:00:12,300\n" in r
    else:
        assert r.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:04.100\nAudio ")
        assert "00:00:08.200 --> 00:00:12.300\n" in r


@pytest.mark.parametrize(
    "model", ["gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize"]
)
def test_gpt4o_json_has_token_usage(server, model):
    r = _create(server, model=model, response_format="json")
    assert isinstance(r, Transcription) and r.text.startswith(f"Audio {SHA_12S[:8]} part 1")
    u = r.usage
    assert u.type == "tokens" and u.input_token_details.audio_tokens == 123
    assert u.input_tokens + u.output_tokens == u.total_tokens and u.output_tokens > 0
    assert _create(server, model=model, response_format="text").endswith("of 3.\n")


def test_prompt_counts_as_text_tokens(server):
    r = _create(server, model="gpt-4o-mini-transcribe", prompt="Names: Ada, Grace.")
    assert r.usage.input_token_details.text_tokens == 3
    assert server.requests[-1].prompt == "Names: Ada, Grace."


def test_diarized_json_segments_have_speakers(server):
    r = _create(server, model="gpt-4o-transcribe-diarize", response_format="diarized_json")
    assert isinstance(r, TranscriptionDiarized)
    assert (r.task, r.duration, r.usage.type) == ("transcribe", 12.3, "tokens")
    assert [(s.id, s.speaker, s.type) for s in r.segments] == [
        ("seg_0", "A", "transcript.text.segment"),
        ("seg_1", "B", "transcript.text.segment"),
        ("seg_2", "A", "transcript.text.segment"),
    ]
    _assert_covers([(s.start, s.end) for s in r.segments], 12.3)
    assert r.text == " ".join(s.text for s in r.segments)


def test_long_audio_gets_one_segment_per_five_seconds_at_most(server):
    r = _create(
        server, wav_bytes(61.0, tone_hz=None), model="whisper-1", response_format="verbose_json"
    )
    assert len(r.segments) == 13 and max(s.end - s.start for s in r.segments) <= 5.0
    _assert_covers([(s.start, s.end) for s in r.segments], 61.0)
    # whisper seeks in 30 s windows of 100 frames/s: 0, 3000, 6000 ...
    assert [s.seek for s in r.segments] == [int(s.start // 30) * 3000 for s in r.segments]
    assert {s.seek for s in r.segments} == {0, 3000}


def test_set_transcript_overrides_the_words(server):
    data = wav_bytes(10.0)
    server.set_transcript(hashlib.sha256(data).hexdigest(), "hello brave new world")
    r = _create(
        server,
        data,
        model="whisper-1",
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert r.text == "hello brave new world"
    assert [s.text for s in r.segments] == [" hello brave", " new world"]
    assert [(w.word, w.start, w.end) for w in r.words] == [
        ("hello", 0.0, 2.5),
        ("brave", 2.5, 5.0),
        ("new", 5.0, 7.5),
        ("world", 7.5, 10.0),
    ]


@pytest.mark.parametrize("fmt", ["flac", "mp3", "ogg", "webm", "mp4"])
def test_compressed_audio_duration_measured_with_pyav(server, fmt):
    r = _create(
        server,
        encoded_bytes(7.0, fmt),
        name=f"call.{fmt}",
        model="whisper-1",
        response_format="verbose_json",
    )
    assert r.duration == pytest.approx(7.0, abs=0.05)


def test_audio_pyav_cannot_measure_gets_default_duration():
    data = b"\xff\xfb\x90\x64" + os.urandom(4096)  # an MP3 frame header, then noise
    with openai_server(default_duration=42.0) as s:
        r = _create(s, data, name="x.mp3", model="whisper-1", response_format="verbose_json")
    assert r.duration == 42.0


def test_request_log_records_what_was_sent(server):
    _create(
        server,
        model="gpt-4o-transcribe-diarize",
        response_format="diarized_json",
        chunking_strategy={"type": "server_vad", "threshold": 0.4, "silence_duration_ms": 300},
        language="en",
        temperature=0.2,
    )
    _create(server, model="gpt-4o-transcribe-diarize", chunking_strategy="auto")
    first, second = server.requests
    assert first.chunking_strategy == {
        "type": "server_vad",
        "threshold": 0.4,
        "silence_duration_ms": 300,
    }
    assert (first.model, first.response_format, first.language, first.temperature) == (
        "gpt-4o-transcribe-diarize",
        "diarized_json",
        "en",
        0.2,
    )
    assert (first.file_name, first.file_size, first.file_sha256, first.api_key) == (
        "call.wav",
        len(WAV_12S),
        SHA_12S,
        "test-key",
    )
    assert (first.status, first.duration, first.fault) == (200, 12.3, None)
    assert second.chunking_strategy == "auto" and second.response_format is None
    assert second.seq == 2 and second.time >= first.time and server.counts[200] == 2


def test_chunking_strategy_as_json_string_accepted(server):
    body = {"model": "gpt-4o-transcribe-diarize", "chunking_strategy": '{"type": "server_vad"}'}
    r = requests.post(
        server.base_url + "/audio/transcriptions",
        data=body,
        files={"file": ("a.wav", WAV_12S)},
        headers={"Authorization": "Bearer test-key"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert server.requests[-1].chunking_strategy == {"type": "server_vad"}


# -- validation -----------------------------------------------------------------------


def test_wrong_api_key_is_401_and_not_echoed(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-secret-value-1234", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as exc:
        client.audio.transcriptions.create(file=("a.wav", WAV_12S), model="whisper-1")
    assert exc.value.status_code == 401 and exc.value.code == "invalid_api_key"
    assert "secret-value" not in str(exc.value) and "sk-********1234" in str(exc.value)
    assert server.requests[-1].api_key == "sk-secret-value-1234"


def test_missing_api_key_is_401(server):
    r = requests.post(
        server.base_url + "/audio/transcriptions",
        data={"model": "whisper-1"},
        files={"file": ("a.wav", WAV_12S)},
        timeout=10,
    )
    assert r.status_code == 401
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert r.json()["error"]["message"].startswith("You didn't provide an API key")


def test_unknown_path_is_404(server):
    r = requests.post(
        server.base_url + "/audio/translations",
        data={"model": "whisper-1"},
        headers={"Authorization": "Bearer test-key"},
        timeout=10,
    )
    assert r.status_code == 404 and "Invalid URL" in r.json()["error"]["message"]


def test_unknown_model_is_404(server):
    with pytest.raises(openai.NotFoundError) as exc:
        _create(server, model="whisper-2")
    assert exc.value.code == "model_not_found"


@pytest.mark.parametrize(
    "model,fmt",
    [
        ("gpt-4o-transcribe", "verbose_json"),
        ("gpt-4o-mini-transcribe", "srt"),
        ("gpt-4o-transcribe-diarize", "verbose_json"),
        ("whisper-1", "diarized_json"),
    ],
)
def test_response_format_not_allowed_for_model(server, model, fmt):
    with pytest.raises(openai.BadRequestError) as exc:
        _create(server, model=model, response_format=fmt)
    assert (exc.value.param, exc.value.code) == ("response_format", "unsupported_value")
    assert f"response_format '{fmt}' is not compatible with model '{model}'" in _message(exc)


def test_unknown_response_format(server):
    with pytest.raises(openai.BadRequestError) as exc:
        _create(server, model="whisper-1", response_format="xml")
    assert exc.value.code == "invalid_value"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_timestamp_granularities_need_verbose_json(server, fmt):
    with pytest.raises(openai.BadRequestError) as exc:
        _create(server, model="whisper-1", response_format=fmt, timestamp_granularities=["word"])
    assert exc.value.param == "timestamp_granularities"


@pytest.mark.parametrize(
    "kw,param",
    [
        ({"temperature": 1.5}, "temperature"),
        ({"chunking_strategy": {"type": "semantic"}}, "chunking_strategy"),
        ({"prompt": "Names: Ada"}, "prompt"),
    ],
)
def test_bad_parameters(server, kw, param):
    with pytest.raises(openai.BadRequestError) as exc:
        _create(server, model="gpt-4o-transcribe-diarize", **kw)
    assert exc.value.param == param


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("notes.wav", b"this is a text file, not audio", "Invalid file format. Supported formats:"),
        ("page.mp3", b"<!DOCTYPE html><html></html>", "Invalid file format. Supported formats:"),
        ("call.txt", WAV_12S, "Invalid file format. Supported formats:"),
        ("cut.wav", WAV_12S[:20], "Audio file might be corrupted or unsupported"),
        ("blip.wav", wav_bytes(0.05), "Audio file is too short"),
    ],
)
def test_undecodable_audio_is_400(server, name, data, message):
    with pytest.raises(openai.BadRequestError) as exc:
        _create(server, data, name=name, model="whisper-1")
    assert _message(exc).startswith(message)
    assert exc.value.type == "invalid_request_error" and exc.value.status_code == 400
    assert len(server.requests) == 1  # a 400 is not retried


def test_request_body_limit_is_413_like_the_real_api(server):
    ok = wav_bytes_of_size(MAX_REQUEST_BYTES - 4096)
    assert _create(server, ok, model="whisper-1", response_format="verbose_json").duration > 800
    with pytest.raises(openai.APIStatusError) as exc:
        _create(server, wav_bytes_of_size(MAX_REQUEST_BYTES + 1), model="whisper-1", max_retries=2)
    assert exc.value.status_code == 413 and exc.value.type == "server_error"
    assert _message(exc).startswith("Maximum content size limit (26214400) exceeded (")
    assert [r.status for r in server.requests] == [200, 413]  # not retried


def test_diarize_needs_chunking_strategy_above_30_seconds(server):
    long = wav_bytes(31.0, tone_hz=None)
    with pytest.raises(openai.BadRequestError) as exc:
        _create(server, long, model="gpt-4o-transcribe-diarize", response_format="diarized_json")
    assert (exc.value.param, exc.value.code) == ("chunking_strategy", "invalid_value")
    r = _create(
        server,
        long,
        model="gpt-4o-transcribe-diarize",
        response_format="diarized_json",
        chunking_strategy="auto",
    )
    assert r.duration == 31.0
    assert _create(server, wav_bytes(30.0, tone_hz=None), model="gpt-4o-transcribe-diarize").text
    assert _create(server, long, model="gpt-4o-transcribe").text  # only diarize needs it


def test_diarize_rejects_audio_over_1400_seconds(server):
    data = wav_bytes(1400.5, sample_rate=8000, tone_hz=None)  # 22 MB, under the body limit
    with pytest.raises(openai.BadRequestError) as exc:
        _create(server, data, model="gpt-4o-transcribe-diarize", chunking_strategy="auto")
    assert "longer than 1400 seconds" in _message(exc)
    assert _create(server, data, model="whisper-1").text


# -- faults ---------------------------------------------------------------------------


def test_429_retry_after_is_honoured_by_sdk_retries(server):
    server.set_faults(rate_limit_next=1, retry_after=1.2)
    assert _create(server, model="whisper-1", max_retries=2).text
    first, second = server.requests
    assert (first.status, first.fault, second.status) == (429, "rate_limit", 200)
    # The SDK's own first backoff is at most 0.5 s: a longer gap is the Retry-After.
    assert second.time - first.time >= 1.2


def test_429_without_retries_raises_with_header(server):
    server.set_faults(rate_limit_next=1, retry_after=7)
    with pytest.raises(openai.RateLimitError) as exc:
        _create(server, model="whisper-1")
    assert exc.value.response.headers["retry-after"] == "7"
    assert exc.value.code == "rate_limit_exceeded"
    assert _create(server, model="whisper-1").text  # only the next one was limited


def test_429_every_kth_request(server):
    server.set_faults(rate_limit_every=3, retry_after=0)
    statuses = []
    for _ in range(9):
        try:
            _create(server, model="whisper-1")
            statuses.append(200)
        except openai.RateLimitError:
            statuses.append(429)
    assert statuses == [200, 200, 429] * 3
    assert server.counts == {200: 6, 429: 3}


def test_500_then_sdk_retry_succeeds(server):
    server.set_faults(server_error_next=1)
    with pytest.raises(openai.InternalServerError):
        _create(server, model="whisper-1")
    server.set_faults(server_error_next=2)
    assert _create(server, model="whisper-1", max_retries=2).text
    assert [r.status for r in server.requests] == [500, 500, 500, 200]


def test_faults_keyed_by_model(server):
    server.set_faults(rate_limit_next=1, model="gpt-4o-transcribe")
    assert _create(server, model="whisper-1").text
    with pytest.raises(openai.RateLimitError):
        _create(server, model="gpt-4o-transcribe")
    assert _create(server, model="gpt-4o-transcribe").text


def test_invalid_file_fault_by_name_or_sha(server):
    other = wav_bytes(3.0)
    server.set_faults(invalid_files=["broken.wav", hashlib.sha256(other).hexdigest()[:12]])
    for data, name in [(WAV_12S, "broken.wav"), (other, "fine-name.wav")]:
        with pytest.raises(openai.BadRequestError) as exc:
            _create(server, data, name=name, model="whisper-1", max_retries=2)
        assert _message(exc).startswith("Invalid file format")
    assert _create(server, WAV_12S, name="fine-name.wav", model="whisper-1").text
    assert [r.fault for r in server.requests] == ["invalid_file", "invalid_file", None]


def test_slow_fault_exceeds_client_timeout(server):
    server.set_faults(slow_next=1, slow_seconds=3.0)
    with pytest.raises(openai.APITimeoutError):
        _client(server, timeout=0.5).audio.transcriptions.create(
            file=("a.wav", WAV_12S), model="whisper-1"
        )
    assert (
        _client(server, timeout=0.5)
        .audio.transcriptions.create(file=("a.wav", WAV_12S), model="whisper-1")
        .text
    )


def test_clear_faults_and_unknown_fault(server):
    server.set_faults(rate_limit_next=5, latency=0.2)
    server.set_faults(server_error_next=1)  # merges with the settings above
    assert (server.faults.rate_limit_next, server.faults.server_error_next) == (5, 1)
    server.clear_faults()
    assert _create(server, model="whisper-1").text
    with pytest.raises(TypeError):
        server.set_faults(explode=True)


def test_latency_is_per_request_not_serialised():
    with openai_server(latency=0.3) as s:
        client = _client(s)

        def one(i):
            return client.audio.transcriptions.create(
                file=(f"{i}.wav", WAV_12S), model="whisper-1"
            ).text

        started = time.monotonic()
        with ThreadPoolExecutor(20) as pool:
            texts = list(pool.map(one, range(20)))
        elapsed = time.monotonic() - started
        assert len(texts) == 20 and s.counts[200] == 20
        assert s.max_in_flight >= 10
        assert elapsed >= 0.3


# -- account errors and request budgets -----------------------------------------------


def test_insufficient_quota_is_a_429_the_sdk_can_tell_from_a_rate_limit(server):
    server.set_faults(insufficient_quota=True)
    with pytest.raises(openai.RateLimitError) as exc:
        _create(server, model="whisper-1")
    assert exc.value.status_code == 429 and exc.value.code == "insufficient_quota"
    assert exc.value.type == "insufficient_quota" and _message(exc).startswith(
        "You exceeded your current quota"
    )
    assert "retry-after" not in exc.value.response.headers
    assert server.requests[-1].fault == "insufficient_quota"


def test_forbidden_is_403_request_forbidden(server):
    server.set_faults(forbidden=True)
    with pytest.raises(openai.PermissionDeniedError) as exc:
        _create(server, model="whisper-1")
    assert (
        exc.value.code == "unsupported_country_region_territory"
        and exc.value.type == "request_forbidden"
    )
    assert _message(exc) == "Country, region, or territory not supported"


def test_request_budget_headers_and_429_beyond_it():
    with openai_server(rpm_limit=60, rpm_burst=2) as s:
        client = _client(s)
        first = client.audio.transcriptions.with_raw_response.create(
            file=("a.wav", WAV_12S), model="whisper-1"
        )
        assert first.headers["x-ratelimit-limit-requests"] == "60"
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        assert re.fullmatch(
            r"9\d\dms|1s", first.headers["x-ratelimit-reset-requests"]
        )  # ~1 s to refill one request
        client.audio.transcriptions.create(file=("a.wav", WAV_12S), model="whisper-1")
        with pytest.raises(openai.RateLimitError) as exc:
            client.audio.transcriptions.create(file=("a.wav", WAV_12S), model="whisper-1")
        headers = exc.value.response.headers
        assert exc.value.code == "rate_limit_exceeded" and exc.value.type == "requests"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert 0.5 < float(headers["retry-after"]) <= 1.0
        assert "on requests per min (RPM): Limit 60, Used 60" in _message(exc)
        assert [r.fault for r in s.requests] == [None, None, "rpm_budget"]


def test_request_budget_refills_continuously():
    from media_pipeline_dagster_tests.servers.openai_fake_faults import RequestBudget, go_duration

    now = [0.0]
    bucket = RequestBudget(600, burst=10, clock=lambda: now[0])  # one request per 100 ms
    for remaining in range(9, -1, -1):
        assert bucket.take("whisper-1")["x-ratelimit-remaining-requests"] == str(remaining)
    with pytest.raises(Exception) as exc:
        bucket.take("whisper-1")
    assert exc.value.status == 429 and exc.value.headers["x-ratelimit-reset-requests"] == "1s"
    now[0] = 0.25  # 2.5 requests refilled
    assert bucket.take("whisper-1")["x-ratelimit-remaining-requests"] == "1"
    assert [go_duration(s) for s in (0.012, 1.5, 360.0, 61.25)] == [
        "12ms",
        "1.5s",
        "6m0s",
        "1m1.25s",
    ]
