"""Archive post_media rows: locate, verify MD5, upload once, set archive_url in batches.

Per batch: every distinct key is checked against the bucket (HEAD; an object of the same
size and MD5 counts as archived, so a re-run after a crash uploads nothing twice), missing
or different objects are PUT with Content-MD5, and then one UPDATE writes archive_url for
the rows whose object is in place. A failed upload leaves its row NULL; the batch goes on.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import sqlalchemy as sa

from ..resources.bucket import BucketError
from . import queries
from .locate import (
    MediaCache,
    archive_key,
    content_type,
    extension_of,
    mime_extension,
    normalize_md5,
)
from .objects import file_md5, stored_object, verified
from .queries import MediaRow

UPLOADED, PRESENT, PLANNED = "uploaded", "already_in_bucket", "planned"
MISSING, REFUSED, MISMATCH, INVALID, FAILED = (
    "missing_local_file",
    "refused_path",
    "md5_mismatch",
    "invalid_row",
    "upload_failed",
)
ARCHIVED = (UPLOADED, PRESENT)
# Errors that concern the bucket or the credentials, not one object: the run stops (after recording its batch).
FATAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "NoSuchBucket",
    "ExpiredToken",
    "InvalidToken",
    "AccessDenied",
    "AllAccessDisabled",
    "403",
}
PROBE_KEY = "cache/.archive-access-probe"


class ArchiveTargetError(RuntimeError):
    """The bucket cannot be used at all (credentials, permissions, no such bucket); the message says what to check."""


def _fatal(exc: Exception) -> bool:
    if not isinstance(exc, BucketError):
        return False
    return exc.refused or exc.code in FATAL_CODES or exc.status == 403


def _unusable(bucket, exc: Exception) -> ArchiveTargetError:
    return ArchiveTargetError(
        f"cannot use the archive bucket {bucket.describe()}: {type(exc).__name__}: {str(exc)[:300]}. Check the "
        "credentials (AWS_PROFILE, or ARCHIVE_AWS_ACCESS_KEY_ID/ARCHIVE_AWS_SECRET_ACCESS_KEY), ARCHIVE_S3_BUCKET, and "
        "that setup_archive_bucket has run"
    )


@dataclass(frozen=True)
class ArchiveOptions:
    dry_run: bool = False
    batch_size: int = 50
    concurrency: int = 8
    delete_local_after_upload: bool = False


@dataclass(frozen=True)
class Outcome:
    row: MediaRow
    status: str
    key: str | None = None
    path: Path | None = None
    size: int = 0
    reason: str = ""
    verified: bool = False  # the object was seen in the bucket with this size and MD5
    fatal: bool = False  # the error concerns the whole bucket


@dataclass
class ArchiveReport:
    outcomes: list[Outcome] = field(default_factory=list)
    rows_updated: int = 0
    objects_uploaded: int = 0
    bytes_uploaded: int = 0
    seconds: float = 0.0
    deleted_local: list[str] = field(default_factory=list)
    refused_paths: list[tuple[str, str]] = field(
        default_factory=list
    )  # (media_id, local_file_path), never read
    unknown_mime_types: Counter = field(default_factory=Counter)

    def with_status(self, *statuses: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in statuses]

    def count(self, *statuses: str) -> int:
        return len(self.with_status(*statuses))


@dataclass(frozen=True)
class _Plan:
    row: MediaRow
    md5: str
    path: Path
    key: str
    content_type: str


def plan(row: MediaRow, cache: MediaCache) -> tuple[_Plan | Outcome, str | None]:
    """Where the row's file is and where it goes, or why it cannot be archived; and a path refused on the way."""
    md5 = normalize_md5(row.md5_sum)
    if md5 is None:
        what = "NULL" if row.md5_sum is None else repr(row.md5_sum)
        return Outcome(
            row,
            INVALID,
            reason=f"md5_sum is {what}, not 32 hex digits: the file cannot be verified",
        ), None
    located = cache.locate(row)
    refused = located.refused_path
    if located.path is None:
        if refused:
            return Outcome(
                row,
                REFUSED,
                reason=f"{refused!r} is outside the media cache {cache.root}; not read",
            ), refused
        return Outcome(
            row,
            MISSING,
            reason=f"no file for md5 {md5} in {cache.root} (local_file_path {row.local_file_path!r})",
        ), None
    if row.created_at is None and row.created_at_raw is not None:
        return Outcome(
            row,
            INVALID,
            path=located.path,
            reason=f"created_at {row.created_at_raw!r} is not a timestamp",
        ), refused
    extension = extension_of(located.path, row.mime_type)
    key = archive_key(row.created_at, md5, extension)
    return _Plan(row, md5, located.path, key, content_type(extension, row.mime_type)), refused


def _s3_failure(item: _Plan, exc: Exception, size: int = 0) -> Outcome:
    return Outcome(
        item.row,
        FAILED,
        item.key,
        item.path,
        size,
        reason=f"{type(exc).__name__}: {str(exc)[:300]}",
        fatal=_fatal(exc),
    )


