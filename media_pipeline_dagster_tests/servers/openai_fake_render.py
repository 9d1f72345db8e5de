"""Parsing, validation and answer bodies of the fake OpenAI transcription server."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass

from media_pipeline_dagster_tests.servers.fixtures_audio import SUPPORTED_EXTENSIONS, probe_audio

MODEL_FORMATS = {
    "whisper-1": ("json", "text", "srt", "verbose_json", "vtt"),
    "gpt-4o-transcribe": ("json", "text"),
    "gpt-4o-mini-transcribe": ("json", "text"),
    "gpt-4o-transcribe-diarize": ("json", "text", "diarized_json"),
}
ALL_FORMATS = ("json", "text", "srt", "verbose_json", "vtt", "diarized_json")
MAX_AUDIO_SECONDS = {
    "gpt-4o-transcribe": 1500,
    "gpt-4o-mini-transcribe": 1500,
    "gpt-4o-transcribe-diarize": 1400,
}
DIARIZE_CHUNKING_ABOVE_S = 30.0
MIN_AUDIO_SECONDS = 0.1
INVALID_FORMAT = f"Invalid file format. Supported formats: {list(SUPPORTED_EXTENSIONS)}"
AUDIO_TOKENS_PER_SECOND = 10  # roughly what gpt-4o-transcribe bills per second of audio
LANGUAGES = {
    "en": "english",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "it": "italian",
    "nl": "dutch",
    "pt": "portuguese",
    "pl": "polish",
}
_DISPOSITION = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Segment = tuple[float, float, str]  # start, end, text


class ApiError(Exception):
    """An answer in OpenAI's error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        self.body = {"error": {"message": message, "type": type_, "param": param, "code": code}}


@dataclass(frozen=True)
class Request:
    model: str
    response_format: str
    granularities: tuple[str, ...]
    language: str | None
    prompt: str | None
    chunking_strategy: str | dict | None


