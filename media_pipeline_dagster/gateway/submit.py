"""Queueing a recording: the ingestion code path (stream → hash → upload → catalog insert), one row.

The same recording asked for twice, or a hundred times at once, ends as one audio_files
row and one upload: requests for one URL are serialised (a lock in this process, and a
PostgreSQL advisory lock across gateway processes), and the second finds the row the
first cataloged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from hashlib import sha1

import sqlalchemy as sa

from ..calls.ingest import IngestOptions, ingest
from ..calls.recordings_source import SOURCE_TABLE
from ..calls.rows import RejectedRow, build_call_row
from ..calls.transfer import TransferSettings
from ..catalog.tables import audio_files
from ..kernel.resilience import SystemicFailure

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


class SubmitError(Exception):
    """``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Queued:
    audio_file_id: int
    b2_key: str | None
    created: bool


def _lock_for(url_sha1: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(url_sha1, threading.Lock())


def _existing(engine: sa.Engine, url_sha1: str, recording_id: str | None = None):
    """The row of this URL; else, when asked, the row holding the recording under another URL."""
    select = sa.select(audio_files.c.id, audio_files.c.b2_object_key)
    with engine.connect() as conn:
        found = conn.execute(select.where(audio_files.c.url_sha1 == url_sha1)).first()
        if found is None and recording_id:
            found = conn.execute(select.where(audio_files.c.recording_id == recording_id)).first()
        return found


def queue_recording(engine: sa.Engine, store, recording: dict, *, prefix: str, transfer: TransferSettings) -> Queued:
    url = recording["location"]
    source_row_id = recording["id"] if str(recording["id"]).isdigit() else None  # numeric ids only, as the seed
    row = build_call_row(
        {"url": url, "campaign_name": recording["campaign_name"], "phone": recording["phone"],
         "started": recording["started"], "stopped": recording["stopped"],
         "source_row_id": source_row_id},
        origin=f"{SOURCE_TABLE}#{recording['id']}", source_table=SOURCE_TABLE,
    )
    if isinstance(row, RejectedRow):
        raise SubmitError(422, f"recording {recording['id']} cannot be queued: {row.reason}")
    url_sha1 = sha1(url.encode("utf-8")).hexdigest()
    with _lock_for(url_sha1), _cross_process_lock(engine, url_sha1):
        found = _existing(engine, url_sha1)
        if found is not None and found.b2_object_key:
            return Queued(found.id, found.b2_object_key, created=False)
        try:
            report = ingest(engine, store, [row], IngestOptions(prefix=prefix, transfer=transfer, retry_permanent_failures=True))
        except SystemicFailure as exc:  # the bucket itself is down or refuses us: not this recording's fault
            raise SubmitError(503, f"could not store the audio of recording {recording['id']}: {exc}") from None
        if report.failures:
            failure = report.failures[0]
            status = 422 if failure.permanent else 503
            raise SubmitError(status, f"could not store the audio of recording {recording['id']}: {failure.reason}")
        found = _existing(engine, url_sha1, row.recording_id)  # the catalog holds each recording_id once
    if found is None:
        raise SubmitError(503, f"recording {recording['id']}: the catalog did not take the row; try again")
    return Queued(found.id, found.b2_object_key, created=bool(report.inserted or report.objects_attached))


class _cross_process_lock:
    """pg_advisory_lock on a dedicated connection (no-op on SQLite, whose writers serialise anyway)."""

    def __init__(self, engine: sa.Engine, key: str):
        self.engine, self.key, self.conn = engine, key, None

    def __enter__(self):
        if self.engine.dialect.name == "postgresql":
            self.conn = self.engine.connect()
            self.conn.execute(sa.text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": "gateway:" + self.key})
        return self

    def __exit__(self, *exc):
        if self.conn is not None:
            self.conn.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": "gateway:" + self.key})
            self.conn.close()
