"""Find a post_media row's file in the media cache, as the old upload_to_s3.py did.

1. ``local_file_path`` (absolute, or relative to the cache; a leading ``cache/media/`` is
   dropped, as the social-tui app records it), 2. ``<md5_sum>.<extension of mime_type>``
   in the media type's folder, 3. any file there whose stem is the md5 (the database says
   ``.bin``, the file is ``.jpg``). Nothing outside the cache directory is ever read: a
   path that resolves outside it (``..``, absolute elsewhere, a symlink) is refused.
"""

from __future__ import annotations

import mimetypes
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .queries import MediaRow

MEDIA_FOLDERS = {"image": "images", "video": "videos", "document": "documents"}
MIME_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/pjpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/heic": "heic",
    "image/avif": "avif",
    "image/bmp": "bmp",
    "image/svg+xml": "svg",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
    "video/x-matroska": "mkv",
    "video/mpeg": "mpeg",
    "video/3gpp": "3gp",
    "application/pdf": "pdf",
    "text/plain": "txt",
    "application/msword": "doc",
    "application/zip": "zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
}
EXTENSION_TYPES = {ext: mime for mime, ext in reversed(MIME_EXTENSIONS.items())}
UNKNOWN_EXTENSION = "bin"
OCTET_STREAM = "application/octet-stream"
_MD5 = re.compile(r"[0-9a-f]{32}")
_EXTENSION = re.compile(r"[a-z0-9]{1,10}")
_MIME = re.compile(r"[a-z0-9][\w.+-]*/[\w.+-]+")

CACHE_PREFIX = "cache/"  # every archived object lives under it (and moves to Glacier)


def normalize_md5(value: str | None) -> str | None:
    """The md5 sum in lower-case hex, or None when it is not 32 hex digits."""
    md5 = (value or "").strip().lower()
    return md5 if _MD5.fullmatch(md5) else None


def mime_extension(mime_type: str | None) -> str | None:
    return MIME_EXTENSIONS.get((mime_type or "").split(";")[0].strip().lower())


def archive_key(created_at: datetime | None, md5: str, extension: str) -> str:
    """``cache/YYYY/MM/<md5>.<ext>`` by created_at; rows without a date go to ``cache/undated/``."""
    folder = created_at.strftime("%Y/%m") if created_at else "undated"
    return f"{CACHE_PREFIX}{folder}/{md5}.{extension}"


def extension_of(path: Path, mime_type: str | None) -> str:
    """The file's own extension when it has a sane one, else mime_type's, else 'bin'."""
    suffix = path.suffix.lower().lstrip(".")
    if _EXTENSION.fullmatch(suffix):
        return suffix
    return mime_extension(mime_type) or UNKNOWN_EXTENSION


def content_type(extension: str, mime_type: str | None) -> str:
    """The type the key's extension says (so key and Content-Type agree), else the row's, else octet-stream."""
    by_extension = EXTENSION_TYPES.get(extension) or mimetypes.types_map.get(f".{extension}")
    if by_extension and by_extension != OCTET_STREAM:
        return by_extension
    declared = (mime_type or "").split(";")[0].strip().lower()
    return declared if _MIME.fullmatch(declared) else OCTET_STREAM


@dataclass(frozen=True)
class Located:
    path: Path | None
    how: str = ""  # local_file_path | md5_extension | md5_stem
    refused_path: str | None = None  # a local_file_path pointing outside the cache (never read)


class MediaCache:
    """The cache folder, each media folder listed once per run (stem -> file names)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._listings: dict[str, dict[str, list[str]]] = {}

    def inside(self, path: Path) -> Path | None:
        """The resolved path if it is a file inside the cache, else None."""
        resolved = path.resolve()
        return resolved if resolved.is_relative_to(self.root) and resolved.is_file() else None

    def _listing(self, folder: str) -> dict[str, list[str]]:
        if folder not in self._listings:
            stems: dict[str, list[str]] = {}
            try:
                with os.scandir(self.root / folder) as entries:
                    for entry in entries:
                        stems.setdefault(Path(entry.name).stem.lower(), []).append(entry.name)
            except FileNotFoundError:
                pass
            self._listings[folder] = {stem: sorted(names) for stem, names in stems.items()}
        return self._listings[folder]

    def _from_local_file_path(self, value: str) -> tuple[Path | None, str | None]:
        given = Path(value.strip())
        if not given.is_absolute():
            parts = given.parts
            if parts[:2] == ("cache", "media"):
                parts = parts[2:]
            given = self.root.joinpath(*parts) if parts else self.root
        if not given.resolve().is_relative_to(self.root):
            return None, value
        return self.inside(given), None

    def locate(self, row: MediaRow) -> Located:
        refused = None
        if row.local_file_path and row.local_file_path.strip():
            found, refused = self._from_local_file_path(row.local_file_path)
            if found:
                return Located(found, "local_file_path")
        md5 = normalize_md5(row.md5_sum)
        if md5 is None:
            return Located(None, refused_path=refused)
        folder = MEDIA_FOLDERS.get((row.media_type or "").strip().lower())
        folders = [folder] if folder else list(MEDIA_FOLDERS.values())
        extension = mime_extension(row.mime_type) or UNKNOWN_EXTENSION
        for name in folders:
            names = self._listing(name).get(md5, [])
            preferred = [n for n in names if n.lower() == f"{md5}.{extension}"]
            for candidate, how in [(n, "md5_extension") for n in preferred] + [
                (n, "md5_stem") for n in names
            ]:
                path = self.root / name / candidate
                found = self.inside(path)
                if found:
                    return Located(found, how, refused)
                if not path.resolve().is_relative_to(
                    self.root
                ):  # a symlink leading out of the cache
                    refused = refused or str(path)
        return Located(None, refused_path=refused)
