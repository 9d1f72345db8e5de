"""Stream audio from its URL into the object store, hashing and counting on the way.

Bytes are never held whole in memory above ``multipart_threshold``: the response body is
fed chunk by chunk to a multipart upload. Transfers run concurrently on one asyncio
loop; the HTTP client (aiohttp) and the object store client (obstore, Rust) both do
their I/O natively, which is what makes thousands of small files per second possible.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp
import obstore
from obstore.store import LocalStore

MiB = 1024 * 1024
_NOT_AUDIO_TYPES = ("text/", "application/json", "application/xml", "application/xhtml")
_HTML_STARTS = (b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")


@dataclass(frozen=True)
class TransferSettings:
    concurrency: int = 32
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    multipart_threshold: int = 16 * MiB
    part_size: int = 8 * MiB
    part_concurrency: int = 2


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
    def __init__(self, message: str, *, permanent: bool, code: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.retry_after = retry_after


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _check_audio(content_type: str | None, first_bytes: bytes, url: str) -> None:
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype.startswith(_NOT_AUDIO_TYPES):
        raise TransferError(f"not audio: {url} answered Content-Type {ctype!r}", permanent=True)
    head = first_bytes[:64].lstrip().lower()
    if head.startswith(_HTML_STARTS):
        raise TransferError(f"not audio: {url} returned an HTML/XML document (declared {ctype or 'no type'!r})", permanent=True)


class _Sink:
    """Hashes, counts and optionally keeps a local copy of the bytes passing through."""

    def __init__(self, keep_local_path: Path | None):
        self.sha256 = hashlib.sha256()
        self.size = 0
        self._path = keep_local_path
        self._partial = keep_local_path.with_name(keep_local_path.name + ".part") if keep_local_path else None
        self._fh = None
        if self._partial is not None:
            self._partial.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self._partial, "wb")  # noqa: SIM115 - closed in finish/abort

    def feed(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.size += len(chunk)
        if self._fh is not None:
            self._fh.write(chunk)

    def finish(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._partial.replace(self._path)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._partial.unlink(missing_ok=True)


async def _put(store, job: TransferJob, body, settings: TransferSettings, multipart: bool) -> None:
    # A local folder has no object metadata; every bucket gets an explicit Content-Type.
    attributes = None if isinstance(store, LocalStore) else {"Content-Type": job.content_type}
    await obstore.put_async(
        store,
        job.key,
        body,
        attributes=attributes,
        use_multipart=multipart,
        chunk_size=settings.part_size,
        max_concurrency=settings.part_concurrency,
    )


async def _transfer_http(session: aiohttp.ClientSession, store, job: TransferJob, settings: TransferSettings, sink: _Sink) -> None:
    try:
        async with session.get(job.url, allow_redirects=True) as resp:
            if resp.status >= 400:
                transient = resp.status in (408, 425, 429) or resp.status >= 500
                raise TransferError(
                    f"HTTP {resp.status} {resp.reason or ''} from {job.url}".strip(),
                    permanent=not transient,
                    code=resp.status,
                    retry_after=_retry_after(resp.headers),
                )
            declared = resp.content_length if "Content-Encoding" not in resp.headers else None
            if declared is not None and declared <= settings.multipart_threshold:
                body = await resp.read()
                _check_audio(resp.content_type, body, job.url)
                if len(body) != declared:
                    raise TransferError(f"short body from {job.url}: {len(body)} of {declared} bytes", permanent=False)
                sink.feed(body)
                await _put(store, job, body, settings, multipart=False)
                return

            first = await resp.content.read(64 * 1024)
            _check_audio(resp.content_type, first, job.url)
            stream_errors: list[BaseException] = []

            async def chunks() -> AsyncIterator[bytes]:
                try:
                    if first:
                        sink.feed(first)
                        yield first
                    async for chunk in resp.content.iter_chunked(MiB):
                        sink.feed(chunk)
                        yield chunk
                except BaseException as exc:
                    stream_errors.append(exc)  # obstore wraps it; keep the real cause
                    raise
                if declared is not None and sink.size != declared:
                    error = TransferError(f"short body from {job.url}: {sink.size} of {declared} bytes", permanent=False)
                    stream_errors.append(error)
                    raise error

            try:
                await _put(store, job, chunks(), settings, multipart=True)
            except Exception:
                if stream_errors:
                    raise stream_errors[0] from None
                raise
            if declared is not None and sink.size != declared:
                raise TransferError(f"short body from {job.url}: {sink.size} of {declared} bytes", permanent=False)
    except aiohttp.ClientPayloadError as exc:
        raise TransferError(f"body from {job.url} ended early: {exc}", permanent=False) from None
    except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
        kind = "timed out" if isinstance(exc, asyncio.TimeoutError) else f"connection failed ({exc})"
        raise TransferError(f"download {kind}: {job.url}", permanent=False) from None


async def _transfer_file(store, job: TransferJob, settings: TransferSettings, sink: _Sink) -> None:
    path = Path(unquote(urlsplit(job.url).path))
    if not path.is_file():
        raise TransferError(f"no such file: {path}", permanent=True, code=404)
    with path.open("rb") as fh:
        first = fh.read(64 * 1024)
        _check_audio(None, first, job.url)
        fh.seek(0)
        if path.stat().st_size <= settings.multipart_threshold:
            body = fh.read()
            sink.feed(body)
            await _put(store, job, body, settings, multipart=False)
            return

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await asyncio.to_thread(fh.read, MiB):
                sink.feed(chunk)
                yield chunk

        await _put(store, job, chunks(), settings, multipart=True)


async def transfer_one(session: aiohttp.ClientSession, store, job: TransferJob, settings: TransferSettings) -> TransferOutcome:
    """Download → hash → upload one file, retrying transient failures with backoff."""
    started = time.perf_counter()
    attempt = 0
    while True:
        attempt += 1
        sink = _Sink(job.keep_local_path)
        try:
            if job.url.lower().startswith("file://"):
                await _transfer_file(store, job, settings, sink)
            else:
                await _transfer_http(session, store, job, settings, sink)
            sink.finish()
            return TransferOutcome(job, True, size=sink.size, sha256=sink.sha256.hexdigest(),
                                   attempts=attempt, seconds=time.perf_counter() - started)
        except TransferError as exc:
            sink.abort()
            error, permanent, code, wait = str(exc), exc.permanent, exc.code, exc.retry_after
        except Exception as exc:  # upload failures after obstore's own retries
            sink.abort()
            error, permanent, code, wait = f"upload of {job.key} failed: {type(exc).__name__}: {exc}", False, None, None
        if permanent or attempt >= settings.max_attempts:
            return TransferOutcome(job, False, error=error[:2000], error_code=code, permanent=permanent,
                                   attempts=attempt, seconds=time.perf_counter() - started)
        backoff = min(settings.backoff_max, settings.backoff_base * 2 ** (attempt - 1)) * (0.5 + random.random())
        await asyncio.sleep(min(settings.backoff_max, wait) if wait is not None else backoff)


async def run_transfers(
    jobs: Sequence[TransferJob],
    store,
    settings: TransferSettings,
    on_outcome: Callable[[TransferOutcome], Awaitable[None]],
) -> None:
    """Run every job with at most ``settings.concurrency`` in flight."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout)
    connector = aiohttp.TCPConnector(limit=settings.concurrency, ttl_dns_cache=300)
    pending = iter(jobs)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector, raise_for_status=False) as session:

        async def worker() -> None:
            for job in pending:  # a shared iterator: each job is taken by exactly one worker
                await on_outcome(await transfer_one(session, store, job, settings))

        await asyncio.gather(*(worker() for _ in range(max(1, min(settings.concurrency, len(jobs))))))
