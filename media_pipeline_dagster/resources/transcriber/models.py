"""What each transcription model accepts and costs: the one table of prices and formats."""

from __future__ import annotations

from dataclasses import dataclass

OPENAI = "OpenAI"
LOCAL = "faster-whisper"

# OpenAI's audio limit is 25 MB per request; stay a little under it.
OPENAI_MAX_REQUEST_BYTES = 25 * 1000 * 1000 - 200_000


@dataclass(frozen=True)
class ModelSpec:
    name: str
    provider: str
    response_format: str  # the richest format the model returns
    timestamps: bool  # segment/word timestamps available
    diarization: bool = False
    usd_per_minute: float = 0.0  # estimate when the response carries no token usage
    usd_per_million_audio_tokens: float | None = None
    usd_per_million_text_tokens: float | None = None


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("whisper-1", OPENAI, "verbose_json", timestamps=True, usd_per_minute=0.006),
        ModelSpec(
            "gpt-4o-transcribe",
            OPENAI,
            "json",
            timestamps=False,
            usd_per_minute=0.006,
            usd_per_million_audio_tokens=2.50,
            usd_per_million_text_tokens=10.0,
        ),
        ModelSpec(
            "gpt-4o-mini-transcribe",
            OPENAI,
            "json",
            timestamps=False,
            usd_per_minute=0.003,
            usd_per_million_audio_tokens=1.25,
            usd_per_million_text_tokens=5.0,
        ),
        ModelSpec(
            "gpt-4o-transcribe-diarize",
            OPENAI,
            "diarized_json",
            timestamps=True,
            diarization=True,
            usd_per_minute=0.006,
            usd_per_million_audio_tokens=2.50,
            usd_per_million_text_tokens=10.0,
        ),
    )
}
DEFAULT_OPENAI_MODEL = "whisper-1"
DEFAULT_LOCAL_MODEL = "tiny.en"


def openai_model(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown OpenAI transcription model {name!r}; choose one of {', '.join(MODELS)}"
        ) from None


def estimate_cost_usd(model: str, audio_seconds: float, usage: dict | None = None) -> float:
    """Cost of one transcription: from token usage when the API reports it, else per minute."""
    spec = MODELS.get(model)
    if spec is None:  # local models cost nothing but CPU
        return 0.0
    if (
        usage
        and spec.usd_per_million_audio_tokens is not None
        and usage.get("type", "tokens") == "tokens"
    ):
        details = usage.get("input_token_details") or {}
        audio_tokens = details.get("audio_tokens", usage.get("input_tokens", 0)) or 0
        text_in = details.get("text_tokens", 0) or 0
        out = usage.get("output_tokens", 0) or 0
        return (
            audio_tokens * spec.usd_per_million_audio_tokens
            + (text_in + out) * (spec.usd_per_million_text_tokens or 0)
        ) / 1e6
    if usage and usage.get("type") == "duration" and usage.get("seconds") is not None:
        audio_seconds = float(usage["seconds"])
    return spec.usd_per_minute * audio_seconds / 60.0
