"""A read-only S3 endpoint that only lists: ListObjectsV2 pages over keys held in memory.

Filling SeaweedFS with a million objects takes far longer than the measurement, and the
checks only ever list (``sizes`` reads 1,000 keys per request). This server answers
``GET /<bucket>?list-type=2`` with the S3 listing XML (``prefix``, ``start-after``,
``continuation-token``, ``max-keys``; pages of at most 1,000 keys), in key order, from a
sorted key list given by the caller. Signatures are not checked. Requests are counted.
"""

from __future__ import annotations

import bisect
import multiprocessing
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

PAGE = 1000
MODIFIED = "2025-01-01T00:00:00.000Z"


@dataclass
class Listing:
    bucket: str
    keys: list[str]  # sorted
    sizes: list[int]
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Each key's <Contents> element, built once: a page is then a join, about 1 ms for
    # 1,000 keys, so the stand-in for B2 does not dominate what the client is measured for.
    contents: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.contents = [
            f"<Contents><Key>{escape(key)}</Key><LastModified>{MODIFIED}</LastModified>"
            f'<ETag>"{i:032x}"</ETag><Size>{size}</Size>'
            "<StorageClass>STANDARD</StorageClass></Contents>"
            for i, (key, size) in enumerate(zip(self.keys, self.sizes))
        ]

    def page(self, prefix: str, after: str, max_keys: int) -> tuple[list[int], bool]:
        """Indexes of the next keys under ``prefix`` after ``after``, and whether more follow."""
        start = max(bisect.bisect_right(self.keys, after), bisect.bisect_left(self.keys, prefix))
        out: list[int] = []
        i = start
        while i < len(self.keys) and self.keys[i].startswith(prefix) and len(out) < max_keys:
            out.append(i)
            i += 1
        more = i < len(self.keys) and self.keys[i].startswith(prefix)
        return out, more

    def xml(self, query: dict[str, str]) -> bytes:
        prefix = query.get("prefix", "")
        after = max(query.get("start-after", ""), query.get("continuation-token", ""))
        max_keys = min(int(query.get("max-keys", PAGE)), PAGE)
        found, more = self.page(prefix, after, max_keys)
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
            f"<Name>{escape(self.bucket)}</Name><Prefix>{escape(prefix)}</Prefix>",
            f"<KeyCount>{len(found)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>",
            f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>",
        ]
        if more:
            parts.append(
                f"<NextContinuationToken>{escape(self.keys[found[-1]])}</NextContinuationToken>"
            )
        if found:
            parts.extend(self.contents[found[0] : found[-1] + 1])
        parts.append("</ListBucketResult>")
        return "".join(parts).encode()


def _handler(listing: Listing) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/_requests":  # the benchmark's counter, not S3
                return self._send(200, str(listing.requests).encode())
            with listing.lock:
                listing.requests += 1
            query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            if url.path.strip("/") != listing.bucket or query.get("list-type") != "2":
                body = b"<Error><Code>NotImplemented</Code><Message>listing only</Message></Error>"
                return self._send(501, body)
            self._send(200, listing.xml(query))

        def do_HEAD(self) -> None:
            with listing.lock:
                listing.requests += 1
            self._send(404, b"")

    return Handler


def requests_served(endpoint: str) -> int:
    with urllib.request.urlopen(f"{endpoint}/_requests", timeout=10) as response:
        return int(response.read())


def _serve(bucket: str, objects: Sequence[tuple[str, int]], port_pipe) -> None:
    with listing_server(bucket, objects) as (endpoint, _):
        port_pipe.send(endpoint)
        port_pipe.recv()  # until the parent says stop


@contextmanager
def listing_process(bucket: str, objects: Sequence[tuple[str, int]]) -> Iterator[str]:
    """The same server in a forked process (its Python work off the measured process's GIL);
    yields its endpoint. ``requests_served(endpoint)`` reads its counter."""
    parent, child = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=_serve, args=(bucket, objects, child), daemon=True
    )
    process.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(timeout=10)


@contextmanager
def listing_server(
    bucket: str, objects: Sequence[tuple[str, int]]
) -> Iterator[tuple[str, Listing]]:
    """(endpoint URL, the listing with its request counter) for these (key, size) pairs."""
    ordered = sorted(objects)
    listing = Listing(bucket, [k for k, _ in ordered], [s for _, s in ordered])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(listing))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", listing
    finally:
        server.shutdown()
        server.server_close()
