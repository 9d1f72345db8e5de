"""One call recording as the sources describe it, validated and with its derived fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from ..catalog.derive import (
    duration_seconds as derive_duration,
)
from ..catalog.derive import (
    normalize_phone,
    parse_timestamp,
    recording_id_from_url,
)
from ..catalog.derive import (
    url_sha1 as derive_url_sha1,
)
from ..kernel.keys import extension_from_url, looks_like_path_traversal, slugify

ACCEPTED_SCHEMES = ("http://", "https://", "file://")


@dataclass(frozen=True)
class CallRow:
    url: str
    url_sha1: str
    campaign_name: str
    campaign_slug: str
    phone: str | None
    recording_id: str | None
    started: datetime
    stopped: datetime | None
    duration_seconds: float | None
    source_table: str | None
    source_row_id: int | None
    origin: str  # where it came from, e.g. "calls.csv row 12" or "public.recordings#77"
    company: str | None = None

    @property
    def call_date(self) -> date:
        return self.started.date()  # started is UTC: partitions are UTC days

    @property
    def extension(self) -> str:
        return extension_from_url(self.url)

    def catalog_values(self) -> dict[str, Any]:
        return {
            "phone": self.phone,
            "campaign_name": self.campaign_name,
            "recording_id": self.recording_id,
            "url": self.url,
            "url_sha1": self.url_sha1,
            "started": self.started,
            "stopped": self.stopped,
            "duration_seconds": self.duration_seconds,
            "source_table": self.source_table,
            "source_row_id": self.source_row_id,
            "company": self.company,
        }


@dataclass(frozen=True)
class RejectedRow:
    origin: str
    reason: str
    campaign_slug: str | None = None
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    column: str | None = None  # the source's own column name, e.g. "location" or "started"


def _text(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int_or_none(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value)) if "." in value else int(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a whole number") from None


def _float_or_none(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"duration {value!r} is not a number of seconds") from None


def build_call_row(
    raw: dict[str, Any],
    *,
    origin: str,
    source_table: str | None,
    naive_zone: tzinfo = UTC,
    columns: Mapping[str, str] | None = None,
) -> CallRow | RejectedRow:
    """Validate one source record. Every problem becomes a RejectedRow with its reason and column.

    ``columns`` maps field names to the source's own column names (a CSV's ``location``
    for ``url``), so reasons name what the operator sees; ``naive_zone`` is the zone of
    timestamps written without an offset.
    """
    campaign = _text(raw, "campaign_name")
    slug = slugify(campaign) if campaign else None
    url = _text(raw, "url")

    def col(name: str) -> str:
        return (columns or {}).get(name, name)

    def reject(reason: str, name: str) -> RejectedRow:
        return RejectedRow(
            origin=origin,
            reason=f"column {col(name)}: {reason}",
            campaign_slug=slug,
            url=url,
            column=col(name),
        )

    if not url:
        return reject("no audio URL (empty)", "url")
    if not url.lower().startswith(ACCEPTED_SCHEMES):
        return reject(f"URL {url!r} is not http(s) or file", "url")
    if not campaign or not slug:
        return reject("no campaign_name (empty)", "campaign_name")
    if looks_like_path_traversal(campaign):
        return reject(
            f"campaign_name {campaign!r} looks like a path ('../' or leading '/')", "campaign_name"
        )
    phone_raw = _text(raw, "phone")
    if looks_like_path_traversal(phone_raw):
        return reject(f"phone {phone_raw!r} looks like a path ('../' or leading '/')", "phone")
    values: dict[str, Any] = {}
    for name, parse in (
        ("started", lambda v: parse_timestamp(v, naive_zone)),
        ("stopped", lambda v: parse_timestamp(v, naive_zone)),
        ("source_row_id", lambda v: _int_or_none(v, "recordings_row_id")),
        ("duration_seconds", _float_or_none),
    ):
        try:
            values[name] = parse(_text(raw, name))
        except ValueError as exc:
            return reject(str(exc), name)
    started, stopped = values["started"], values["stopped"]
    if started is None:
        return reject(
            "no started timestamp (empty): the call date decides the partition", "started"
        )
    duration = values["duration_seconds"]
    return CallRow(
        url=url,
        url_sha1=derive_url_sha1(url),
        campaign_name=campaign,
        campaign_slug=slug,
        phone=normalize_phone(phone_raw),
        recording_id=_text(raw, "recording_id") or recording_id_from_url(url),
        started=started,
        stopped=stopped,
        duration_seconds=duration if duration is not None else derive_duration(started, stopped),
        source_table=source_table,
        source_row_id=values["source_row_id"],
        origin=origin,
        company=_text(raw, "company"),
    )
