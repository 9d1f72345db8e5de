"""An HTTP reverse proxy in front of S3 that answers some requests with 503 SlowDown.

Requests are forwarded unchanged (method, path and query, headers including
Host and Authorization): SigV4 signs the Host header, so clients talk to the
proxy's address and the upstream verifies the signature against that same Host.
Note that CreateBucket is a PUT too, so create buckets on the upstream directly.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SLOWDOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)
# Per-connection headers (RFC 9110 section 7.6.1). Expect is handled here, and
# botocore never signs it. Transfer-Encoding is kept: bodies are relayed as framed.
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "expect"}
_PIECE = 1 << 20

Predicate = Callable[[str, str, Message], bool]


class SlowdownProxy:
    def __init__(
        self,
        upstream_endpoint_url: str,
        fail_first_puts: int = 0,
        should_reject: Predicate | None = None,
    ) -> None:
        upstream = urlsplit(upstream_endpoint_url)
        if upstream.scheme != "http" or not upstream.port:
            raise ValueError(f"need http://host:port, got {upstream_endpoint_url!r}")
        self.upstream = (upstream.hostname, upstream.port)
        self.should_reject = should_reject
        self._puts_to_fail = fail_first_puts
        self._rejected = 0
        self._forwarded = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda request, client_address: None  # client hang-ups
        self._httpd.proxy = self
        host, port = self._httpd.server_address[:2]
        self.endpoint_url = f"http://{host}:{port}"

    @property
    def rejected(self) -> int:
        with self._lock:
            return self._rejected

    @property
    def forwarded(self) -> int:
        with self._lock:
            return self._forwarded

    def fail_next_puts(self, n: int) -> None:
        with self._lock:
            self._puts_to_fail = n

    def _decide(self, method: str, path: str, headers: Message) -> bool:
        """True to reject; counts the request either way."""
        matched = bool(self.should_reject and self.should_reject(method, path, headers))
        with self._lock:
            if not matched and method == "PUT" and self._puts_to_fail > 0:
                self._puts_to_fail -= 1
                matched = True
            if matched:
                self._rejected += 1
            else:
                self._forwarded += 1
        return matched


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small S3 responses would otherwise wait ~40 ms

    def log_message(self, format, *args):
        pass

    def handle_expect_100(self):
        # Defer "100 Continue" until we know whether the body is wanted at all.
        self._expects_continue = True
        return True

    def _proxy(self) -> None:
        proxy: SlowdownProxy = self.server.proxy
        expects_continue = getattr(self, "_expects_continue", False)
        self._expects_continue = False
        if proxy._decide(self.command, self.path, self.headers):
            return self._reject(expects_continue)
        if expects_continue:
            self.send_response_only(100)
            self.end_headers()
        self._forward(proxy)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _proxy

    def _reject(self, expects_continue: bool) -> None:
        if expects_continue:
            # The client has not sent the body and will not: the exchange ends here.
            self.close_connection = True
        else:
            for _ in self._iter_raw_body():  # drain it so the connection stays usable
                pass
        self.send_response(503, "Slow Down")
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(SLOWDOWN_BODY)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(SLOWDOWN_BODY)

    def _iter_raw_body(self) -> Iterator[bytes]:
        """The request body exactly as received (chunk framing included)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size_line = self.rfile.readline(65537)
                yield size_line
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while True:  # trailers, then the empty line
                        line = self.rfile.readline(65537)
                        yield line
                        if line in (b"\r\n", b"\n", b""):
                            return
                yield from self._iter_exact(size + 2)  # data + CRLF
        else:
            yield from self._iter_exact(int(self.headers.get("Content-Length") or 0))

    def _iter_exact(self, n: int) -> Iterator[bytes]:
        while n > 0:
            piece = self.rfile.read(min(n, _PIECE))
            if not piece:
                raise ConnectionError("client closed the connection mid-body")
            n -= len(piece)
            yield piece

    def _forward(self, proxy: SlowdownProxy) -> None:
        upstream = http.client.HTTPConnection(*proxy.upstream, timeout=300)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    upstream.putheader(name, value)
            upstream.endheaders()
            for piece in self._iter_raw_body():
                upstream.send(piece)
            response = upstream.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            # Nothing sent to the client yet: report it as a gateway error, not a hang-up.
            upstream.close()
            body = f"upstream error: {exc!r}\n".encode()
            self.close_connection = True
            self.send_response(502)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            return
        try:
            self._relay_response(response)
        finally:
            upstream.close()

    def _relay_response(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        chunked = response.chunked  # http.client de-chunks; we re-chunk below
        has_length = response.getheader("Content-Length") is not None
        bodyless = self.command == "HEAD" or response.status in (204, 304)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if not (chunked or has_length or bodyless):
            self.close_connection = True  # body ends when the upstream closes
            self.send_header("Connection", "close")
        self.end_headers()
        if bodyless:
            return
        while piece := response.read1(_PIECE):
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                self.wfile.write(piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")


@contextmanager
def slowdown_proxy(
    upstream_endpoint_url: str, fail_first_puts: int = 0, *, should_reject: Predicate | None = None
) -> Iterator[SlowdownProxy]:
    """Proxy rejecting the first ``fail_first_puts`` PUTs, plus any request for
    which ``should_reject(method, path_with_query, headers)`` is true."""
    proxy = SlowdownProxy(upstream_endpoint_url, fail_first_puts, should_reject)
    thread = threading.Thread(
        target=proxy._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield proxy
    finally:
        proxy._httpd.shutdown()
        proxy._httpd.server_close()
        thread.join(timeout=5)
