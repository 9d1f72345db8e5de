"""The work queue in the catalog: which audio is pending, and claims that keep two workers off one file.

A row is pending when it has no completed transcription, no permanent failure, no
cooldown in force (``ignore_until`` in the future) and no unexpired claim. Claims are
taken in batches with ``INSERT … ON CONFLICT`` on ``transcription_claims`` (the legacy
worker uses the same table), so the claim row is the mutex; on PostgreSQL the candidate
audio rows are locked ``FOR UPDATE SKIP LOCKED`` so concurrent runs pick different rows
instead of queueing behind each other. A claim whose ``expires_at`` has passed (or, for
legacy rows without one, whose ``claimed_at`` is older than the TTL) is taken over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from ..catalog.queries import campaign_names, chunks, dialect_insert
from ..catalog.tables import (
    audio_files,
    transcription_claims,
    transcription_failures,
    transcriptions,
)
from ..kernel.keys import slugify
from ..kernel.partitions import utc_bounds

a, t, f, c = audio_files, transcriptions, transcription_failures, transcription_claims
COMPLETED = "completed"


def now_utc() -> datetime:
    return datetime.now(UTC)


def _unexpired_claim(now: datetime, ttl: timedelta):
    return sa.or_(
        sa.and_(c.c.expires_at.is_not(None), c.c.expires_at > now),
        sa.and_(c.c.expires_at.is_(None), c.c.claimed_at > now - ttl),
    )


def blocking_conditions(
    now: datetime, *, force_since: datetime | None = None, retry_failed: bool = False
):
    """Conditions that keep an audio row out of the queue (each is an EXISTS on a side table).

    ``force_since``: retranscribe; only transcriptions completed since then count as done
    (so two forced runs do not redo each other's work). ``retry_failed``: ignore failures.
    """
    done = sa.and_(t.c.audio_file_id == a.c.id, t.c.status == COMPLETED)
    if force_since is not None:
        done = sa.and_(done, t.c.completed_at >= force_since)
    conditions = [sa.exists().where(done)]
    if not retry_failed:
        conditions.append(
            sa.exists().where(
                f.c.audio_file_id == a.c.id,
                sa.or_(
                    f.c.status == "permanent",
                    sa.and_(f.c.ignore_until.is_not(None), f.c.ignore_until > now),
                ),
            )
        )
    return conditions


def partition_filters(conn: sa.Connection, wanted: dict[str, set[date]]):
    """One OR-term per campaign: its names (any spelling with this slug) and its call days."""
    names = campaign_names(conn)
    terms = []
    for slug, days in wanted.items():
        matching = [n for n in names if slugify(n) == slug]
        if not matching:
            continue
        start, end = utc_bounds(days)
        terms.append(
            sa.and_(a.c.campaign_name.in_(matching), a.c.started >= start, a.c.started < end)
        )
    return terms


def pending_audio(
    conn: sa.Connection,
    wanted: dict[str, set[date]],
    *,
    now: datetime,
    claim_ttl: timedelta,
    force_since: datetime | None = None,
    retry_failed: bool = False,
    limit: int | None = None,
) -> tuple[list[sa.Row], dict[str, int]]:
    """Pending rows of these partitions (ordered by id) and counts of the rows held back, by reason."""
    terms = partition_filters(conn, wanted)
    if not terms:
        return [], {}
    held = {
        "already_transcribed": sa.exists().where(
            t.c.audio_file_id == a.c.id,
            t.c.status == COMPLETED,
            *([t.c.completed_at >= force_since] if force_since is not None else []),
        ),
        "permanent_failure": sa.exists().where(
            f.c.audio_file_id == a.c.id, f.c.status == "permanent"
        ),
        "cooling_down": sa.exists().where(
            f.c.audio_file_id == a.c.id, f.c.status != "permanent", f.c.ignore_until > now
        ),
        "claimed_elsewhere": sa.exists().where(
            c.c.audio_file_id == a.c.id, _unexpired_claim(now, claim_ttl)
        ),
    }
    if retry_failed:
        held.pop("permanent_failure")
        held.pop("cooling_down")
    columns = [
        a.c.id,
        a.c.url,
        a.c.url_sha1,
        a.c.b2_object_key,
        a.c.campaign_name,
        a.c.phone,
        a.c.started,
        a.c.recording_id,
        a.c.file_size_bytes,
        a.c.duration_seconds,
    ]
    flags = [sa.case((cond, 1), else_=0).label(name) for name, cond in held.items()]
    stmt = sa.select(*columns, *flags).where(sa.or_(*terms)).order_by(a.c.id)
    pending: list[sa.Row] = []
    counts = dict.fromkeys(held, 0)
    days_of = {slug: days for slug, days in wanted.items()}
    for row in conn.execute(stmt):
        if row.started is None or row.started.astimezone(UTC).date() not in days_of.get(
            slugify(row.campaign_name or ""), ()
        ):
            continue  # a range's bounds cover days outside the partitions asked for
        reasons = [name for name in held if getattr(row, name)]
        if reasons:
            counts[reasons[0]] += 1
        elif limit is None or len(pending) < limit:
            pending.append(row)
    return pending, counts


def claim(
    conn: sa.Connection,
    ids: Sequence[int],
    *,
    worker: str,
    ttl: timedelta,
    now: datetime | None = None,
    force_since: datetime | None = None,
    retry_failed: bool = False,
) -> list[int]:
    """Claim what can be claimed of ``ids``; returns the ids now held by ``worker``.

    Runs in the caller's transaction. After the claim a second statement (a fresh
    snapshot on PostgreSQL) drops ids another worker finished meanwhile.
    """
    if not ids:
        return []
    now = now or now_utc()
    candidates = (
        sa.select(
            a.c.id,
            sa.literal(worker).label("claimed_by"),
            sa.literal(now, c.c.claimed_at.type).label("claimed_at"),
            sa.literal(now + ttl, c.c.expires_at.type).label("expires_at"),
        )
        .where(a.c.id.in_(list(ids)))
        .order_by(a.c.id)
    )
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True, of=a)
    insert = dialect_insert(conn, c)
    stmt = (
        insert.from_select(["audio_file_id", "claimed_by", "claimed_at", "expires_at"], candidates)
        .on_conflict_do_update(
            index_elements=["audio_file_id"],
            set_={
                "claimed_by": insert.excluded.claimed_by,
                "claimed_at": insert.excluded.claimed_at,
                "expires_at": insert.excluded.expires_at,
            },
            where=sa.not_(_unexpired_claim(now, ttl)),
        )
        .returning(c.c.audio_file_id)
    )
    won = sorted(conn.scalars(stmt))
    if not won:
        return []
    finished = set(
        conn.scalars(
            sa.select(a.c.id).where(
                a.c.id.in_(won),
                sa.or_(
                    *blocking_conditions(now, force_since=force_since, retry_failed=retry_failed)
                ),
            )
        )
    )
    if finished:
        release(conn, finished, worker=worker)
    return [i for i in won if i not in finished]


def release(conn: sa.Connection, ids, *, worker: str) -> None:
    for chunk in chunks(sorted(ids), 1000):
        conn.execute(sa.delete(c).where(c.c.audio_file_id.in_(chunk), c.c.claimed_by == worker))


def stale_claims(
    conn: sa.Connection, *, now: datetime, ttl: timedelta, limit: int = 50
) -> list[sa.Row]:
    """Claims past their expiry (or, without one, older than the TTL): left by a crashed worker."""
    stmt = (
        sa.select(c)
        .where(sa.not_(_unexpired_claim(now, ttl)))
        .order_by(c.c.claimed_at)
        .limit(limit)
    )
    return list(conn.execute(stmt))


def utc_day(column, dialect: str):
    """The UTC calendar day of a timestamp column, as 'YYYY-MM-DD' text, on either backend."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")
    return sa.func.substr(column, 1, 10)  # SQLite keeps UTC ISO-8601 text


