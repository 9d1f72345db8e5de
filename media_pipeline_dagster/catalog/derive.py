"""Derived catalog fields, computed the same way the seeds' SQL does."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone

_NOT_PHONE = re.compile(r"[^0-9+]")
# Seed 001: (regexp_match(url, '/(PR_[^./]+)'))[1]
_RECORDING_ID = re.compile(r"/(PR_[^./]+)")


def url_sha1(url: str) -> str:
    """Full hex SHA-1 of the URL text: the catalog's dedupe key."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()


def normalize_phone(raw: str | None) -> str | None:
    """``regexp_replace(trim(phone), '[^0-9+]', '', 'g')``; empty results become None."""
    if raw is None:
        return None
    digits = _NOT_PHONE.sub("", raw.strip())
    return digits or None


def recording_id_from_url(url: str) -> str | None:
    """The ``PR_<uuid>`` segment of a dialer URL, or None."""
    match = _RECORDING_ID.search(url)
    return match.group(1) if match else None


def duration_seconds(started: datetime | None, stopped: datetime | None) -> float | None:
    """``EXTRACT(EPOCH FROM (stopped - started))`` when both ends are known."""
    if started is None or stopped is None:
        return None
    return (stopped - started).total_seconds()


def parse_timestamp(text: str | None) -> datetime | None:
    """Parse a source timestamp into an aware UTC datetime.

    Accepts ISO-8601 with ``Z`` or an offset, a space instead of ``T``, and naive values,
    which are read as UTC (``text::timestamptz`` in a UTC session). Raises ValueError with
    the offending text for anything else; empty input is None.
    """
    if text is None:
        return None
    value = text.strip()
    if not value:
        return None
    candidate = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise ValueError(f"unparseable timestamp {text!r} (expected ISO-8601, e.g. 2024-10-31T10:57:01Z)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)
