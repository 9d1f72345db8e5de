"""Pieces every transfer path shares: settings, errors, the audio sniff, hashing sink, memory budget, upload."""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from ..kernel.audio_sniff import (
    AUDIO_SIGNATURES,
    SNIFF_BYTES,
    audio_signature,
    declared_audio_capable,
    declared_not_audio,
    is_document,
    media_type,
)
from ..kernel.fetch import FetchPolicy, mask_url
from ..kernel.resilience import Kind, http_kind
from .bucket import Bucket

MiB = 1024 * 1024
HASH_OFF_LOOP_BYTES = MiB  # hashing bigger buffers in a thread keeps the loop responsive


@dataclass(frozen=True)
class TransferSettings:
    concurrency: int = 32
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    multipart_threshold: int = 8 * MiB  # above it, download and upload overlap (5 MiB parts)
    # Up to this declared size one PUT streams from the origin where the bucket allows it
    # (the bucket's presigner); 0: never.
    stream_put_max: int = 32 * MiB
    part_size: int = 5 * MiB
    part_concurrency: int = 1
    memory_budget: int = 256 * MiB
    max_bytes: int | None = None  # larger bodies fail permanently (the gateway's size limit)
    audio_only: bool = (
        False  # also demand an audio Content-Type and a known audio signature (the gateway)
    )
    fetch_policy: FetchPolicy = (
        FetchPolicy()
    )  # where URLs may lead (schemes, networks, the local audio root)

    @property
    def stream_hold(self) -> int:
        """Bytes a streaming transfer may hold: the part being filled plus the parts in flight."""
        return self.part_size * (self.part_concurrency + 1)


@dataclass(frozen=True)
class TransferJob:
    url: str
    key: str
    content_type: str
    keep_local_path: Path | None = None


@dataclass(frozen=True)
class TransferOutcome:
    job: TransferJob
    ok: bool
    size: int = 0
    sha256: str | None = None
    error: str | None = None
    error_code: int | None = None
    permanent: bool = False
    attempts: int = 1
    seconds: float = 0.0


class TransferError(Exception):
    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.retry_after = retry_after


def shown_url(url: str) -> str:
    """The URL as errors and logs show it: query values and passwords masked."""
    return mask_url(url)


def http_status_error(
    status: int, url: str, reason: str = "", retry_after: float | None = None
) -> TransferError:
    """429, 408, 425 and 5xx are worth another try; other 4xx are not (``http_kind``)."""
    return TransferError(
        f"HTTP {status} {reason} from {shown_url(url)}".replace("  ", " "),
        permanent=http_kind(status) is Kind.PERMANENT,
        code=status,
        retry_after=retry_after,
    )


def short_body(url: str, got: int, declared: int) -> TransferError:
    return TransferError(
        f"short body from {shown_url(url)}: {got} of {declared} bytes", permanent=False
    )


def check_audio(content_type: str | None, first_bytes, url: str, strict: bool = False) -> None:
    """Refuse web pages and other documents served where audio was expected.

    ``strict`` (the gateway) also refuses any Content-Type that cannot carry audio and a
    body whose first bytes are no known audio signature."""
    ctype = media_type(content_type)
    if declared_not_audio(ctype):
        raise TransferError(
            f"not audio: {shown_url(url)} answered Content-Type {ctype!r}", permanent=True
        )
    head = bytes(memoryview(first_bytes)[:SNIFF_BYTES])
    if is_document(head):
        raise TransferError(
            f"not audio: {shown_url(url)} returned an HTML/XML document (declared {ctype or 'no type'!r})",
            permanent=True,
        )
    if not strict:
        return
    if not declared_audio_capable(ctype):
        raise TransferError(
            f"not audio: {shown_url(url)} answered Content-Type {ctype!r}", permanent=True
        )
    if audio_signature(head) is None:
        # Never echo the bytes: they may be a file the URL should not have reached.
        raise TransferError(
            f"not audio: {shown_url(url)} starts with no known audio format "
            f"({', '.join(AUDIO_SIGNATURES)}, MPEG audio)",
            permanent=True,
        )


class Sink:
    """Hashes, counts and optionally keeps a local copy of the bytes passing through."""

    def __init__(self, keep_local_path: Path | None, max_bytes: int | None = None):
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.max_bytes = max_bytes
        self._path = keep_local_path
        self._partial = (
            keep_local_path.with_name(keep_local_path.name + ".part") if keep_local_path else None
        )
        self._fh = None
        if self._partial is not None:
            self._partial.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self._partial, "wb")  # noqa: SIM115 - closed in finish/abort

    def feed(self, chunk) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise TransferError(
                f"audio larger than the limit of {self.max_bytes} bytes", permanent=True, code=413
            )
        self.sha256.update(chunk)
        if self._fh is not None:
            self._fh.write(chunk)

    async def feed_async(self, chunk) -> None:
        if len(chunk) >= HASH_OFF_LOOP_BYTES:
            await asyncio.to_thread(self.feed, chunk)
        else:
            self.feed(chunk)

    def finish(self) -> None:
        if self._fh is not None and self._partial is not None and self._path is not None:
            self._fh.close()
            self._partial.replace(self._path)

    def abort(self) -> None:
        if self._fh is not None and self._partial is not None:
            self._fh.close()
            self._partial.unlink(missing_ok=True)


class MemoryBudget:
    """Bounds the bytes all concurrent transfers hold in memory together."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._waiting = 0
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def hold(self, nbytes: int):
        nbytes = min(nbytes, self.limit)
        if self.used + nbytes <= self.limit:
            # The common case takes no lock: the loop runs one task at a time, so nothing
            # changes ``used`` between the check and the update.
            self.used += nbytes
        else:
            async with self._changed:
                self._waiting += 1
                try:
                    await self._changed.wait_for(lambda: self.used + nbytes <= self.limit)
                finally:
                    self._waiting -= 1
                self.used += nbytes
        try:
            yield
        finally:
            self.used -= nbytes
            if self._waiting:
                async with self._changed:
                    self._changed.notify_all()


async def put(
    store: Bucket, job: TransferJob, body, settings: TransferSettings, multipart: bool
) -> None:
    # Every object gets an explicit Content-Type (a bucket that keeps none drops it).
    await store.put_stream(
        job.key,
        body,
        content_type=job.content_type,
        multipart=multipart,
        part_size=settings.part_size,
        part_concurrency=settings.part_concurrency,
    )


async def put_stream(store: Bucket, job: TransferJob, chunks, settings: TransferSettings) -> None:
    """Multipart upload of an async iterator of chunks; a failure of the source wins over the
    bucket's wrapper."""
    errors: list[BaseException] = []

    async def guarded():
        try:
            async for chunk in chunks:
                yield chunk
        except BaseException as exc:
            errors.append(exc)
            raise

    try:
        await put(store, job, guarded(), settings, multipart=True)
    except Exception:
        if errors:
            raise errors[0] from None
        raise
