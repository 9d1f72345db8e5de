"""Audio for tests: make WAV/FLAC/MP3/Opus bytes of a chosen length, and probe audio.

``probe_audio`` is what the fake OpenAI server uses to decide whether an upload is
audio (by magic bytes, as a decoder would) and how long it lasts.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from dataclasses import dataclass

SUPPORTED_EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")


def wav_bytes(
    seconds: float, sample_rate: int = 16_000, channels: int = 1, tone_hz: float | None = 440.0
) -> bytes:
    """A 16-bit PCM WAV of ``seconds``: a sine tone, or silence when ``tone_hz`` is None."""
    frames = round(seconds * sample_rate)
    if tone_hz is None:
        second = bytes(2 * channels * sample_rate)
    else:
        # One second computed in Python, then repeated: long files stay cheap to make.
        samples = (
            round(8000 * math.sin(2 * math.pi * tone_hz * i / sample_rate))
            for i in range(sample_rate)
            for _ in range(channels)
        )
        second = struct.pack(f"<{sample_rate * channels}h", *samples)
    whole, rest = divmod(frames, sample_rate)
    pcm = second * whole + second[: rest * 2 * channels]
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
    return buf.getvalue()


def wav_bytes_of_size(size: int, sample_rate: int = 16_000) -> bytes:
    """A silent mono WAV of exactly ``size`` bytes (44-byte header + PCM), e.g. for size limits."""
    frames = (size - 44) // 2
    data = wav_bytes(frames / sample_rate, sample_rate=sample_rate, tone_hz=None)
    assert len(data) == 44 + 2 * frames
    return data + bytes(size - len(data))  # an odd byte count pads past the data chunk


def encoded_bytes(seconds: float, fmt: str = "flac", sample_rate: int = 16_000) -> bytes:
    """Audio of ``seconds`` encoded with PyAV; fmt: flac, mp3, ogg/webm (opus), mp4 (aac)."""
    import av  # imported lazily: only tests that need compressed audio pay for it

    codec = {"flac": "flac", "mp3": "mp3", "ogg": "libopus", "webm": "libopus", "mp4": "aac"}[fmt]
    rate = 48_000 if codec == "libopus" else sample_rate
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        pcm = wav_bytes(seconds, sample_rate=rate)[44:]
        step = 1024 * 2
        for pts, offset in enumerate(range(0, len(pcm), step)):
            chunk = pcm[offset : offset + step]
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk) // 2)
            frame.planes[0].update(chunk)
            frame.sample_rate, frame.pts = rate, pts * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


@dataclass(frozen=True)
class AudioProbe:
    kind: str | None  # "wav", "mp3", "flac", "ogg", "mp4", "webm"; None: not audio
    duration: float | None  # seconds; None: could not be measured
    corrupt: bool = False  # looks like audio (magic bytes) but its header is broken


def sniff(data: bytes) -> str | None:
    """The container a decoder would pick from the first bytes, or None."""
    head = data[:12]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    return None


def wav_duration(data: bytes) -> float | None:
    """Seconds of PCM in a RIFF/WAVE file from its fmt and data chunks; None if malformed."""
    pos, byte_rate = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk_id == b"fmt " and size >= 16 and pos + 24 <= len(data):
            byte_rate = struct.unpack_from("<I", data, pos + 16)[0]
        elif chunk_id == b"data":
            if not byte_rate:
                return None
            # Streamed WAVs write 0 or 0xFFFFFFFF as the size: trust the bytes present.
            present = len(data) - pos - 8
            return min(size, present) / byte_rate if size else present / byte_rate
        pos += 8 + size + (size & 1)
    return None


def pyav_duration(data: bytes) -> float | None:
    """Duration from the container's metadata, else by decoding; None if PyAV cannot read it."""
    try:
        import av

        with av.open(io.BytesIO(data), "r") as container:
            if container.duration:
                return container.duration / 1_000_000
            stream = container.streams.audio[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
            samples = sum(frame.samples for frame in container.decode(stream))
            return samples / stream.rate if stream.rate else None
    except Exception:
        return None


def probe_audio(data: bytes) -> AudioProbe:
    kind = sniff(data)
    if kind is None:
        return AudioProbe(None, None)
    if kind == "wav":
        duration = wav_duration(data)
        return AudioProbe(kind, duration, corrupt=duration is None)
    return AudioProbe(kind, pyav_duration(data))
