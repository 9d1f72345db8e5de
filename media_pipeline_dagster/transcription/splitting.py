"""Audio over a provider's request limit is cut into pieces and the pieces' transcripts stitched.

Pieces are 16 kHz mono 16-bit WAV (what Whisper models resample to anyway, so nothing is
lost), each under the byte limit; decoding streams frame by frame through PyAV, so a long
recording never sits in memory whole. Stitching shifts every piece's timestamps by the
piece's offset, so segments and words stay monotone across the whole call.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

from ..resources.transcriber.providers import Transcript, TranscriptionError

SAMPLE_RATE = 16_000
BYTES_PER_SECOND = SAMPLE_RATE * 2
WAV_HEADER_BYTES = 1024  # generous: the RIFF header is 44 bytes


@dataclass(frozen=True)
class Piece:
    path: Path
    offset: float  # seconds from the start of the recording


def split_audio(path: Path, out_dir: Path, max_bytes: int) -> list[Piece]:
    import av

    piece_samples = ((max_bytes - WAV_HEADER_BYTES) // BYTES_PER_SECOND) * SAMPLE_RATE
    if piece_samples <= 0:
        raise ValueError(f"max_bytes={max_bytes} leaves no room for audio in a piece")
    pieces: list[Piece] = []
    writer: wave.Wave_write | None = None
    written = total = 0

    def start_piece() -> wave.Wave_write:
        piece_path = out_dir / f"{path.stem}.part{len(pieces):03d}.wav"
        pieces.append(Piece(piece_path, total / SAMPLE_RATE))
        w = wave.open(str(piece_path), "wb")  # noqa: SIM115 (closed when the piece is full)
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        return w

    try:
        with av.open(str(path)) as container:
            stream = next(iter(container.streams.audio), None)
            if stream is None:
                raise TranscriptionError("permanent", f"{path.name}: no audio stream")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    data = out.to_ndarray().tobytes()
                    while data:
                        if writer is None or written == piece_samples:
                            if writer is not None:
                                writer.close()
                            writer, written = start_piece(), 0
                        take = min(len(data) // 2, piece_samples - written)
                        writer.writeframes(data[: take * 2])
                        data = data[take * 2 :]
                        written += take
                        total += take
    except TranscriptionError:
        raise
    except Exception as exc:  # av.error.* for undecodable input
        raise TranscriptionError("permanent", f"cannot decode audio to split it: {exc}") from exc
    finally:
        if writer is not None:
            writer.close()
    if not pieces:
        raise TranscriptionError("permanent", f"{path.name}: no audio samples")
    return pieces


def _shift(items: list[dict] | None, offset: float) -> list[dict]:
    shifted = []
    for item in items or []:
        item = dict(item)
        for key in ("start", "end"):
            if isinstance(item.get(key), (int, float)):
                item[key] = round(item[key] + offset, 3)
        shifted.append(item)
    return shifted


def stitch(parts: list[tuple[Piece, Transcript]]) -> Transcript:
    """One transcript from the pieces': text joined, timestamps shifted, usage summed."""
    first = parts[0][1]
    segments: list[dict] = []
    words: list[dict] | None = [] if any(t.words is not None for _, t in parts) else None
    usage: dict | None = None
    duration = 0.0
    for piece, transcript in parts:
        for seg in _shift(transcript.segments, piece.offset):
            seg["id"] = len(segments)
            segments.append(seg)
        if words is not None:
            words.extend(_shift(transcript.words, piece.offset))
        duration = piece.offset + (transcript.duration or 0.0)
        if transcript.usage:
            usage = _add_usage(usage, transcript.usage)
    diarization = None
    if first.diarization is not None:
        diarization = {
            "chunking_strategy": first.diarization.get("chunking_strategy"),
            "speakers": sorted(
                {s for _, t in parts for s in (t.diarization or {}).get("speakers", [])}
            ),
            "segments": [
                {k: s.get(k) for k in ("id", "start", "end", "speaker")} for s in segments
            ],
            "note": "speaker labels are per piece of a split recording",
        }
    return Transcript(
        provider=first.provider,
        model=first.model,
        text=" ".join(t.text.strip() for _, t in parts if t.text.strip()),
        language=first.language,
        duration=round(duration, 3),
        segments=segments if first.segments is not None else None,
        words=words,
        diarization=diarization,
        usage=usage,
        raw={"pieces": [{"offset": p.offset, "response": t.raw} for p, t in parts]},
        pieces=len(parts),
    )


def _add_usage(total: dict | None, usage: dict) -> dict:
    if total is None:
        return dict(usage)
    merged = dict(total)
    for key, value in usage.items():
        if isinstance(value, (int, float)) and isinstance(merged.get(key), (int, float)):
            merged[key] = merged[key] + value
        elif isinstance(value, dict):
            merged[key] = _add_usage(
                merged.get(key) if isinstance(merged.get(key), dict) else None, value
            )
    return merged
