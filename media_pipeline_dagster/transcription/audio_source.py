"""Fetching a row's audio to a temporary file: from the bucket when cataloged with a key, else its URL."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import obstore
import requests
from obstore.exceptions import NotFoundError

from .providers import TranscriptionError

CHUNK = 1 << 20
_HTML_STARTS = (b"<!doctype", b"<html", b"<?xml", b"{")


def _suffix(name: str) -> str:
    suffix = Path(urlsplit(name).path).suffix.lower()
    return suffix if 1 < len(suffix) <= 6 else ".mp3"


def fetch_audio(row, store, dest_dir: Path, *, timeout: float = 60.0) -> tuple[Path, str]:
    """The audio of ``row`` as a local file, and where it came from ('bucket' or 'url')."""
    name = f"{row.id}{_suffix(row.b2_object_key or row.url or '')}"
    dest = dest_dir / name
    source = "bucket"
    if row.b2_object_key:
        try:
            result = obstore.get(store, row.b2_object_key)
            with dest.open("wb") as fh:
                for chunk in result.stream(min_chunk_size=CHUNK):
                    fh.write(chunk)
        except (NotFoundError, FileNotFoundError):
            if not row.url:
                raise TranscriptionError("permanent", f"audio object {row.b2_object_key!r} is missing from the bucket") from None
            source = "url (bucket object missing)"
            _download(row.url, dest, timeout)
        except OSError as exc:
            raise TranscriptionError("transient", f"reading {row.b2_object_key!r} from the bucket failed: {exc}") from exc
    else:
        source = "url"
        _download(row.url, dest, timeout)
    _check_audio(dest)
    return dest, source


def _download(url: str, dest: Path, timeout: float) -> None:
    parts = urlsplit(url)
    if parts.scheme == "file":
        try:
            shutil.copyfile(unquote(parts.path), dest)
        except OSError as exc:
            raise TranscriptionError("permanent", f"cannot read {url}: {exc}") from exc
        return
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise TranscriptionError("transient", f"HTTP {response.status_code} fetching {url}", code=response.status_code)
            if response.status_code >= 400:
                raise TranscriptionError("permanent", f"HTTP {response.status_code} fetching {url}", code=response.status_code)
            with dest.open("wb") as fh:
                for chunk in response.iter_content(CHUNK):
                    fh.write(chunk)
    except requests.RequestException as exc:
        raise TranscriptionError("transient", f"fetching {url} failed: {exc}") from exc


def _check_audio(path: Path) -> None:
    with path.open("rb") as fh:
        head = fh.read(64)
    if not head:
        raise TranscriptionError("permanent", "the audio file is empty (0 bytes)")
    if head.lstrip().lower().startswith(_HTML_STARTS):
        raise TranscriptionError("permanent", "the audio file is a text/HTML document, not audio")
