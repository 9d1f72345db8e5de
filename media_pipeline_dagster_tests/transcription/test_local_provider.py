"""The local provider on real speech (espeak-ng sentences shipped as the demo's sample calls,
and a German one made with ``espeak-ng -v de`` kept beside these tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from media_pipeline_dagster.resources.databases import CatalogResource
from media_pipeline_dagster.resources.fetch import FetchPolicyResource
from media_pipeline_dagster.resources.transcriber import whisper_models
from media_pipeline_dagster.resources.transcriber.local_provider import (
    LocalWhisperProvider,
)
from media_pipeline_dagster.resources.transcriber.providers import (
    TranscribeRequest,
    TranscriptionError,
)
from media_pipeline_dagster.resources.transcriber.resource import TranscriberResource

from .helpers import SAMPLES, checks, materialize, metadata, seed_audio, table, wav_bytes

GERMAN = (
    Path(__file__).parent / "samples" / "de_dexter_sued.wav"
)  # "Guten Tag, hier spricht Anna von Dexter Süd. ..."
ENGLISH = SAMPLES / "PR_c9d8e7f6-a5b4-4c3d-2e1f-0a9b8c7d6e5f.wav"
SENTENCES = {
    "PR_b1c2d3e4-5f6a-4b7c-8d9e-0f1a2b3c4d5e.wav": "Good morning. We are calling to confirm your appointment on Friday",
    "PR_c9d8e7f6-a5b4-4c3d-2e1f-0a9b8c7d6e5f.wav": "The customer asked for a callback next week in the afternoon",
}


def words(text: str) -> set[str]:
    return {w.strip(".,?!").lower() for w in text.split() if len(w.strip(".,?!")) > 3}


@pytest.fixture(scope="module")
def provider() -> LocalWhisperProvider:
    return LocalWhisperProvider()


@pytest.mark.parametrize("name", sorted(SENTENCES))
def test_transcribes_the_spoken_sentence_with_word_timestamps(provider, name):
    transcript = provider.transcribe(
        SAMPLES / name, TranscribeRequest(model="tiny.en", timestamps="word")
    )
    expected = words(SENTENCES[name])
    heard = words(transcript.text.replace("call back", "callback"))
    assert len(expected & heard) >= len(expected) - 1, (transcript.text, expected - heard)
    assert transcript.language == "english" and 2.0 < transcript.duration < 10.0
    starts = [w["start"] for w in transcript.words]
    assert starts == sorted(starts) and transcript.words[-1]["end"] <= transcript.duration + 0.5
    assert {"id", "seek", "start", "end", "text", "tokens", "avg_logprob", "no_speech_prob"} <= set(
        transcript.segments[0]
    )
    json.dumps(transcript.raw)  # storable as JSONB


def test_undecodable_audio_is_a_permanent_failure(provider, tmp_path):
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"ID3" + b"\x00garbage" * 200)
    with pytest.raises(TranscriptionError) as err:
        provider.transcribe(bad, TranscribeRequest(model="tiny.en"))
    assert err.value.kind == "permanent"


def test_asset_transcribes_offline_into_catalog_and_bucket(instance, pg_url, object_store):
    catalog = CatalogResource(database_url=pg_url)
    speech = (SAMPLES / "PR_c9d8e7f6-a5b4-4c3d-2e1f-0a9b8c7d6e5f.wav").read_bytes()
    ids = seed_audio(
        catalog.engine,
        object_store,
        [speech, b"RIFF\x00\x00\x00\x00WAVEjunk" * 10, wav_bytes(0.5)],
    )
    resources = {
        "catalog": catalog,
        "object_store": object_store,
        "transcriber": TranscriberResource(provider="local"),
        "fetch_policy": FetchPolicyResource(),
    }
    result = materialize(instance, resources, timestamps="word")
    meta = metadata(result)
    assert meta["provider"] == "faster-whisper" and meta["model"] == "tiny.en"
    assert meta["transcribed"] == 2 and meta["failed"] == 1 and meta["estimated_cost_usd"] == 0.0
    assert checks(result) == {
        "no_orphan_transcriptions": True,
        "transcript_objects_in_bucket": True,
        "no_stale_claims": True,
    }
    done = {r.audio_file_id: r for r in table(catalog.engine, "transcriptions")}
    assert set(done) == {ids[0], ids[2]}
    speech_row = done[ids[0]]
    assert (
        "afternoon" in speech_row.transcript_text.lower()
        and speech_row.provider == "faster-whisper"
    )
    json_key = speech_row.metadata["b2_transcript_json_key"]
    assert json_key == speech_row.b2_transcript_key and "/transcriptions/json/" in json_key
    stored = json.loads(object_store.read_bytes(json_key))
    assert stored["text"] == speech_row.transcript_text and stored["words"]
    assert (
        object_store.read_bytes(speech_row.metadata["b2_transcript_txt_key"]).decode().strip()
        == speech_row.transcript_text
    )
    (failure,) = table(catalog.engine, "transcription_failures")
    assert (
        failure.audio_file_id == ids[1] and failure.status == "permanent" and failure.attempts == 1
    )
    assert table(catalog.engine, "transcription_claims") == []
    # a second run has nothing to do: the permanent failure is not retried
    again = metadata(materialize(instance, resources))
    assert again["transcribed"] == 0 and again["failed"] == 0
    assert (
        again["skipped_by_reason"]["permanent_failure"] == 1
        and again["skipped_by_reason"]["already_transcribed"] == 2
    )


# -- language -------------------------------------------------------------------------


def test_german_speech_given_to_an_english_only_model_is_a_permanent_language_failure(provider):
    with pytest.raises(TranscriptionError) as err:
        provider.transcribe(GERMAN, TranscribeRequest(model="tiny.en"))
    message = str(err.value)
    assert err.value.kind == "permanent" and message.startswith(
        "language mismatch: the speech is German (de)"
    )
    assert "tiny.en transcribes English only" in message and "multilingual model" in message
    assert "MEDIA_PIPELINE_TRANSCRIBE_LANGUAGE=de" in message


@pytest.fixture(scope="module")
def german_base() -> LocalWhisperProvider:
    return LocalWhisperProvider(model="base", language="de")


def test_multilingual_model_transcribes_the_expected_language_and_refuses_another(german_base):
    assert german_base.multilingual and german_base.model_name == "base"
    transcript = german_base.transcribe(GERMAN, TranscribeRequest(model="base", language="de"))
    assert transcript.language == "german" and {"guten", "dexter", "freitag"} <= words(
        transcript.text
    )
    with pytest.raises(TranscriptionError) as err:
        german_base.transcribe(ENGLISH, TranscribeRequest(model="base", language="de"))
    assert err.value.kind == "permanent"
    assert str(err.value).startswith("language mismatch: the speech is English (en)")
    assert "not the expected German (de)" in str(err.value)


def test_audio_without_speech_is_not_judged_by_language(german_base, tmp_path):
    tone = tmp_path / "tone.wav"
    tone.write_bytes(wav_bytes(1.0, freq=300))  # whisper's language guess for a tone is 'en'
    assert (
        german_base.transcribe(tone, TranscribeRequest(model="base", language="de")).duration == 1.0
    )


def test_asset_fails_german_audio_given_to_tiny_en_and_completes_english(
    instance, pg_url, object_store
):
    catalog = CatalogResource(database_url=pg_url)
    english_id, german_id = seed_audio(
        catalog.engine, object_store, [ENGLISH.read_bytes(), GERMAN.read_bytes()]
    )
    resources = {
        "catalog": catalog,
        "object_store": object_store,
        "transcriber": TranscriberResource(provider="local"),
        "fetch_policy": FetchPolicyResource(),
    }
    meta = metadata(materialize(instance, resources))
    assert meta["transcribed"] == 1 and meta["failed"] == 1 and meta["expected_language"] == "any"
    assert meta["failed_by_reason"] == {"permanent: language mismatch": 1}
    (done,) = table(catalog.engine, "transcriptions")
    assert done.audio_file_id == english_id and "afternoon" in done.transcript_text.lower()
    (failure,) = table(catalog.engine, "transcription_failures")
    assert (
        failure.audio_file_id == german_id
        and failure.status == "permanent"
        and failure.ignore_until is None
    )
    assert (
        "German (de)" in failure.error and "MEDIA_PIPELINE_TRANSCRIBE_LANGUAGE=de" in failure.error
    )


def test_english_only_model_with_german_expected_stops_before_any_file(
    instance, pg_url, object_store
):
    catalog = CatalogResource(database_url=pg_url)
    seed_audio(catalog.engine, object_store, [GERMAN.read_bytes()])
    resources = {
        "catalog": catalog,
        "object_store": object_store,
        "transcriber": TranscriberResource(provider="local", language="de"),
        "fetch_policy": FetchPolicyResource(),
    }
    result = materialize(instance, resources, raise_on_error=False)
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "tiny.en transcribes English only, but the expected language is German (de)" in message
    for name in ("transcriptions", "transcription_failures", "transcription_claims"):
        assert table(catalog.engine, name) == []


# -- which model ----------------------------------------------------------------------


def test_a_model_directory_is_taken_as_is(tmp_path):
    folder = tmp_path / "faster-whisper-tiny.en"
    folder.symlink_to(whisper_models.resolve("tiny.en").path, target_is_directory=True)
    local = LocalWhisperProvider(model=str(folder))
    assert local.model_name == "faster-whisper-tiny.en" and not local.multilingual
    transcript = local.transcribe(ENGLISH, TranscribeRequest(model=local.model_name))
    assert transcript.model == "faster-whisper-tiny.en" and "afternoon" in transcript.text.lower()


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("/no/such/model-dir", "local Whisper model directory '/no/such/model-dir' does not exist"),
        ("whisper-9", "unknown local Whisper model 'whisper-9'"),
    ],
)
def test_model_specs_that_cannot_work_are_fatal(spec, expected):
    with pytest.raises(TranscriptionError) as err:
        LocalWhisperProvider(model=spec)
    assert err.value.kind == "fatal" and expected in str(err.value)


def test_a_directory_without_tokenizer_is_refused_rather_than_fetched(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"\0")
    with pytest.raises(TranscriptionError) as err:
        whisper_models.resolve(str(tmp_path))
    assert err.value.kind == "fatal" and "lacks tokenizer.json" in str(err.value)


RESOLVE_IN_CHILD = """
import json, sys
from media_pipeline_dagster.resources.transcriber import whisper_models
from media_pipeline_dagster.resources.transcriber.providers import TranscriptionError
try:
    whisper_models.resolve("small", allow_download=sys.argv[1] == "1")
    print(json.dumps({"kind": None}))
except TranscriptionError as exc:
    print(json.dumps({"kind": exc.kind, "message": str(exc)}))
"""


def test_a_model_not_on_this_machine_is_a_clear_error_and_never_a_download(tmp_path):
    """The Hub is a local server here that counts requests: with downloads off it sees none."""
    import os
    import subprocess
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Hub(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    hub = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "HF_ENDPOINT": f"http://127.0.0.1:{hub.server_address[1]}",
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_CACHE": str(tmp_path / "hf" / "hub"),
    }

    def resolve(allow_download: bool) -> dict:
        out = subprocess.run(
            [sys.executable, "-c", RESOLVE_IN_CHILD, "1" if allow_download else "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    try:
        refused = resolve(allow_download=False)
        assert refused["kind"] == "fatal" and seen == []
        assert "'small' is not on this machine and model downloads are off" in refused["message"]
        assert "MEDIA_PIPELINE_WHISPER_DOWNLOAD=1" in refused["message"]
        allowed = resolve(
            allow_download=True
        )  # the same child, allowed: it does go to the (fake) Hub
        assert (
            allowed["kind"] == "fatal"
            and seen
            and "downloading local Whisper model 'small' failed" in allowed["message"]
        )
    finally:
        hub.shutdown()
