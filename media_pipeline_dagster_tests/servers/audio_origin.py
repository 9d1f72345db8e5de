"""A local HTTP server that plays "the internet" for audio downloads.

Routes (all path based, so tests can build URLs by hand):

    <registered path>                    200, body given to add_file()
    /fault/404/<any>                     404
    /fault/500/<any>                     500
    /fault/503/<any>                     503 with Retry-After: 0
    /fault/flaky/<n>/<any>.mp3           500 for the first n hits of that path, then 200 audio
    /fault/html/<any>                    200 text/html page
    /fault/html-as-audio/<any>.mp3       200 audio/mpeg whose body is an HTML login page
    /fault/slow/<seconds>/<any>          waits before the headers, then 200 audio
    /fault/short/<any>.mp3               promises 100000 bytes, sends 1000, closes
    /gen/<size_bytes>/<any>.mp3          200 audio of exactly size_bytes, streamed
    /chunked/<size_bytes>/<any>.mp3      the same body, chunked: no Content-Length
    /redirect/<n>/<rest>                 302 to /redirect/<n-1>/<rest>, the last hop to /<rest>
    /redirect-to?url=<u>[&status=<s>]    <s> (default 302) with Location: <u>, whatever <u> is
    anything else                        404

Audio bodies are deterministic functions of the URL path (see gen_bytes), so a
test can check a downloaded object's sha256 with expected_sha256(path).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MP3_FRAME_HEADER = b"\xff\xfb\x90\x64"
DEFAULT_AUDIO_SIZE = 64 * 1024  # body size of the non-/gen audio routes
SHORT_DECLARED, SHORT_SENT = 100_000, 1000
_BLOCK = 1 << 20

HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Not audio</title></head>"
    b"<body><h1>This is a web page, not an audio file.</h1></body></html>"
)
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
    b'<form method="post" action="/login"><input name="user">'
    b'<input name="password" type="password"><button>Sign in</button></form>'
    b"</body></html>"
)

_GEN = re.compile(r"^/(?:gen|chunked)/(\d+)/.+")
_FLAKY = re.compile(r"^/fault/flaky/(\d+)/.+")
_SLOW = re.compile(r"^/fault/slow/(\d+(?:\.\d+)?)/.+")
_REDIRECT = re.compile(r"^/redirect/(\d+)/(.+)")


def _path(path_or_url: str) -> str:
    return urlsplit(path_or_url).path or "/"


def audio_size(path_or_url: str) -> int:
    """Size of the audio body served for this path (by the generated routes)."""
    m = _GEN.match(_path(path_or_url))
    return int(m.group(1)) if m else DEFAULT_AUDIO_SIZE


def iter_gen_bytes(path_or_url: str, size: int, chunk_size: int = _BLOCK) -> Iterator[bytes]:
    """Stream the deterministic audio body for ``path`` without holding it in memory."""
    path = _path(path_or_url)
    # One 1 MiB random block per path, rotated differently for every block: cheap
    # (no hashing per byte, so 1 GiB streams fast) yet never repeats within 1 TiB.
    base = hashlib.shake_128(b"mpd-audio-origin:" + path.encode()).digest(_BLOCK)
    remaining, index = size, 0
    while remaining > 0:
        k = (index * 7919) % _BLOCK
        block = base[k:] + base[:k]
        if index == 0:
            block = MP3_FRAME_HEADER + block
        view = memoryview(block)[:remaining]
        for offset in range(0, len(view), chunk_size):
            yield bytes(view[offset : offset + chunk_size])
        remaining -= len(view)
        index += 1


def gen_bytes(path_or_url: str, size: int) -> bytes:
    return b"".join(iter_gen_bytes(path_or_url, size))


def expected_sha256(path_or_url: str, size: int | None = None) -> str:
    h = hashlib.sha256()
    for chunk in iter_gen_bytes(path_or_url, audio_size(path_or_url) if size is None else size):
        h.update(chunk)
    return h.hexdigest()


class AudioOrigin:
    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.delay_seconds = delay_seconds
        self._files: dict[str, tuple[bytes, str]] = {}
        self._hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.origin = self
        host, port = self._httpd.server_address[:2]
        self.base_url = f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + ("" if path.startswith("/") else "/") + path

    def add_file(self, path: str, body: bytes, content_type: str = "audio/mpeg") -> str:
        """Serve ``body`` at ``path``; returns its URL."""
        path = "/" + path.lstrip("/")
        with self._lock:
            self._files[path] = (bytes(body), content_type)
        return self.url(path)

    def hits(self, path_or_url: str) -> int:
        with self._lock:
            return self._hits[_path(path_or_url)]

    def reset_hits(self) -> None:
        """Also restarts the failure budget of /fault/flaky/ paths."""
        with self._lock:
            self._hits.clear()

    def expected_sha256(self, path_or_url: str) -> str:
        with self._lock:
            registered = self._files.get(_path(path_or_url))
        if registered is not None:
            return hashlib.sha256(registered[0]).hexdigest()
        return expected_sha256(path_or_url)

    def _hit(self, path: str) -> int:
        """Count a request; returns how many earlier requests that path had."""
        with self._lock:
            self._hits[path] += 1
            return self._hits[path] - 1

    def _file(self, path: str) -> tuple[bytes, str] | None:
        with self._lock:
            return self._files.get(path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    origin: AudioOrigin

    def handle_error(self, request, client_address):
        # Clients hanging up mid-body is routine in fault tests, not worth a traceback.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real CDNs
    # Headers and body go out in separate writes; with Nagle on, keep-alive clients
    # would wait ~40 ms for a delayed ACK on every small response.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format, *args):
        pass

    def do_HEAD(self):
        self._respond(head=True)

    def do_GET(self):
        self._respond(head=False)

    def do_POST(self):  # webhook receivers and redirects of POSTs
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._respond(head=False)

    def _respond(self, head: bool) -> None:
        origin = self.server.origin
        path = _path(self.path)
        previous_hits = origin._hit(path)
        if origin.delay_seconds and origin._stopping.wait(origin.delay_seconds):
            return

        if m := _REDIRECT.match(path):
            hops, rest = int(m.group(1)), m.group(2)
            return self._redirect(302, f"/redirect/{hops - 1}/{rest}" if hops > 1 else f"/{rest}")
        if path == "/redirect-to":
            query = parse_qs(urlsplit(self.path).query)
            return self._redirect(int(query.get("status", ["302"])[0]), query["url"][0])
        registered = origin._file(path)
        if registered is not None:
            return self._send_bytes(200, registered[0], registered[1], head)
        if path.startswith("/fault/404/"):
            return self._send_bytes(404, b"not found\n", "text/plain", head)
        if path.startswith("/fault/500/"):
            return self._send_bytes(500, b"internal server error\n", "text/plain", head)
        if path.startswith("/fault/503/"):
            return self._send_bytes(
                503, b"service unavailable\n", "text/plain", head, {"Retry-After": "0"}
            )
        if m := _FLAKY.match(path):
            if previous_hits < int(m.group(1)):
                return self._send_bytes(500, b"flaky failure\n", "text/plain", head)
            return self._send_audio(path, DEFAULT_AUDIO_SIZE, head)
        if path.startswith("/fault/html/"):
            return self._send_bytes(200, HTML_PAGE, "text/html; charset=utf-8", head)
        if path.startswith("/fault/html-as-audio/"):
            return self._send_bytes(200, LOGIN_PAGE, "audio/mpeg", head)
        if m := _SLOW.match(path):
            if origin._stopping.wait(float(m.group(1))):
                return
            return self._send_audio(path, DEFAULT_AUDIO_SIZE, head)
        if path.startswith("/fault/short/") and len(path) > len("/fault/short/"):
            return self._send_short(path, head)
        if m := _GEN.match(path):
            if path.startswith("/chunked/"):
                return self._send_chunked(path, int(m.group(1)), head)
            return self._send_audio(path, int(m.group(1)), head)
        return self._send_bytes(404, b"not found\n", "text/plain", head)

    def _headers(self, status: int, length: int, content_type: str, extra=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _redirect(self, status: int, location: str) -> None:
        self._headers(status, 0, "text/plain", {"Location": location})

    def _send_bytes(self, status, body: bytes, content_type: str, head: bool, extra=None) -> None:
        self._headers(status, len(body), content_type, extra)
        if not head:
            self.wfile.write(body)

    def _send_audio(self, path: str, size: int, head: bool) -> None:
        self._headers(200, size, "audio/mpeg")
        if not head:
            for chunk in iter_gen_bytes(path, size, chunk_size=256 * 1024):
                self.wfile.write(chunk)

    def _send_chunked(self, path: str, size: int, head: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "audio/mpeg")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if head:
            return
        for chunk in iter_gen_bytes(path, size, chunk_size=64 * 1024):
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _send_short(self, path: str, head: bool) -> None:
        self._headers(200, SHORT_DECLARED, "audio/mpeg")
        if not head:
            self.wfile.write(gen_bytes(path, SHORT_SENT))
        # Closing with bytes still owed is what a dropped origin connection looks like.
        self.close_connection = True


@contextmanager
def audio_origin(delay_seconds: float = 0.0) -> Iterator[AudioOrigin]:
    origin = AudioOrigin(delay_seconds=delay_seconds)
    thread = threading.Thread(
        target=origin._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield origin
    finally:
        origin._stopping.set()  # wakes handlers sleeping in /fault/slow or delay
        origin._httpd.shutdown()
        origin._httpd.server_close()
        thread.join(timeout=5)