def pending_summary(conn: sa.Connection, *, now: datetime, ttl: timedelta) -> list[sa.Row]:
    """Per (campaign_name, UTC day) with pending audio: how many, and a fingerprint of their state.

    One grouped query however many rows the catalog holds. ``id_sum`` and ``last_attempt``
    and ``stale_claim`` change whenever new audio arrives, a failure is recorded or a
    claim goes stale, so a sensor's run key changes exactly when there is new work.
    """
    day = utc_day(a.c.started, conn.dialect.name).label("day")
    fj, cj = (
        f.alias("fj"),
        c.alias("cj"),
    )  # joined copies, so the EXISTS tests still correlate on audio_files only
    stmt = (
        sa.select(
            a.c.campaign_name,
            day,
            sa.func.count().label("pending"),
            sa.func.sum(a.c.id).label("id_sum"),
            sa.func.max(fj.c.last_attempt_at).label("last_attempt"),
            sa.func.max(cj.c.expires_at).label("stale_claim"),
        )
        .select_from(
            a.outerjoin(fj, fj.c.audio_file_id == a.c.id).outerjoin(
                cj, cj.c.audio_file_id == a.c.id
            )
        )
        .where(a.c.started.is_not(None), a.c.campaign_name.is_not(None))
        # One NOT EXISTS per condition, never NOT (A OR B): PostgreSQL turns each into a hash
        # anti-join over the small side table, where the OR form probes it once per row
        # (a million probes and a JIT compile per tick at a million pending rows).
        .where(*(sa.not_(blocked) for blocked in blocking_conditions(now)))
        .where(sa.not_(sa.exists().where(c.c.audio_file_id == a.c.id, _unexpired_claim(now, ttl))))
        .group_by(a.c.campaign_name, day)
    )
    return list(conn.execute(stmt))
