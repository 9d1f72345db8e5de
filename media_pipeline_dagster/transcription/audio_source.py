"""Fetching a row's audio to a temporary file: from the bucket when cataloged with a key, else its URL.

URLs come from data (CSV exports, ``public.recordings``, gateway requests), so they are
fetched through the project's fetch policy (``kernel/fetch.py``): http(s) to allowed
destinations only, every redirect hop checked, ``file://`` only inside the local audio
root. Failure reasons name the masked URL and why, never bytes of the body and never
whether a local path outside the root exists.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ..kernel.audio_sniff import SNIFF_BYTES, is_document
from ..kernel.fetch import FetchError, FetchPolicy, FetchRefused, download_to_file
from ..resources.bucket import Bucket, ObjectMissing
from ..resources.transcriber.providers import TranscriptionError

CHUNK = 1 << 20
# A call is minutes of audio; a URL streaming without end must not fill the disk.
MAX_AUDIO_BYTES = 2 * 1024**3


def _suffix(name: str) -> str:
    suffix = Path(urlsplit(name).path).suffix.lower()
    return suffix if 1 < len(suffix) <= 6 else ".mp3"


def fetch_audio(
    row, store: Bucket, dest_dir: Path, policy: FetchPolicy, *, timeout: float = 60.0
) -> tuple[Path, str]:
    """The audio of ``row`` as a local file, and where it came from ('bucket' or 'url')."""
    name = f"{row.id}{_suffix(row.b2_object_key or row.url or '')}"
    dest = dest_dir / name
    source = "bucket"
    if row.b2_object_key:
        try:
            chunks = store.iter_bytes(row.b2_object_key, CHUNK)
            with dest.open("wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
        except ObjectMissing:
            if not row.url:
                raise TranscriptionError(
                    "permanent", f"audio object {row.b2_object_key!r} is missing from the bucket"
                ) from None
            source = "url (bucket object missing)"
            _download(policy, row.url, dest, timeout)
        except OSError as exc:
            raise TranscriptionError(
                "transient", f"reading {row.b2_object_key!r} from the bucket failed: {exc}"
            ) from exc
    else:
        source = "url"
        _download(policy, row.url, dest, timeout)
    _check_audio(dest)
    return dest, source


def _download(policy: FetchPolicy, url: str | None, dest: Path, timeout: float) -> None:
    if not url:
        raise TranscriptionError("permanent", "the row has neither an audio object nor a URL")
    try:
        download_to_file(policy, url, dest, timeout=timeout, max_bytes=MAX_AUDIO_BYTES)
    except FetchRefused as exc:
        raise TranscriptionError("permanent", str(exc)) from None
    except FetchError as exc:
        # 408/425/429/5xx and network errors may pass; other answers (404, 403...) will not
        raise TranscriptionError(
            "transient" if exc.transient else "permanent", str(exc), code=exc.status
        ) from None


def _check_audio(path: Path) -> None:
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise TranscriptionError("permanent", "the audio file is empty (0 bytes)")
    if is_document(head):
        raise TranscriptionError("permanent", "the audio file is a text/HTML document, not audio")
