"""One S3 PUT streamed from an async source: no whole body in memory, no second hash.

A header-signed SigV4 request carries the SHA-256 of its payload, so it needs the whole
body (or a second pass over it) before the first byte leaves. A presigned URL (SigV4 in
the query string) signs the method, bucket, key, host and expiry and sends the body as
``UNSIGNED-PAYLOAD``. Signing one is local (obstore's signer, microseconds), so every
file gets its own short-lived URL and its bytes go from the origin straight into the PUT
while the caller hashes them once for the catalog. Over HTTPS, TLS protects the body;
``Content-Length`` makes the server store exactly ``size`` bytes or nothing, and a source
that ends early or runs long aborts the request, so no truncated object is ever complete.

Backblaze B2's S3 API speaks SigV4 only, over HTTPS only, and supports presigned URLs
(its own samples upload through ``generate_presigned_url('put_object')``).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import obstore
import tenacity
import yarl
from obstore.store import S3Store

from ...kernel.resilience import backoff_wait

URL_LIFETIME = timedelta(minutes=15)  # one URL per attempt: long enough for a slow large body


class StreamPutError(Exception):
    """The bucket refused or could not be reached. The message has the shape of obstore's
    errors (``Error performing PUT <url> ... status code: N ... <Code>X</Code>``), so the same
    classifier tells a refused credential or missing bucket from one object's trouble."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status

    @property
    def retryable(self) -> bool:
        """Throttled (503 SlowDown, 429), a server error, or broken off: worth another PUT."""
        if self.status is None:
            return True
        return self.status in (408, 429) or self.status >= 500


class SizeMismatch(Exception):
    """The source gave more or fewer bytes than the PUT declared."""


def streams_to(store) -> bool:
    """Whether ``stream_put`` may serve this store: an S3 bucket over HTTPS (TLS protects the
    unsigned body), or one whose owner allowed unsigned payloads (``unsigned_payload``)."""
    if not isinstance(store, S3Store):
        return False
    config = store.config
    unsigned = str(config.get("unsigned_payload", "false")).lower() == "true"
    return str(config.get("endpoint", "")).lower().startswith("https://") or unsigned


def presigned_put_url(store: S3Store, key: str) -> str:
    return obstore.sign(store, "PUT", key, URL_LIFETIME)


def _without_query(url: str) -> str:
    """The URL as errors show it: the signature and credential scope stay out of logs."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class _Kept:
    """The source, with every chunk it gave kept so a failed PUT can be sent again."""

    def __init__(self, source: AsyncIterable[bytes]):
        self._source = aiter(source)
        self._kept: list[bytes] = []
        self._done = False

    async def replay(self) -> AsyncIterator[bytes]:
        for chunk in list(self._kept):
            yield chunk
        while not self._done:
            try:
                chunk = await anext(self._source)
            except StopAsyncIteration:
                self._done = True
                return
            self._kept.append(chunk)
            yield chunk


class StreamPut:
    """Streaming PUTs into S3 buckets on one connection pool (one per run or server)."""

    def __init__(self, concurrency: int, connect_timeout: float, read_timeout: float):
        self._limit = concurrency
        # No total timeout: a large body may take long; a stalled one trips sock_read.
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit),
                timeout=self._timeout,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # a bucket sets no cookies: skip the jar
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def put(
        self,
        presign: Callable[[], str],
        chunks: AsyncIterable[bytes] | bytes,
        size: int,
        content_type: str | None = None,
        retries: int = 0,
    ) -> str:
        """PUT exactly ``size`` bytes from ``chunks`` (or a whole body) to the URLs ``presign``
        makes (a bucket's ``presigner``); returns the ETag.

        An error of the source (including a size mismatch) is raised as it is, never
        wrapped; the request is then aborted and the bucket keeps no object. With
        ``retries``, the chunks are kept (``size`` bytes in memory) and a throttled or
        broken-off PUT is sent again from them, after a backoff, with a fresh URL."""
        if not retries:
            return await self.put_url(presign(), chunks, size, content_type)
        kept = chunks if isinstance(chunks, bytes) else _Kept(chunks)
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(retries + 1),
            wait=backoff_wait(0.2, 5.0),
            retry=tenacity.retry_if_exception(
                lambda exc: isinstance(exc, StreamPutError) and exc.retryable
            ),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                body = kept if isinstance(kept, bytes) else kept.replay()
                return await self.put_url(presign(), body, size, content_type)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def put_url(
        self,
        url: str,
        chunks: AsyncIterable[bytes] | bytes,
        size: int,
        content_type: str | None = None,
    ) -> str:
        source_errors: list[BaseException] = []

        async def body(source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
            sent = 0
            try:
                async for chunk in source:
                    sent += len(chunk)
                    if sent > size:
                        raise SizeMismatch(f"source gave over {size} bytes")
                    yield chunk
                if sent != size:
                    raise SizeMismatch(f"source gave {sent} of {size} bytes")
            except Exception as exc:  # re-raised; remembered so it wins over the wrapper
                source_errors.append(exc)
                raise

        headers = {"Content-Length": str(size)}
        if content_type:
            headers["Content-Type"] = content_type
        shown = _without_query(url)
        if isinstance(chunks, bytes) and len(chunks) != size:
            raise SizeMismatch(f"body of {len(chunks)} bytes, {size} declared")
        try:
            data = chunks if isinstance(chunks, bytes) else body(chunks)
            # encoded=True: the signer's URL is sent as it is, never re-quoted (nor re-parsed).
            target = yarl.URL(url, encoded=True)
            async with self._client().put(target, data=data, headers=headers) as resp:
                if source_errors:
                    raise source_errors[0]
                if resp.status != 200:
                    text = (await resp.text(errors="replace"))[:1000]
                    raise StreamPutError(
                        f"Error performing PUT {shown} in stream_put: "
                        f"status code: {resp.status}, body: {text}",
                        resp.status,
                    )
                return resp.headers.get("ETag", "")
        except StreamPutError:
            raise
        except aiohttp.ClientConnectorError as exc:
            # Not connected, so nothing of the source was read: the bucket is unreachable.
            raise StreamPutError(
                f"Error performing PUT {shown}: error sending request: connection refused ({exc})"
            ) from exc
        except Exception as exc:
            if source_errors:
                raise source_errors[0] from None
            # Broken off mid-body (reset, timeout): this object's trouble, worth another try.
            raise StreamPutError(f"PUT {shown} broke off: {type(exc).__name__}: {exc}") from exc
