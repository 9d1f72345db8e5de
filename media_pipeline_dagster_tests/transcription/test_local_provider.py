"""The local provider on real speech (espeak-ng sentences shipped as the demo's sample calls)."""

from __future__ import annotations

import json

import pytest

from media_pipeline_dagster.resources.databases import CatalogResource
from media_pipeline_dagster.resources.transcriber import TranscriberResource
from media_pipeline_dagster.transcription.local_provider import LocalWhisperProvider
from media_pipeline_dagster.transcription.providers import TranscribeRequest, TranscriptionError

from .helpers import SAMPLES, checks, materialize, metadata, seed_audio, table, wav_bytes

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
    transcript = provider.transcribe(SAMPLES / name, TranscribeRequest(model="tiny.en", timestamps="word"))
    expected = words(SENTENCES[name])
    heard = words(transcript.text.replace("call back", "callback"))
    assert len(expected & heard) >= len(expected) - 1, (transcript.text, expected - heard)
    assert transcript.language == "english" and 2.0 < transcript.duration < 10.0
    starts = [w["start"] for w in transcript.words]
    assert starts == sorted(starts) and transcript.words[-1]["end"] <= transcript.duration + 0.5
    assert {"id", "seek", "start", "end", "text", "tokens", "avg_logprob", "no_speech_prob"} <= set(transcript.segments[0])
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
    ids = seed_audio(catalog.engine, object_store.store, [speech, b"RIFF\x00\x00\x00\x00WAVEjunk" * 10, wav_bytes(0.5)])
    resources = {"catalog": catalog, "object_store": object_store, "transcriber": TranscriberResource(provider="local")}
    result = materialize(instance, resources, timestamps="word")
    meta = metadata(result)
    assert meta["provider"] == "faster-whisper" and meta["model"] == "tiny.en"
    assert meta["transcribed"] == 2 and meta["failed"] == 1 and meta["estimated_cost_usd"] == 0.0
    assert checks(result) == {"no_orphan_transcriptions": True, "transcript_objects_in_bucket": True, "no_stale_claims": True}
    done = {r.audio_file_id: r for r in table(catalog.engine, "transcriptions")}
    assert set(done) == {ids[0], ids[2]}
    speech_row = done[ids[0]]
    assert "afternoon" in speech_row.transcript_text.lower() and speech_row.provider == "faster-whisper"
    json_key = speech_row.metadata["b2_transcript_json_key"]
    assert json_key == speech_row.b2_transcript_key and "/transcriptions/json/" in json_key
    stored = json.loads(object_store.read_bytes(json_key))
    assert stored["text"] == speech_row.transcript_text and stored["words"]
    assert object_store.read_bytes(speech_row.metadata["b2_transcript_txt_key"]).decode().strip() == speech_row.transcript_text
    (failure,) = table(catalog.engine, "transcription_failures")
    assert failure.audio_file_id == ids[1] and failure.status == "permanent" and failure.attempts == 1
    assert table(catalog.engine, "transcription_claims") == []
    # a second run has nothing to do: the permanent failure is not retried
    again = metadata(materialize(instance, resources))
    assert again["transcribed"] == 0 and again["failed"] == 0
    assert again["skipped_by_reason"]["permanent_failure"] == 1 and again["skipped_by_reason"]["already_transcribed"] == 2
