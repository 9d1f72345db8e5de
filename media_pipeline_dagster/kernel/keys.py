"""Object key layout for call audio (DESIGN.md) and the sanitising that keeps keys in their prefix.

``[<prefix>/]<campaign-slug>/audio/<phone>/<started:%Y%m%dT%H%M%SZ>_<recording_id or url_sha1[:16]>.<ext>``
"""

from __future__ import annotations

import functools
import posixpath
import re
import unicodedata
from datetime import UTC, datetime
from urllib.parse import urlsplit

AUDIO_EXTENSIONS = {
    "mp3": "audio/mpeg",
    "mpga": "audio/mpeg",
    "mpeg": "audio/mpeg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
    "mp4": "audio/mp4",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/opus",
    "flac": "audio/flac",
    "webm": "audio/webm",
}
DEFAULT_EXTENSION = "mp3"  # the dialer's recordings are mp3 when the URL does not say
UNKNOWN_PHONE = "unknown-phone"
NO_START = "undated"

_SLUG_STRIP = re.compile(r"[^a-z0-9]+")
_SAFE_SEGMENT = re.compile(r"[^A-Za-z0-9+_.-]+")
_PHONE_CHARS = re.compile(r"[^0-9+]+")


class UnsafeKeyError(ValueError):
    """A key would leave its prefix or contain an empty or dot-only segment."""


@functools.lru_cache(maxsize=4096)  # a run slugs the same few campaign names once per row
def slugify(name: str) -> str:
    """Campaign slug: lower-case ASCII words joined by '-', e.g. 'Dexter Q3 / Süd' -> 'dexter-q3-sud'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_STRIP.sub("-", ascii_name.lower()).strip("-")
    return slug or "unnamed"


def looks_like_path_traversal(value: str | None) -> bool:
    """True for values that try to address other folders ('../x', '/etc', '..\\x')."""
    if not value:
        return False
    if ".." not in value:  # the common case, without splitting: only a leading slash can tell
        return value.strip()[:1] in ("/", "\\")
    text = value.strip().replace("\\", "/")
    return text.startswith("/") or any(part == ".." for part in text.split("/"))


def normalize_prefix(prefix: str | None) -> str:
    """'/dexter-audio/' -> 'dexter-audio'; rejects prefixes that climb ('../x')."""
    if not prefix:
        return ""
    cleaned = prefix.strip().strip("/")
    if looks_like_path_traversal(cleaned) or any(part in ("", ".") for part in cleaned.split("/")):
        raise UnsafeKeyError(f"b2_prefix {prefix!r} must be plain folder names like 'dexter-audio'")
    return cleaned


def extension_from_url(url: str) -> str:
    suffix = posixpath.splitext(urlsplit(url).path)[1].lower().lstrip(".")
    return suffix if suffix in AUDIO_EXTENSIONS else DEFAULT_EXTENSION


def content_type_for(ext: str) -> str:
    return AUDIO_EXTENSIONS.get(ext, "application/octet-stream")


def audio_object_key(
    *,
    prefix: str,
    campaign_slug: str,
    phone: str | None,
    started: datetime | None,
    recording_id: str | None,
    url_sha1: str,
    ext: str,
) -> str:
    phone_segment = _PHONE_CHARS.sub("", phone or "") or UNKNOWN_PHONE
    stamp = started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") if started else NO_START
    ident = _SAFE_SEGMENT.sub("_", recording_id) if recording_id else url_sha1[:16]
    parts = [
        normalize_prefix(prefix),
        slugify(campaign_slug),
        "audio",
        phone_segment,
        f"{stamp}_{ident}.{ext}",
    ]
    key = "/".join(part for part in parts if part)
    assert_key_within(key, prefix)
    return key


def assert_key_within(key: str, prefix: str) -> None:
    """Defence in depth: every key stays under its prefix, with no '.'/'..' segments."""
    segments = key.split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        raise UnsafeKeyError(f"object key {key!r} has an empty or dot segment")
    base = normalize_prefix(prefix)
    if base and not key.startswith(base + "/"):
        raise UnsafeKeyError(f"object key {key!r} is outside prefix {base!r}")


def audio_folder(key: str) -> str:
    """The folder a listing covers for an audio key: ``<...>/audio``, so one campaign's phones
    are listed together; other keys, their parent folder."""
    head, sep, _ = key.rpartition("/audio/")
    return f"{head}/audio" if sep else key.rpartition("/")[0]
