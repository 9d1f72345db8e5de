"""Call rows from the dialer's tables (the legacy backfill's join): recordings ⋈ contacts, names from campaign_map."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, timedelta, tzinfo

import sqlalchemy as sa

from ..catalog.derive import parse_timestamp
from ..kernel.keys import slugify
from .rows import CallRow, RejectedRow, build_call_row

SOURCE_TABLE = "public.recordings"
# Field -> the column a rejection names, as the dialer's tables call it.
_COLUMNS = {
    "url": "recordings.location",
    "started": "recordings.started",
    "stopped": "recordings.stopped",
    "phone": 'contacts."$phone"',
    "campaign_name": "campaign_map.campaign",
    "source_row_id": "recordings.id",
}

_CAMPAIGNS_SQL = """
SELECT DISTINCT c."$campaign_id" AS campaign_id, {name} AS campaign_name
FROM public.contacts c {join}
WHERE c."$campaign_id" IS NOT NULL
"""

# The date filter compares the ISO text prefix (with a day of slack for offsets) so a
# malformed ``started`` text cannot abort the query; exact dates are decided in Python.
# Day-first text (31.10.2024 10:57) has no sortable prefix: such rows are all read.
_ROWS_SQL = sa.text(
    """
    SELECT r.id, r.location, r.started::text AS started, r.stopped::text AS stopped,
           c."$phone" AS phone, c."$campaign_id" AS campaign_id
    FROM public.recordings r
    JOIN public.contacts c ON r.contact_id = c."$id"
    WHERE c."$campaign_id" IN :campaign_ids
      AND (left(r.started::text, 10) BETWEEN :first_day AND :last_day
           OR r.started::text ~ '^[0-9]{1,2}[.][0-9]{1,2}[.][0-9]{4}')
    ORDER BY r.id
    """
).bindparams(sa.bindparam("campaign_ids", expanding=True))

_UNDATED_SQL = sa.text(
    """
    SELECT r.id, r.location, r.started::text AS started
    FROM public.recordings r
    JOIN public.contacts c ON r.contact_id = c."$id"
    WHERE c."$campaign_id" IN :campaign_ids
      AND (r.started IS NULL OR (r.started::text !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}'
                                 AND r.started::text !~ '^[0-9]{1,2}[.][0-9]{1,2}[.][0-9]{4}'))
    ORDER BY r.id
    LIMIT 1000
    """
).bindparams(sa.bindparam("campaign_ids", expanding=True))


def campaigns(engine: sa.Engine) -> dict[str, dict[str, str]]:
    """slug -> {campaign_id: campaign name}; the id stands in when campaign_map has no name."""
    with engine.connect() as conn:
        has_map = conn.scalar(sa.text("SELECT to_regclass('public.campaign_map') IS NOT NULL"))
        if has_map:
            sql = _CAMPAIGNS_SQL.format(
                name='COALESCE(cm.campaign, c."$campaign_id")',
                join='LEFT JOIN public.campaign_map cm ON cm.campaign_id = c."$campaign_id"',
            )
        else:
            sql = _CAMPAIGNS_SQL.format(name='c."$campaign_id"', join="")
        result: dict[str, dict[str, str]] = defaultdict(dict)
        for campaign_id, name in conn.execute(sa.text(sql)):
            result[slugify(name)][campaign_id] = name
    return dict(result)


def read_rows(
    engine: sa.Engine,
    wanted: dict[str, set[date]],
    known: dict[str, dict[str, str]] | None = None,
    naive_zone: tzinfo = UTC,
) -> tuple[list[CallRow], list[RejectedRow]]:
    """Rows of the wanted campaign slugs whose call date (UTC) is one of the wanted days.

    ``started`` is read as text: a ``timestamptz`` column carries its offset, a plain
    ``timestamp`` column is a wall clock time in ``naive_zone``."""
    known = known if known is not None else campaigns(engine)
    rows: list[CallRow] = []
    rejected: list[RejectedRow] = []
    with engine.connect() as conn:
        for slug, days in wanted.items():
            names = known.get(slug, {})
            if not names or not days:
                continue
            params = {
                "campaign_ids": list(names),
                "first_day": (min(days) - timedelta(days=1)).isoformat(),
                "last_day": (max(days) + timedelta(days=1)).isoformat(),
            }
            for rec in conn.execute(_ROWS_SQL, params).mappings():
                row = build_call_row(
                    {
                        "url": rec["location"],
                        "campaign_name": names[rec["campaign_id"]],
                        "phone": rec["phone"],
                        "started": rec["started"],
                        "stopped": rec["stopped"],
                        "source_row_id": str(rec["id"]),
                    },
                    origin=f"{SOURCE_TABLE}#{rec['id']}",
                    source_table=SOURCE_TABLE,
                    naive_zone=naive_zone,
                    columns=_COLUMNS,
                )
                if isinstance(row, RejectedRow):
                    rejected.append(row)
                elif row.call_date in days:
                    rows.append(row)
            for rec in conn.execute(_UNDATED_SQL, {"campaign_ids": list(names)}).mappings():
                rejected.append(
                    RejectedRow(
                        f"{SOURCE_TABLE}#{rec['id']}",
                        f"unparseable started {rec['started']!r}: the call date decides the partition",
                        slug,
                        rec["location"],
                    )
                )
    return rows, rejected


_NEW_ROWS_SQL = sa.text(
    """
    SELECT r.id, c."$campaign_id" AS campaign_id, r.started::text AS started
    FROM public.recordings r JOIN public.contacts c ON r.contact_id = c."$id"
    WHERE r.id > :after
    ORDER BY r.id
    LIMIT :batch
    """
)


def new_call_days(
    engine: sa.Engine,
    after_id: int,
    batch: int,
    known: dict[str, dict[str, str]],
    naive_zone: tzinfo = UTC,
):
    """UTC days per campaign slug of recordings with id > after_id (at most ``batch`` rows), and the last id seen.

    Days come from the parsed timestamp, as the run decides them, so a call at 00:30 in
    a zone ahead of UTC requests the partition of the day before."""
    slug_of = {cid: slug for slug, ids in known.items() for cid in ids}
    days: dict[str, set[date]] = defaultdict(set)
    last_id = after_id
    with engine.connect() as conn:
        for rec_id, campaign_id, started in conn.execute(
            _NEW_ROWS_SQL, {"after": after_id, "batch": batch}
        ):
            last_id = rec_id
            slug = slug_of.get(campaign_id)
            try:
                parsed = parse_timestamp(started, naive_zone)
            except ValueError:
                parsed = None  # reported by the run that reads the campaign
            if slug and parsed:
                days[slug].add(parsed.date())
    return dict(days), last_id
