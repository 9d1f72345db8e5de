"""The ways bytes get from a URL to the bucket.

* ``native``: plain http(s) URLs go through obstore's HTTP client (Rust): the body stays
  in native buffers from socket to upload, the cheapest path per file.
* ``aiohttp``: everything else (query strings, unusual characters) and every retry, with
  exact status handling and ``Retry-After``.
* ``local_file``: ``file://`` URLs (the demo's sample audio, local mirrors).
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import HTTPStore

from .transfer_core import (
    MiB,
    MemoryBudget,
    Sink,
    TransferError,
    TransferJob,
    TransferSettings,
    check_audio,
    http_status_error,
    put,
    put_stream,
    short_body,
)

# obstore re-encodes paths, so only paths that need no encoding take the native route.
_NATIVE_PATH = re.compile(r"/[A-Za-z0-9._/-]*")
_STATUS = re.compile(r"status code: (\d{3})")


def native_route(url: str) -> tuple[str, str] | None:
    """(origin, path) when the URL can be fetched exactly as written by obstore's client."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.query or parts.fragment or "@" in parts.netloc:
        return None
    if not _NATIVE_PATH.fullmatch(parts.path) or "//" in parts.path or parts.path.endswith("/"):
        return None
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


class NativeOrigins:
    """One obstore HTTP client per origin; retries are ours (a failed attempt falls back to aiohttp)."""

    def __init__(self, settings: TransferSettings):
        self._settings = settings
        self._stores: dict[str, HTTPStore] = {}

    def store_for(self, origin: str) -> HTTPStore:
        if origin not in self._stores:
            self._stores[origin] = HTTPStore.from_url(
                origin,
                client_options={
                    "allow_http": origin.startswith("http://"),
                    "connect_timeout": timedelta(seconds=self._settings.connect_timeout),
                    "timeout": timedelta(seconds=self._settings.read_timeout),
                    "pool_max_idle_per_host": str(self._settings.concurrency),
                },
                retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=1)},
            )
        return self._stores[origin]


def _native_error(exc: Exception, url: str) -> TransferError:
    if isinstance(exc, (NotFoundError, FileNotFoundError)):
        return http_status_error(404, url, "Not Found")
    text = str(exc)
    status = _STATUS.search(text)
    if status:
        return http_status_error(int(status.group(1)), url)
    first_line = text.split("\n", 1)[0].split(" - ")[-1][:300]
    return TransferError(f"download failed: {url}: {first_line}", permanent=False)


async def native(origins: NativeOrigins, route: tuple[str, str], store, job: TransferJob,
                 settings: TransferSettings, sink: Sink, budget: MemoryBudget) -> None:
    source = origins.store_for(route[0])
    try:
        result = await obstore.get_async(source, route[1])
    except Exception as exc:
        raise _native_error(exc, job.url) from None
    declared = int(result.meta["size"])
    content_type = result.attributes.get("Content-Type")
    if declared <= settings.multipart_threshold:
        async with budget.hold(declared):
            try:
                body = await result.bytes_async()
            except Exception as exc:
                raise _native_error(exc, job.url) from None
            check_audio(content_type, body, job.url, settings.audio_only)
            if len(body) != declared:
                raise short_body(job.url, len(body), declared)
            await sink.feed_async(body)
            await put(store, job, body, settings, multipart=False)
        return

    async def chunks():
        try:
            async for chunk in result.stream(min_chunk_size=MiB):
                if sink.size == 0:
                    check_audio(content_type, chunk, job.url, settings.audio_only)
                await sink.feed_async(chunk)
                yield chunk
        except TransferError:
            raise
        except Exception as exc:  # the source failed mid-body
            raise _native_error(exc, job.url) from None
        if sink.size != declared:
            raise short_body(job.url, sink.size, declared)

    async with budget.hold(settings.stream_hold):
        await put_stream(store, job, chunks(), settings)


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class AiohttpClient:
    """The full-featured HTTP client, created on first use: most runs never need it
    (and not importing aiohttp keeps ~11 MiB out of the process)."""

    def __init__(self, settings: TransferSettings):
        self._settings = settings
        self._session = None

    async def session(self):
        if self._session is None:
            import aiohttp

            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._settings.connect_timeout,
                                            sock_read=self._settings.read_timeout)
            connector = aiohttp.TCPConnector(limit=self._settings.concurrency, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(timeout=timeout, connector=connector, raise_for_status=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def via_aiohttp(client: AiohttpClient, store, job: TransferJob, settings: TransferSettings,
                      sink: Sink, budget: MemoryBudget) -> None:
    import aiohttp

    session = await client.session()
    try:
        async with session.get(job.url, allow_redirects=True) as resp:
            if resp.status >= 400:
                raise http_status_error(resp.status, job.url, resp.reason or "", _retry_after(resp.headers))
            declared = resp.content_length if "Content-Encoding" not in resp.headers else None
            if declared is not None and declared <= settings.multipart_threshold:
                async with budget.hold(declared):
                    body = await resp.read()
                    check_audio(resp.content_type, body, job.url, settings.audio_only)
                    if len(body) != declared:
                        raise short_body(job.url, len(body), declared)
                    await sink.feed_async(body)
                    await put(store, job, body, settings, multipart=False)
                return
            async with budget.hold(settings.stream_hold):
                first = await resp.content.read(64 * 1024)
                check_audio(resp.content_type, first, job.url, settings.audio_only)

                async def chunks():
                    sink.feed(first)
                    yield first
                    async for chunk in resp.content.iter_chunked(MiB):
                        await sink.feed_async(chunk)
                        yield chunk
                    if declared is not None and sink.size != declared:
                        raise short_body(job.url, sink.size, declared)

                await put_stream(store, job, chunks(), settings)
    except aiohttp.ClientPayloadError as exc:
        raise TransferError(f"body from {job.url} ended early: {exc}", permanent=False) from None
    except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
        kind = "timed out" if isinstance(exc, asyncio.TimeoutError) else f"connection failed ({exc})"
        raise TransferError(f"download {kind}: {job.url}", permanent=False) from None


async def local_file(store, job: TransferJob, settings: TransferSettings, sink: Sink, budget: MemoryBudget) -> None:
    path = Path(unquote(urlsplit(job.url).path))
    if not path.is_file():
        raise TransferError(f"no such file: {path}", permanent=True, code=404)
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
            first = fh.read(64 * 1024)
            check_audio(None, first, job.url, settings.audio_only)

            async def chunks():
                chunk = first
                while chunk:
                    await sink.feed_async(chunk)
                    yield chunk
                    chunk = await asyncio.to_thread(fh.read, MiB)

            await put_stream(store, job, chunks(), settings)
