"""Derived catalog fields, computed the same way the legacy backfill SQL does (rows it wrote
and rows written here must agree byte for byte)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, tzinfo

_NOT_PHONE = re.compile(r"[^0-9+]")
# The legacy backfill's (regexp_match(url, '/(PR_[^./]+)'))[1]
_RECORDING_ID = re.compile(r"/(PR_[^./]+)")
# 31.10.2024 10:57[:01[.569]]: the day-first form of spreadsheet exports in German locales.
_DAY_FIRST = re.compile(
    r"(\d{1,2})\.(\d{1,2})\.(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?"
)


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


def parse_timestamp(text: str | None, naive_zone: tzinfo = UTC) -> datetime | None:
    """Parse a source timestamp into an aware UTC datetime.

    Accepts ISO-8601 (``Z`` or an offset such as ``+01:00`` or PostgreSQL's ``+00``, a
    space instead of ``T``, seconds optional) and the day-first form of German exports,
    ``31.10.2024 10:57`` or ``31.10.2024 10:57:01``. A value without an offset is a wall
    clock time in ``naive_zone`` (UTC unless the operator configures the dialer's zone);
    an ambiguous hour at the end of summer time is read as its first occurrence. Slashed
    dates (``10/31/2024``) are refused: day-first and month-first cannot be told apart.
    Raises ValueError with the offending text for anything else; empty input is None.
    """
    if text is None:
        return None
    value = text.strip()
    if not value:
        return None
    day_first = _DAY_FIRST.fullmatch(value)
    if day_first:
        day, month, year, hour, minute, second, fraction = day_first.groups()
        try:
            parsed = datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second or 0),
                int((fraction or "0").ljust(6, "0")[:6]),
            )
        except ValueError as exc:
            raise ValueError(f"unparseable timestamp {text!r} ({exc})") from None
    else:
        candidate = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            raise ValueError(
                f"unparseable timestamp {text!r} (expected ISO-8601 such as 2024-10-31T10:57:01Z "
                "or day-first 31.10.2024 10:57:01)"
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=naive_zone)
    return parsed.astimezone(UTC)