def _transfer(item: _Plan, bucket, dry_run: bool, verify_after: bool) -> Outcome:
    try:
        size = item.path.stat().st_size
        if not dry_run:
            try:
                stored = stored_object(bucket.head(item.key))
            except (
                Exception
            ) as exc:  # botocore/network errors of one object must not stop the batch
                return _s3_failure(item, exc)
            # An object already holding md5_sum's bytes is the archive: no need to read the local copy again.
            if verified(stored, size, item.md5):
                return Outcome(item.row, PRESENT, item.key, item.path, size, verified=True)
        actual, size = file_md5(item.path)
    except OSError as exc:
        return Outcome(
            item.row, FAILED, item.key, item.path, reason=f"cannot read {item.path}: {exc}"
        )
    if actual != item.md5:
        return Outcome(
            item.row,
            MISMATCH,
            item.key,
            item.path,
            size,
            reason=f"{item.path.name} has md5 {actual}, post_media says {item.md5}; not uploaded",
        )
    if dry_run:
        return Outcome(item.row, PLANNED, item.key, item.path, size)
    try:
        meta = {"media-id": item.row.media_id.encode("ascii", "replace").decode()[:200]}
        bucket.put_file(
            item.key, item.path, content_type=item.content_type, md5=item.md5, metadata=meta
        )
        if verify_after and not verified(stored_object(bucket.head(item.key)), size, item.md5):
            return Outcome(
                item.row,
                FAILED,
                item.key,
                item.path,
                size,
                reason="uploaded, but HEAD does not show the same size and MD5",
            )
    except Exception as exc:
        return _s3_failure(item, exc, size)
    return Outcome(item.row, UPLOADED, item.key, item.path, size, verified=verify_after)


def _delete_verified(
    engine: sa.Engine, outcomes: Sequence[Outcome], report: ArchiveReport, log
) -> None:
    """Remove local files whose object is verified and that no unarchived row still needs."""
    candidates = {
        o.path: normalize_md5(o.row.md5_sum) for o in outcomes if o.verified and o.path is not None
    }
    with engine.connect() as conn:
        needed = queries.unarchived_md5s(conn, [m for m in candidates.values() if m])
    for path, md5 in candidates.items():
        if md5 in needed or not path.exists():
            continue
        try:
            path.unlink()
            report.deleted_local.append(str(path))
        except OSError as exc:
            log.warning("could not delete %s after archiving: %s", path, exc)


def archive_rows(
    engine: sa.Engine,
    rows: Sequence[MediaRow],
    cache: MediaCache,
    bucket,
    options: ArchiveOptions,
    log: logging.Logger | None = None,
) -> ArchiveReport:
    """Archive these rows (already selected: a partition's unarchived rows, or all with force)."""
    log = log or logging.getLogger(__name__)
    report = ArchiveReport()
    started = time.monotonic()
    done: dict[str, Outcome] = {}  # key -> outcome: rows sharing a key share one upload
    batches = [rows[i : i + options.batch_size] for i in range(0, len(rows), options.batch_size)]
    verify_after = options.delete_local_after_upload and not options.dry_run
    if rows and not options.dry_run:
        try:  # one HEAD up front: bad credentials or a missing bucket fail the run, not every row
            bucket.head(PROBE_KEY)
        except Exception as exc:
            raise _unusable(bucket, exc) from None
    with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
        for number, batch in enumerate(batches, start=1):
            plans = []
            for row in batch:
                if mime_extension(row.mime_type) is None:
                    report.unknown_mime_types[row.mime_type or "(none)"] += 1
                planned, refused = plan(row, cache)
                if refused:
                    report.refused_paths.append((row.media_id, refused))
                plans.append(planned)
            todo = {p.key: p for p in plans if isinstance(p, _Plan) and p.key not in done}
            for key, outcome in zip(
                todo,
                pool.map(
                    lambda p: _transfer(p, bucket, options.dry_run, verify_after), todo.values()
                ),
            ):
                done[key] = outcome
                if outcome.status == UPLOADED:
                    report.objects_uploaded += 1
                    report.bytes_uploaded += outcome.size
            outcomes = [
                p if isinstance(p, Outcome) else replace(done[p.key], row=p.row) for p in plans
            ]
            report.outcomes.extend(outcomes)
            if options.dry_run:
                continue
            updates = [
                (o.row.media_id, bucket.uri(o.key))
                for o in outcomes
                if o.status in ARCHIVED and o.row.archive_url != bucket.uri(o.key)
            ]
            with engine.begin() as conn:
                queries.set_archive_urls(conn, updates)
            report.rows_updated += len(updates)
            if options.delete_local_after_upload:
                _delete_verified(engine, outcomes, report, log)
            counts = Counter(o.status for o in outcomes)
            log.info(
                "batch %d/%d: %s",
                number,
                len(batches),
                ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
            )
            fatal = next((o for o in outcomes if o.fatal), None)
            if fatal is not None:
                raise ArchiveTargetError(
                    f"stopped after batch {number}/{len(batches)} (its archived rows are recorded): "
                    f"{fatal.row.media_id}: {fatal.reason}"
                )
    report.seconds = time.monotonic() - started
    return report
