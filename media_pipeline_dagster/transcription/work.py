"""One file's work, in a worker thread: fetch the audio, transcribe (split if too large), store the transcript objects."""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import tenacity

from ..kernel.fetch import FetchPolicy
from ..kernel.resilience import backoff_wait
from ..resources.bucket import Bucket
from ..resources.transcriber.providers import (
    Provider,
    TranscribeRequest,
    Transcript,
    TranscriptionError,
)
from .audio_source import fetch_audio
from .keys import transcript_keys
from .splitting import split_audio, stitch

PIECE_RETRIES = 6


@dataclass
class TranscribedFile:
    transcript: Transcript
    json_key: str
    txt_key: str
    audio_source: str
    audio_bytes: int
    seconds: float


def put_object(store: Bucket, key: str, body: bytes, content_type: str) -> None:
    store.put_bytes(key, body, content_type=content_type)


def transcript_bodies(row, transcript: Transcript) -> tuple[bytes, bytes]:
    document = {
        "audio_file_id": row.id,
        "audio_key": row.b2_object_key,
        "url": row.url,
        **transcript.as_json(),
    }
    text = transcript.text.strip() + "\n"
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8"), text.encode("utf-8")


def _piece_with_retries(provider: Provider, path: Path, request: TranscribeRequest) -> Transcript:
    # A split file retries its pieces in place, so a 429 on piece 3 does not resend pieces 1-2.
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(PIECE_RETRIES),
        wait=backoff_wait(1.0, 30.0, jitter=False, retry_after_cap=math.inf),
        retry=tenacity.retry_if_exception(
            lambda exc: (
                isinstance(exc, TranscriptionError) and exc.kind in ("rate_limited", "transient")
            )
        ),
        reraise=True,
    )
    return retrying(provider.transcribe, path, request)


def transcribe_file(
    provider: Provider, path: Path, request: TranscribeRequest, work_dir: Path
) -> Transcript:
    limit = provider.max_request_bytes
    if limit is None or path.stat().st_size <= limit:
        return provider.transcribe(path, request)
    pieces = split_audio(path, work_dir, limit)
    return stitch([(piece, _piece_with_retries(provider, piece.path, request)) for piece in pieces])


def process(
    row,
    *,
    store,
    provider: Provider,
    request: TranscribeRequest,
    work_root: Path,
    fetch_policy: FetchPolicy,
    fetch_timeout: float,
) -> TranscribedFile:
    started = time.monotonic()
    work_dir = work_root / str(row.id)
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        path, source = fetch_audio(row, store, work_dir, fetch_policy, timeout=fetch_timeout)
        size = path.stat().st_size
        transcript = transcribe_file(provider, path, request, work_dir)
        json_key, txt_key = transcript_keys(row)
        json_body, txt_body = transcript_bodies(row, transcript)
        try:
            put_object(store, json_key, json_body, "application/json")
            put_object(store, txt_key, txt_body, "text/plain; charset=utf-8")
        except Exception as exc:
            raise TranscriptionError(
                "transient", f"storing the transcript objects failed: {exc}"
            ) from exc
        return TranscribedFile(
            transcript, json_key, txt_key, source, size, time.monotonic() - started
        )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
