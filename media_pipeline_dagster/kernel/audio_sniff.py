"""Is this audio? The first bytes and the declared Content-Type of a body, judged one way for
every domain (the calls transfer, the transcription fetch, the gateway's strict check).

A web page, an XML error document or a JSON error served where audio was expected is the
usual "not audio": a login wall, an expired link, a storage error. Those are refused in every
mode; ``audio_signature`` names the known audio formats for the strict checks.
"""

from __future__ import annotations

# Documents that are never audio; compared with the first bytes, leading whitespace removed, lowercased.
DOCUMENT_STARTS = (b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"{")
NOT_AUDIO_TYPES = ("text/", "application/json", "application/xml", "application/xhtml")
AUDIO_TYPES = (
    "audio/",
    "video/",
    "application/octet-stream",
    "binary/octet-stream",
    "application/ogg",
)
# (offset, bytes) pairs that all must match; the formats OpenAI and faster-whisper read, and dialer exports.
AUDIO_SIGNATURES: dict[str, tuple[tuple[int, bytes], ...]] = {
    "WAV": ((0, b"RIFF"), (8, b"WAVE")),
    "WAV (RF64)": ((0, b"RF64"), (8, b"WAVE")),
    "MP3 (ID3)": ((0, b"ID3"),),
    "OGG/Opus": ((0, b"OggS"),),
    "FLAC": ((0, b"fLaC"),),
    "M4A/MP4": ((4, b"ftyp"),),
    "WebM/Matroska": ((0, b"\x1a\x45\xdf\xa3"),),
    "AMR": ((0, b"#!AMR"),),
    "AIFF": ((0, b"FORM"), (8, b"AIF")),
    "CAF": ((0, b"caff"),),
    "WMA/ASF": ((0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),),
    "AU": ((0, b".snd"),),
}
SNIFF_BYTES = 64  # enough for every signature and document start above


def media_type(content_type: str | None) -> str:
    """``audio/mpeg`` of ``Audio/MPEG; charset=...``; empty when none was declared."""
    return (content_type or "").split(";")[0].strip().lower()[:100]


def is_document(head: bytes) -> bool:
    """The first bytes are an HTML, XML or JSON document."""
    return bytes(head[:SNIFF_BYTES]).lstrip().lower().startswith(DOCUMENT_STARTS)


def declared_not_audio(content_type: str | None) -> bool:
    """The Content-Type names a text or document type that cannot carry audio."""
    return media_type(content_type).startswith(NOT_AUDIO_TYPES)


def declared_audio_capable(content_type: str | None) -> bool:
    """No Content-Type, or one that can carry audio (audio/*, video/*, octet-stream, ogg)."""
    ctype = media_type(content_type)
    return not ctype or ctype.startswith(AUDIO_TYPES)


def audio_signature(head: bytes) -> str | None:
    """The audio format the first bytes announce, or None."""
    for name, parts in AUDIO_SIGNATURES.items():
        if all(head[offset : offset + len(magic)] == magic for offset, magic in parts):
            return name
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "MPEG audio"  # MPEG audio / ADTS AAC frame sync
    return None