def parse_multipart(content_type: str, body: bytes):
    """(fields: name -> [values], files: name -> (filename, bytes)) of a multipart body."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or not m:
        raise ApiError(
            400, f"Invalid Content-Type header ({content_type}), expected multipart/form-data."
        )
    fields: dict[str, list[str]] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in body.split(b"--" + m.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            raise ApiError(400, "Could not parse multipart form.")
        content = content[:-2] if content.endswith(b"\r\n") else content
        disposition = next(
            (
                line
                for line in head.decode("utf-8", "replace").split("\r\n")
                if line.lower().startswith("content-disposition:")
            ),
            "",
        )
        params = dict(_DISPOSITION.findall(disposition))
        if "filename" in params:
            files[params.get("name", "")] = (params["filename"], content)
        elif "name" in params:
            fields.setdefault(params["name"], []).append(content.decode("utf-8", "replace"))
    return fields, files


def _chunking_strategy(form: dict[str, list[str]]) -> str | dict | None:
    # The Python SDK sends an object as chunking_strategy[type]=..., other clients as JSON.
    nested = {
        k[len("chunking_strategy[") : -1]: v[0]
        for k, v in form.items()
        if k.startswith("chunking_strategy[") and k.endswith("]")
    }
    raw = form.get("chunking_strategy", [None])[0]
    if raw is None and not nested:
        return None
    if raw == "auto":
        return "auto"
    try:
        value = (
            json.loads(raw)
            if raw is not None
            else {k: v if k == "type" else json.loads(v) for k, v in nested.items()}
        )
    except ValueError:
        value = None
    if not isinstance(value, dict) or value.get("type") != "server_vad":
        raise ApiError(
            400,
            f"Invalid chunking_strategy: {raw or nested!r}. Expected 'auto' or "
            "an object with type 'server_vad'.",
            param="chunking_strategy",
            code="invalid_value",
        )
    return value


def validate(form: dict[str, list[str]], files: dict, rec: dict) -> Request:
    """Check the fields as the real endpoint does; fills ``rec`` with what was sent."""
    first = {k: v[0] for k, v in form.items()}
    model = first.get("model")
    fmt = first.get("response_format") or "json"
    grans = tuple(
        form.get("timestamp_granularities[]")  # the SDK's spelling
        or form.get("timestamp_granularities")
        or ()
    )
    rec.update(
        response_format=first.get("response_format"),
        timestamp_granularities=grans,
        language=first.get("language"),
        prompt=first.get("prompt"),
    )
    if not model:
        raise ApiError(400, "you must provide a model parameter")
    if model not in MODEL_FORMATS:
        raise ApiError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    if "file" not in files:
        raise ApiError(
            400,
            "Missing required parameter: 'file'.",
            param="file",
            code="missing_required_parameter",
        )
    if fmt not in ALL_FORMATS:
        raise ApiError(
            400,
            f"Invalid value: '{fmt}'. Supported values are: "
            f"{', '.join(repr(f) for f in ALL_FORMATS)}.",
            param="response_format",
            code="invalid_value",
        )
    allowed = MODEL_FORMATS[model]
    if fmt not in allowed:
        raise ApiError(
            400,
            f"response_format '{fmt}' is not compatible with model '{model}'. "
            f"Use {' or '.join(repr(f) for f in allowed)} instead.",
            param="response_format",
            code="unsupported_value",
        )
    bad = [g for g in grans if g not in ("word", "segment")]
    if bad:
        raise ApiError(
            400,
            f"Invalid value: '{bad[0]}'. Supported values are: 'word' and 'segment'.",
            param="timestamp_granularities",
            code="invalid_value",
        )
    if grans and fmt != "verbose_json":
        raise ApiError(
            400,
            "timestamp_granularities is only supported with response_format 'verbose_json'.",
            param="timestamp_granularities",
            code="invalid_value",
        )
    if "temperature" in first:
        try:
            rec["temperature"] = temperature = float(first["temperature"])
        except ValueError:
            temperature = -1.0
        if not 0.0 <= temperature <= 1.0:
            raise ApiError(
                400,
                f"Invalid temperature {first['temperature']!r}: expected a number between 0 and 1.",
                param="temperature",
                code="invalid_value",
            )
    rec["chunking_strategy"] = chunking = _chunking_strategy(form)
    if model == "gpt-4o-transcribe-diarize" and first.get("prompt"):
        raise ApiError(
            400,
            "prompt is not supported for diarization models.",
            param="prompt",
            code="unsupported_value",
        )
    if first.get("stream") == "true" and model != "whisper-1":  # whisper-1 ignores stream
        raise ApiError(400, "stream=true is not implemented by this fake server.", param="stream")
    return Request(model, fmt, grans, first.get("language"), first.get("prompt"), chunking)


def audio_duration(name: str, data: bytes, req: Request, default_duration: float) -> float:
    """Seconds of audio in the upload, or the 400 the real API gives for it."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else None
    probe = probe_audio(data)
    if probe.kind is None or (ext is not None and ext not in SUPPORTED_EXTENSIONS):
        raise ApiError(400, INVALID_FORMAT)
    if probe.corrupt:
        raise ApiError(
            400, "Audio file might be corrupted or unsupported", param="file", code="invalid_value"
        )
    duration = round(probe.duration if probe.duration is not None else default_duration, 3)
    if duration < MIN_AUDIO_SECONDS:
        raise ApiError(
            400,
            f"Audio file is too short. Minimum audio length is {MIN_AUDIO_SECONDS} seconds.",
            param="file",
            code="audio_too_short",
        )
    limit = MAX_AUDIO_SECONDS.get(req.model)
    if limit and duration > limit:
        raise ApiError(
            400,
            f"audio duration {duration} seconds is longer than {limit} seconds "
            "which is the maximum for this model",
            code="invalid_value",
        )
    if (
        req.model == "gpt-4o-transcribe-diarize"
        and duration > DIARIZE_CHUNKING_ABOVE_S
        and req.chunking_strategy is None
    ):
        raise ApiError(
            400,
            "chunking_strategy is required for diarization models",
            param="chunking_strategy",
            code="invalid_value",
        )
    return duration


