"""OpenAI's /v1/audio/transcriptions through the official SDK (client from dagster-openai's resource)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import openai

from ...kernel.resilience import Kind, api_kind, retry_after_seconds
from .models import OPENAI, OPENAI_MAX_REQUEST_BYTES, openai_model
from .pacing import RequestPacer
from .providers import TranscribeRequest, Transcript, TranscriptionError

# Phrases of the API's answers that mean "this audio will never work", not "you asked wrongly".
_BAD_AUDIO_HINTS = (
    "invalid file format",
    "could not be decoded",
    "corrupt",
    "unsupported",
    "audio file",
    "file is too short",
    "format is not supported",
)
_MAX_RETRY_AFTER = 120.0


def _asked_wait(headers: Any, default: float = 1.0) -> float:
    """The wait a 429 asks for (any spelling, see kernel.resilience), at most two minutes."""
    asked = retry_after_seconds(headers)
    return default if asked is None else min(asked, _MAX_RETRY_AFTER)


def classify(exc: Exception) -> TranscriptionError:
    """Map an SDK exception to what the engine should do about it."""
    if isinstance(exc, openai.APIStatusError) and _error_field(exc, "code") == "insufficient_quota":
        # A 429 like a rate limit, but waiting never helps: the account is out of credit.
        return TranscriptionError(
            "fatal",
            f"OpenAI refused: 429 insufficient_quota: {_api_message(exc)} "
            "Add credit or raise the project's budget, then run again.",
            code=429,
        )
    if isinstance(exc, openai.RateLimitError):
        return TranscriptionError(
            "rate_limited",
            f"429 rate limited: {_api_message(exc)}",
            code=429,
            retry_after=_asked_wait(exc.response.headers),
        )
    if isinstance(exc, openai.APITimeoutError):
        return TranscriptionError("transient", "timed out waiting for OpenAI")
    if isinstance(exc, openai.APIConnectionError):
        return TranscriptionError("transient", f"cannot reach OpenAI: {exc}")
    if isinstance(exc, openai.APIStatusError):
        status, message = exc.status_code, _api_message(exc)
        kind = api_kind(status)
        if kind is Kind.SYSTEMIC:
            what = (
                "the API key was refused"
                if status == 401
                else "this key may not use the audio API from here"
            )
            return TranscriptionError(
                "fatal",
                f"OpenAI refused: {status} {_error_field(exc, 'code') or ''} ({what}): "
                f"{message} Check OPENAI_API_KEY and the key's project.",
                code=status,
            )
        if kind is Kind.TRANSIENT:
            return TranscriptionError("transient", f"{status} from OpenAI: {message}", code=status)
        if status == 413:
            return TranscriptionError(
                "permanent", f"413 audio too large for OpenAI: {message}", code=status
            )
        if status in (400, 422) and (
            _error_field(exc, "param") == "file"
            or any(h in message.lower() for h in _BAD_AUDIO_HINTS)
        ):
            return TranscriptionError(
                "permanent", f"{status} invalid audio: {message}", code=status
            )
        return TranscriptionError("fatal", f"{status} from OpenAI: {message}", code=status)
    return TranscriptionError("transient", f"{type(exc).__name__}: {exc}")


def _error(exc: openai.APIStatusError) -> dict:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body)  # the SDK hands over the envelope's inner object
    return error if isinstance(error, dict) else {}


def _error_field(exc: openai.APIStatusError, name: str) -> str | None:
    value = _error(exc).get(name)
    return str(value) if value is not None else None


def _api_message(exc: openai.APIStatusError) -> str:
    """The API's own sentence (the SDK's ``message`` prefixes it with a dump of the whole body)."""
    return _error_field(exc, "message") or exc.message


class OpenAIProvider:
    """Transcribes with whisper-1 (verbose_json, segment/word timestamps), gpt-4o(-mini)-transcribe
    (json) or gpt-4o-transcribe-diarize (diarized_json, chunking_strategy 'auto')."""

    name = OPENAI
    max_request_bytes = OPENAI_MAX_REQUEST_BYTES

    def __init__(self, client: openai.OpenAI, *, timeout_seconds: float = 600.0, pace: bool = True):
        # Retries are the engine's: it frees the slot while a file waits out a 429.
        self.client = client.with_options(max_retries=0, timeout=timeout_seconds)
        self.pacer = RequestPacer() if pace else None

    def transcribe(self, path: Path, request: TranscribeRequest) -> Transcript:
        spec = openai_model(request.model)
        kwargs: dict[str, Any] = {"model": spec.name, "response_format": spec.response_format}
        if spec.name == "whisper-1" and request.timestamps != "none":
            kwargs["timestamp_granularities"] = (
                ["segment", "word"] if request.timestamps == "word" else ["segment"]
            )
        if spec.diarization:
            kwargs["chunking_strategy"] = "auto"
        if request.language:
            kwargs["language"] = request.language
        if request.prompt and not spec.diarization:
            kwargs["prompt"] = request.prompt
        with self.pacer.request() if self.pacer else nullcontext(None) as answered:
            try:
                with path.open("rb") as fh:
                    answer = self.client.audio.transcriptions.with_raw_response.create(
                        file=(path.name, fh), **kwargs
                    )
            except openai.OpenAIError as exc:
                error = classify(exc)
                if answered and isinstance(exc, openai.APIStatusError):
                    answered(
                        exc.response.headers,
                        limited=error.kind == "rate_limited",
                        retry_after=error.retry_after,
                    )
                raise error from exc
            if answered:
                answered(answer.headers)
        response = answer.parse()
        raw = (
            response.model_dump(mode="json", exclude_none=True)
            if hasattr(response, "model_dump")
            else {"text": str(response)}
        )
        return _transcript(
            spec.name, raw, diarized=spec.diarization, chunking=kwargs.get("chunking_strategy")
        )


def _transcript(model: str, raw: dict[str, Any], *, diarized: bool, chunking: Any) -> Transcript:
    segments = raw.get("segments")
    diarization = None
    if diarized:
        segments = [dict(s) for s in segments or []]
        speakers = sorted({s.get("speaker") for s in segments if s.get("speaker") is not None})
        diarization = {
            "chunking_strategy": chunking,
            "speakers": speakers,
            "segments": [
                {k: s.get(k) for k in ("id", "start", "end", "speaker")} for s in segments
            ],
        }
    return Transcript(
        provider=OPENAI,
        model=model,
        text=(raw.get("text") or "").strip(),
        language=raw.get("language"),
        duration=raw.get("duration"),
        segments=segments,
        words=raw.get("words"),
        diarization=diarization,
        usage=raw.get("usage"),
        raw=raw,
    )
