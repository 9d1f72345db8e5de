"""One interface for transcription providers, and how their errors are classified.

A provider turns one audio file (a path) into a :class:`Transcript` whose segments and
words have the shape of OpenAI's ``verbose_json``, whoever produced them. Errors are
raised as :class:`TranscriptionError` with a kind the engine acts on:

* ``rate_limited``: try again after ``retry_after`` seconds (the slot is given to other files);
* ``transient``: timeouts, connection errors, 5xx — retried with backoff, then cooled down;
* ``permanent``: the audio is invalid, corrupt or unsupported — recorded, not retried;
* ``fatal``: the run itself cannot work (key refused 401/403, account out of credit
  ``insufficient_quota``, unknown model) — the run stops, its claims are handed back and
  no file is marked failed or cooled down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

ErrorKind = Literal["rate_limited", "transient", "permanent", "fatal"]
Timestamps = Literal["none", "segment", "word"]


class TranscriptionError(Exception):
    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        code: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True)
class TranscribeRequest:
    model: str
    timestamps: Timestamps = "segment"
    language: str | None = None
    prompt: str | None = None


@dataclass
class Transcript:
    provider: str
    model: str
    text: str
    language: str | None = None
    duration: float | None = None
    segments: list[dict[str, Any]] | None = (
        None  # verbose_json segments (id, start, end, text, ...)
    )
    words: list[dict[str, Any]] | None = None  # verbose_json words (word, start, end)
    diarization: dict[str, Any] | None = None  # speakers and their segments, chunking strategy
    usage: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    pieces: int = 1

    def as_json(self) -> dict[str, Any]:
        """The transcript object stored in the bucket: text, timings, speakers."""
        body: dict[str, Any] = {
            "text": self.text,
            "language": self.language,
            "duration": self.duration,
            "provider": self.provider,
            "model": self.model,
            "segments": self.segments or [],
        }
        if self.words is not None:
            body["words"] = self.words
        if self.diarization is not None:
            body["diarization"] = self.diarization
        return body


class Provider(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def max_request_bytes(self) -> int | None:  # larger files are split before they are sent
        ...

    def transcribe(self, path: Path, request: TranscribeRequest) -> Transcript: ...
