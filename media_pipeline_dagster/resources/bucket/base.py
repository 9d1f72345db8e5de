"""The one bucket interface: what every domain may ask of a bucket, whichever backend holds it.

Data moves through obstore's native store on both backends (``_store``); what obstore has
no call for (versions, lifecycle, user metadata, a Content-MD5-checked PUT) is each
backend's own business. Key layouts belong to the domains: ``sizes`` is told how keys
group into listable folders instead of knowing any.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg
import obstore
from obstore.exceptions import NotFoundError

from .errors import ObjectMissing
from .types import ListedObject, Listing, ObjectHead, SetupOptions, SetupReport

MiB = 1 << 20
LIST_MIN_KEYS = 50  # fewer wanted keys under one folder: one HEAD each is cheaper than listing
_MISSING = (NotFoundError, FileNotFoundError)


def parent_folder(key: str) -> str:
    return key.rpartition("/")[0]


class Bucket(dg.ConfigurableResource):
    """A bucket: S3 (Backblaze B2, AWS, SeaweedFS) or a local folder; callers never ask which."""

    # ---- what each backend provides
    def _build_store(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        """Where the bucket is: ``s3://<name>`` or the folder's ``file://`` URL."""
        raise NotImplementedError

    def preflight(self, prefix: str = "") -> None:  # pragma: no cover - abstract
        """Raise StorageUnavailable unless the bucket answers with our credentials: one cheap
        request before a run moves anything, so a bad key fails the run, not every file."""
        raise NotImplementedError

    @property
    def keeps_metadata(self) -> bool:  # pragma: no cover - abstract
        """Whether objects keep a content type and user metadata (a folder keeps neither)."""
        raise NotImplementedError

    async def put_stream(
        self,
        key: str,
        body: bytes | AsyncIterable[bytes],
        *,
        content_type: str | None = None,
        multipart: bool = True,
        part_size: int = 5 * MiB,
        part_concurrency: int = 1,
    ) -> None:
        """Store ``body`` (bytes, or an async iterator of chunks uploaded as they come).

        A systemic failure (credentials, bucket, endpoint) raises StorageUnavailable."""
        try:
            await obstore.put_async(
                self._obstore(),
                key,
                body,
                attributes=self._attributes(content_type),
                use_multipart=multipart,
                chunk_size=part_size,
                max_concurrency=part_concurrency,
            )
        except Exception as exc:  # after obstore's own retries
            systemic = self._systemic(exc)
            if systemic is not None:  # every other upload would fail alike
                raise systemic from None
            raise

    def presigner(self, key: str) -> Callable[[], str] | None:
        """Makes fresh presigned PUT URLs for ``key`` when one streamed PUT with an unsigned
        body is safe here (HTTPS, or unsigned payloads allowed); None otherwise (a folder, or
        a bucket that must sign every byte): the caller then uses ``put_stream``."""
        return None

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        obstore.put(self._obstore(), key, data, attributes=self._attributes(content_type))

    def put_file(
        self, key: str, path: Path, *, content_type: str, md5: str, metadata: Mapping[str, str]
    ) -> None:  # pragma: no cover - abstract
        """Store a file whose MD5 is known; the bucket refuses (raises) if the bytes differ.
        ``md5`` is also kept as the user metadata ``md5`` where the bucket keeps metadata."""
        raise NotImplementedError

    def head(
        self, key: str, version: str | None = None
    ) -> ObjectHead | None:  # pragma: no cover - abstract
        """Size, ETag, content type and user metadata, or None when there is no such object
        (or version). Refusals raise BucketError(kind="refused")."""
        raise NotImplementedError

    def list_versions(
        self,
        *,
        exclude_prefix: str = "",
        page_size: int = 1000,
        known: Callable[[], Mapping[str, ListedObject]] | None = None,
    ) -> Listing:  # pragma: no cover - abstract
        """Every object's latest version (delete markers left out), sorted by key.

        The ETag is the MD5 of a single-part object on every backend; ``known`` (an earlier
        listing, fetched only by a backend that must compute ETags, after the bucket proved
        readable) lets it reuse them for unchanged objects. Failures raise BucketError."""
        raise NotImplementedError

    def setup(self, options: SetupOptions) -> SetupReport:  # pragma: no cover - abstract
        """Create and configure the bucket (idempotent); what the store lacks is reported
        as a sentence in ``SetupReport.unsupported``."""
        raise NotImplementedError

    # ---- the same on every backend
    def _attributes(self, content_type: str | None) -> dict[str, str] | None:
        return {"Content-Type": content_type} if content_type and self.keeps_metadata else None

    def _systemic(self, exc: BaseException) -> Exception | None:
        """The failure every other call would meet too (a backend that can tell says so)."""
        return None

    def _obstore(self) -> Any:
        """The obstore handle; never handed out, so no caller can branch on its type."""
        return self._store_handle

    @functools.cached_property
    def _store_handle(self) -> Any:
        # Kept in the instance's __dict__: a private attribute of a pydantic model costs an
        # AttributeError raised and caught inside pydantic on every read, and the transfers
        # read the handle twice per file.
        return self._build_store()

    def uri(self, key: str) -> str:
        return f"{self.describe().rstrip('/')}/{key}"

    def key_of(self, uri: str) -> str | None:
        """The key of a URI in this bucket, or None when it points elsewhere."""
        prefix = self.describe().rstrip("/") + "/"
        return uri[len(prefix) :] if uri.startswith(prefix) else None

    def read_bytes(self, key: str) -> bytes:
        try:
            return bytes(obstore.get(self._obstore(), key).bytes())
        except _MISSING:
            raise ObjectMissing(key) from None

    def iter_bytes(self, key: str, chunk_size: int = MiB) -> Iterator[bytes]:
        """The object's bytes in chunks, streamed; ObjectMissing before the first when absent."""
        try:
            result = obstore.get(self._obstore(), key)
        except _MISSING:
            raise ObjectMissing(key) from None
        for chunk in result.stream(min_chunk_size=chunk_size):
            yield bytes(chunk)

    def list_keys(self, prefix: str) -> list[str]:
        """Keys of the objects directly under ``prefix`` (one folder level), sorted."""
        listed = obstore.list_with_delimiter(self._obstore(), prefix=prefix.rstrip("/"))
        return sorted(o["path"] for o in listed["objects"])

    def delete(self, key: str) -> None:
        """Remove the object; an absent one is already what was asked."""
        try:
            obstore.delete(self._obstore(), key)
        except _MISSING:
            pass

    async def delete_async(self, key: str) -> None:
        try:
            await obstore.delete_async(self._obstore(), key)
        except _MISSING:
            pass

    def head_many(self, keys: Sequence[str], concurrency: int = 16) -> dict[str, ObjectHead | None]:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            return dict(zip(keys, pool.map(self.head, keys)))

    async def head_size(self, key: str) -> int | None:
        """Size of the object, or None when there is none."""
        try:
            meta = await obstore.head_async(self._obstore(), key)
        except _MISSING:
            return None
        return int(meta["size"])

    async def head_sizes(self, keys: Sequence[str], concurrency: int = 32) -> dict[str, int | None]:
        gate = asyncio.Semaphore(concurrency)

        async def one(key: str) -> tuple[str, int | None]:
            async with gate:
                return key, await self.head_size(key)

        return dict(await asyncio.gather(*(one(k) for k in keys)))

    async def sizes(
        self,
        keys: Sequence[str],
        *,
        folder_of: Callable[[str], str] = parent_folder,
        concurrency: int = 32,
        list_ratio: int = 20,
    ) -> dict[str, int | None]:
        """Sizes of these objects (None: absent).

        Many keys under one folder (``folder_of``: the listing prefix a key belongs to) are
        listed, 1,000 per request, rather than asked one HEAD each; a listing that would read
        over ``list_ratio`` entries per wanted key gives up and leaves the rest to HEAD
        requests, so a small partition of a huge folder stays cheap.
        """
        groups: dict[str, list[str]] = {}
        for key in keys:
            groups.setdefault(folder_of(key), []).append(key)
        found: dict[str, int | None] = {}
        rest: list[str] = []
        for folder, group in groups.items():
            if len(group) < LIST_MIN_KEYS:
                rest.extend(group)
                continue
            listed, complete = await self._listed_sizes(
                folder, group, max_entries=len(group) * list_ratio
            )
            found.update(listed)
            unseen = [k for k in group if k not in listed]
            if complete:
                found.update(dict.fromkeys(unseen))
            else:
                rest.extend(unseen)
        found.update(await self.head_sizes(rest, concurrency))
        return found

    async def _listed_sizes(
        self, folder: str, group: list[str], max_entries: int
    ) -> tuple[dict[str, int], bool]:
        wanted = set(group)
        listed: dict[str, int] = {}
        entries = 0
        # offset = "start after": the first wanted key minus its last character sorts before it.
        stream = obstore.list(
            self._obstore(), prefix=folder, offset=min(group)[:-1], chunk_size=1000
        )
        async for batch in stream:
            for meta in batch:
                if meta["path"] in wanted:
                    listed[meta["path"]] = int(meta["size"])
            entries += len(batch)
            if len(listed) == len(wanted):
                return listed, True
            if entries >= max_entries:
                return listed, False
        return listed, True
