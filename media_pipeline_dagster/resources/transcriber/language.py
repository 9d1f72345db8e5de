"""Is this audio in the language the model and the operator expect? Checked before transcribing.

Whisper models left to themselves transcribe whatever they hear, and an English-only model
(``tiny.en``, ``small.en``...) turns German speech into fluent invented English that looks
like a good transcript. So the speech (silence and tones are skipped: Silero VAD, shipped
with faster-whisper) is given to a multilingual Whisper model's language identification —
the configured model itself, or for an English-only model the multilingual ``base``
shipped with the ``[local]`` extra — and a file whose speech is at least
``LANGUAGE_CONFIDENCE`` sure to be another language is a permanent failure that says
which model to use. An English-only model reports 'en' for everything, and the numbers it
decodes with (avg_logprob, compression ratio, temperature fallbacks) only hint at the
problem, so they are not used to decide.
"""

from __future__ import annotations

import re

from .providers import TranscriptionError

LANGUAGE_CONFIDENCE = 0.5
NAMES = {
    "de": "German",
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "tr": "Turkish",
    "ru": "Russian",
    "uk": "Ukrainian",
    "ar": "Arabic",
    "cs": "Czech",
    "da": "Danish",
    "sv": "Swedish",
    "no": "Norwegian",
    "nn": "Nynorsk",
    "fi": "Finnish",
    "hu": "Hungarian",
    "ro": "Romanian",
    "el": "Greek",
    "hr": "Croatian",
    "sr": "Serbian",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "la": "Latin",
    "cy": "Welsh",
}
MULTILINGUAL_ADVICE = (
    "a multilingual model: small or larger (medium, large-v3-turbo where the CPU time is there; "
    "base ships offline but is rough)"
)


def name(code: str | None) -> str:
    if code is None:
        return "any language"
    return f"{NAMES.get(code, code)} ({code})"


def normalize(code: str | None) -> str | None:
    """An expected language as ISO-639-1 ('de'); None or '' means: any language."""
    if code is None or not code.strip():
        return None
    code = code.strip().lower()
    if not re.fullmatch(r"[a-z]{2,3}", code):
        raise ValueError(f"language {code!r} is not an ISO-639-1 code such as 'de' or 'en'")
    return code


def speech_only(audio):
    """The audio's speech (16 kHz samples), or None when Silero VAD hears none."""
    import numpy as np
    from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

    chunks = get_speech_timestamps(audio, VadOptions())
    if not chunks:
        return None
    pieces, _ = collect_chunks(audio, chunks)
    return np.concatenate(pieces)


class LanguageCheck:
    """What a local model may be given: built once per run, ``language_for`` once per file."""

    def __init__(
        self, *, model_label: str, multilingual: bool, expected: str | None, detector=None
    ):
        self.model_label, self.multilingual, self.detector = model_label, multilingual, detector
        if not multilingual and expected not in (None, "en"):
            raise TranscriptionError(
                "fatal",
                f"model {model_label} transcribes English only, but the expected language is "
                f"{name(expected)} (MEDIA_PIPELINE_TRANSCRIBE_LANGUAGE or the run's language): use {MULTILINGUAL_ADVICE}",
            )
        self.expected = expected if multilingual else "en"
        self.checks = multilingual is False or expected is not None

    def language_for(self, audio) -> str | None:
        """The language to transcribe ``audio`` in (None: let the model detect it); raises a
        permanent TranscriptionError when the speech is surely in another language."""
        if not self.checks:
            return None
        speech = speech_only(audio)
        if speech is not None:
            detected, probability, _ = self.detector.detect_language(speech)
            if detected != self.expected and probability >= LANGUAGE_CONFIDENCE:
                raise TranscriptionError("permanent", self._mismatch(detected, probability))
        return self.expected if self.multilingual else None

    def _mismatch(self, detected: str, probability: float) -> str:
        heard = f"the speech is {name(detected)}, {probability:.0%} sure"
        if not self.multilingual:
            return (
                f"language mismatch: {heard}, but {self.model_label} transcribes English only and would invent "
                f"English text: transcribe it with {MULTILINGUAL_ADVICE} and MEDIA_PIPELINE_TRANSCRIBE_LANGUAGE="
                f"{detected}, then run with retry_failed"
            )
        return (
            f"language mismatch: {heard}, not the expected {name(self.expected)}: "
            f"if the campaign speaks {NAMES.get(detected, detected)}, run with language={detected} and retry_failed"
        )
