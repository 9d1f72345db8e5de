"""Transcript object keys: beside the audio, mirroring its path (DESIGN.md).

``[<prefix>/]<campaign>/audio/<phone>/<stem>.<ext>`` →
``[<prefix>/]<campaign>/transcriptions/json/<phone>/<stem>.json`` and ``…/txt/…/<stem>.txt``.
Audio keys of another shape (written by the old scripts) get ``<campaign-slug>/transcriptions/json/<key stem>.json``;
rows without an object get the key their audio would have had.
"""

from __future__ import annotations

import posixpath

from ..kernel.keys import assert_key_within, audio_object_key, extension_from_url, slugify


def _stem(path: str) -> str:
    root, ext = posixpath.splitext(path)
    return root if ext else path


def audio_key_of(row) -> str:
    if row.b2_object_key:
        return row.b2_object_key
    return audio_object_key(
        prefix="",
        campaign_slug=row.campaign_name or "unnamed",
        phone=row.phone,
        started=row.started,
        recording_id=row.recording_id,
        url_sha1=row.url_sha1,
        ext=extension_from_url(row.url),
    )


def transcript_keys(row) -> tuple[str, str]:
    """(json key, txt key) for an audio_files row."""
    key = audio_key_of(row).lstrip("/")
    head, sep, tail = key.rpartition("/audio/")
    if sep and head:
        base, rest = head, _stem(tail)
    else:
        base, rest = slugify(row.campaign_name or "unnamed"), _stem(key)
    keys = (f"{base}/transcriptions/json/{rest}.json", f"{base}/transcriptions/txt/{rest}.txt")
    for k in keys:
        assert_key_within(k, "")
    return keys