def segments(
    sha256: str, duration: float, segment_seconds: float, text: str | None
) -> list[Segment]:
    """Equal spans covering [0, duration], at most ``segment_seconds`` long, with their text."""
    n = max(1, math.ceil(duration / segment_seconds - 1e-9))
    if text is None:
        texts = [f"Audio {sha256[:8]} part {i + 1} of {n}." for i in range(n)]
    else:
        words = text.split()
        n = max(1, min(n, len(words)))
        texts = [" ".join(words[len(words) * i // n : len(words) * (i + 1) // n]) for i in range(n)]
    bounds = [round(duration * i / n, 3) for i in range(n)] + [duration]
    return [(bounds[i], bounds[i + 1], texts[i]) for i in range(n)]


def _words(segs: list[Segment]) -> list[dict]:
    out = []
    for start, end, text in segs:
        words = text.split()
        step = (end - start) / max(1, len(words))
        out += [
            {
                "word": w.strip(".,!?;:"),
                "start": round(start + i * step, 3),
                "end": end if i == len(words) - 1 else round(start + (i + 1) * step, 3),
            }
            for i, w in enumerate(words)
        ]
    return out


def _verbose_segment(i: int, seg: Segment) -> dict:
    start, end, text = seg
    tokens = [int(hashlib.sha256(w.encode()).hexdigest()[:4], 16) for w in text.split()]
    return {
        "id": i,
        "seek": int(start * 100) // 3000 * 3000,
        "start": start,
        "end": end,
        "text": " " + text,
        "tokens": tokens,
        "temperature": 0.0,
        "avg_logprob": -0.25,
        "compression_ratio": 1.2,
        "no_speech_prob": 0.01,
    }


def _timestamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    hours, minutes, secs = ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{ms % 1000:03d}"


def respond(req: Request, duration: float, segs: list[Segment]) -> tuple[int, bytes, str]:
    """(status, body, content type) of a successful transcription."""
    text = " ".join(s[2] for s in segs)
    fmt = req.response_format
    if fmt == "text":
        return 200, (text + "\n").encode(), "text/plain; charset=utf-8"
    if fmt in ("srt", "vtt"):
        sep = "," if fmt == "srt" else "."
        cues = [
            ("" if fmt == "vtt" else f"{i + 1}\n")
            + f"{_timestamp(a, sep)} --> {_timestamp(b, sep)}\n{t}\n\n"
            for i, (a, b, t) in enumerate(segs)
        ]
        return (
            200,
            (("WEBVTT\n\n" if fmt == "vtt" else "") + "".join(cues)).encode(),
            "text/plain; charset=utf-8",
        )
    if req.model == "whisper-1":
        usage = {"type": "duration", "seconds": math.ceil(duration)}
    else:
        audio = math.ceil(duration * AUDIO_TOKENS_PER_SECOND)
        prompt_tokens = len((req.prompt or "").split())
        out = max(1, len(text) // 4)
        usage = {
            "type": "tokens",
            "input_tokens": audio + prompt_tokens,
            "input_token_details": {"text_tokens": prompt_tokens, "audio_tokens": audio},
            "output_tokens": out,
            "total_tokens": audio + prompt_tokens + out,
        }
    body: dict
    if fmt == "json":
        body = {"text": text, "usage": usage}
    elif fmt == "verbose_json":
        body = {
            "task": "transcribe",
            "language": LANGUAGES.get(req.language or "en", req.language or "english"),
            "duration": duration,
            "text": text,
        }
        if not req.granularities or "segment" in req.granularities:
            body["segments"] = [_verbose_segment(i, s) for i, s in enumerate(segs)]
        if "word" in req.granularities:
            body["words"] = _words(segs)
        body["usage"] = usage
    else:  # diarized_json
        body = {
            "task": "transcribe",
            "duration": duration,
            "text": text,
            "segments": [
                {
                    "type": "transcript.text.segment",
                    "id": f"seg_{i}",
                    "start": a,
                    "end": b,
                    "text": t,
                    "speaker": "AB"[i % 2],
                }
                for i, (a, b, t) in enumerate(segs)
            ],
            "usage": usage,
        }
    return 200, json.dumps(body).encode(), "application/json"
