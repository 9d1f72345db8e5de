"""The ways bytes get from a URL to the bucket, both through the fetch policy.

* ``via_http``: http(s) URLs, fetched by aiohttp on a session that can only connect where
  the policy allows; redirects are followed hop by hop, each checked again. Exact status
  handling and ``Retry-After``. A body without Content-Length (chunked) is streamed once.
* ``local_file``: ``file://`` URLs inside the configured local audio root (the demo's
  sample audio, local mirrors).

(obstore's native HTTP client was faster per small file, but it follows redirects and
resolves names by itself, so it cannot enforce the policy on the address it connects to.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from ..kernel.fetch import FetchRefused, open_url
from ..kernel.resilience import retry_after_seconds
from .bucket import Bucket
from .bucket.s3_stream_put import SizeMismatch, StreamPut
from .transfer_core import (
    MemoryBudget,
    MiB,
    Sink,
    TransferError,
    TransferJob,
    TransferSettings,
    check_audio,
    http_status_error,
    put,
    put_stream,
    short_body,
    shown_url,
)

FIRST_CHUNK = 64 * 1024
PUT_RETRIES = 4  # a streamed PUT resent from kept bytes (503 SlowDown, a broken connection)


class HttpClient:
    """The policy-bound HTTP session of one run, created on first use."""

    def __init__(self, settings: TransferSettings):
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        # Uploads go to the configured bucket, not through the fetch policy.
        self.stream_put = StreamPut(
            settings.concurrency, settings.connect_timeout, settings.read_timeout
        )

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = self._settings.fetch_policy.session(
                connect_timeout=self._settings.connect_timeout,
                read_timeout=self._settings.read_timeout,
                limit=self._settings.concurrency,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self.stream_put.close()


async def via_http(
    client: HttpClient,
    store,
    job: TransferJob,
    settings: TransferSettings,
    sink: Sink,
    budget: MemoryBudget,
) -> None:
    try:
        async with open_url(client.session(), settings.fetch_policy, job.url) as resp:
            if resp.status >= 400:
                raise http_status_error(
                    resp.status, job.url, resp.reason or "", retry_after_seconds(resp.headers)
                )
            if resp.status >= 300:
                raise TransferError(
                    f"{shown_url(job.url)} answered HTTP {resp.status} without a usable Location",
                    permanent=True,
                    code=resp.status,
                )
            # With Content-Encoding the declared length is of the encoded body, not of what we read.
            declared = resp.content_length if "Content-Encoding" not in resp.headers else None
            ctype = resp.headers.get("Content-Type")
            fits = declared is not None and declared <= settings.stream_put_max
            presign = store.presigner(job.key) if fits else None
            if declared is not None and presign is not None:
                # Bodies up to the multipart threshold are kept, so a throttled PUT is resent
                # from memory; larger ones hold only what is in flight (a retry re-downloads).
                keep = declared <= settings.multipart_threshold
                async with budget.hold(declared if keep else settings.stream_hold):
                    await _stream_put(
                        client, presign, store, job, resp, declared, settings, sink, keep
                    )
                return
            if declared is not None and declared <= settings.multipart_threshold:
                async with budget.hold(declared):
                    body = await resp.read()
                    check_audio(ctype, body, job.url, settings.audio_only)
                    if len(body) != declared:
                        raise short_body(job.url, len(body), declared)
                    await sink.feed_async(body)
                    await put(store, job, body, settings, multipart=False)
                return
            async with budget.hold(settings.stream_hold):
                first = await _read_first(resp)
                check_audio(ctype, first, job.url, settings.audio_only)
                if declared is None and len(first) < FIRST_CHUNK and resp.content.at_eof():
                    # A small chunked body: whole already, no multipart upload needed.
                    await sink.feed_async(first)
                    await put(store, job, first, settings, multipart=False)
                    return

                async def chunks():
                    sink.feed(first)
                    yield first
                    async for chunk in resp.content.iter_chunked(MiB):
                        await sink.feed_async(chunk)
                        yield chunk
                    if declared is not None and sink.size != declared:
                        raise short_body(job.url, sink.size, declared)

                await put_stream(store, job, chunks(), settings)
    except FetchRefused as exc:
        raise TransferError(str(exc), permanent=True) from None
    except aiohttp.ClientPayloadError:
        raise TransferError(
            f"body from {shown_url(job.url)} ended early", permanent=False
        ) from None
    except (TimeoutError, aiohttp.ClientConnectionError) as exc:
        kind = (
            "timed out" if isinstance(exc, asyncio.TimeoutError) else f"connection failed ({exc})"
        )
        raise TransferError(f"download {kind}: {shown_url(job.url)}", permanent=False) from None


async def _stream_put(
    client: HttpClient,
    presign: Callable[[], str],
    store: Bucket,
    job: TransferJob,
    resp,
    declared: int,
    settings: TransferSettings,
    sink: Sink,
    keep: bool,
) -> None:
    """The origin's body straight into one PUT of ``declared`` bytes, hashed once on the way."""
    if settings.max_bytes is not None and declared > settings.max_bytes:
        # Refused before any PUT starts (the sink would refuse it only mid-stream).
        raise TransferError(
            f"audio larger than the limit of {settings.max_bytes} bytes", permanent=True, code=413
        )
    first = await _read_first(resp)
    check_audio(resp.headers.get("Content-Type"), first, job.url, settings.audio_only)

    async def chunks():
        await sink.feed_async(first)
        yield first
        # The pieces as they came off the socket: iter_chunked() would join (copy) them.
        async for chunk, _ in resp.content.iter_chunks():
            await sink.feed_async(chunk)
            yield chunk

    if len(first) == declared:
        # The whole body (up to 64 KiB) is here already, nothing to overlap: obstore's native
        # PUT costs less CPU per file than an aiohttp request, the second hash next to nothing.
        await sink.feed_async(first)
        await put(store, job, first, settings, multipart=False)
        return
    retries = PUT_RETRIES if keep else 0
    try:
        await client.stream_put.put(presign, chunks(), declared, job.content_type, retries)
    except SizeMismatch:
        raise short_body(job.url, sink.size, declared) from None


async def _read_first(resp) -> bytes:
    """Up to FIRST_CHUNK bytes (fewer only at the end of the body): enough to sniff the format."""
    parts: list[bytes] = []
    got = 0
    while got < FIRST_CHUNK:
        part = await resp.content.read(FIRST_CHUNK - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


async def local_file(
    store, job: TransferJob, settings: TransferSettings, sink: Sink, budget: MemoryBudget
) -> None:
    try:
        path = settings.fetch_policy.local_path(job.url)
    except FetchRefused as exc:
        raise TransferError(str(exc), permanent=True) from None
    if not path.is_file():
        raise TransferError(
            f"no such file in the local audio root: {shown_url(job.url)}", permanent=True, code=404
        )
    size = path.stat().st_size
    with path.open("rb") as fh:
        if size <= settings.multipart_threshold:
            async with budget.hold(size):
                body = await asyncio.to_thread(fh.read)
                check_audio(None, body, job.url, settings.audio_only)
                await sink.feed_async(body)
                await put(store, job, body, settings, multipart=False)
            return
        async with budget.hold(settings.stream_hold):
            first = fh.read(FIRST_CHUNK)
            check_audio(None, first, job.url, settings.audio_only)

            async def chunks():
                chunk = first
                while chunk:
                    await sink.feed_async(chunk)
                    yield chunk
                    chunk = await asyncio.to_thread(fh.read, MiB)

            await put_stream(store, job, chunks(), settings)
