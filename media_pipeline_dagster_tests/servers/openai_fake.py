"""A local fake of OpenAI's ``POST /v1/audio/transcriptions`` (multipart), for the real SDK.

    with openai_server(latency=0.3, rate_limit_every=20) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
        client.audio.transcriptions.create(file=("a.wav", data), model="whisper-1")

Answers, validation and error envelopes follow the real API (shapes as in the SDK's
``openai/types/audio``; messages as users have reported them). Transcripts are a
deterministic function of the upload's sha256 and duration (``set_transcript`` overrides
the words). Two answers worth knowing:
- a body over 26,214,400 bytes gets 413 ``server_error`` "Maximum content size limit
  (26214400) exceeded (N bytes read)", as the real API answers (not 400). The limit is
  on the whole multipart body, so a file must stay a few KB under 25 MiB.
- an unknown model gets 404 ``model_not_found``, OpenAI's usual answer (our choice: the
  audio endpoint's exact answer is undocumented).
- ``rpm_limit`` (and ``rpm_burst``) give the key a requests-per-minute budget: every
  answer then carries ``x-ratelimit-*-requests`` headers and a request beyond the budget
  gets the API's 429 ``rate_limit_exceeded`` (see openai_fake_faults).
- the ``insufficient_quota`` fault answers 429 ``insufficient_quota`` (an account out of
  credit), ``forbidden`` 403 ``unsupported_country_region_territory``, as the API does.
Latency and the slow fault are per-request waits in the request's own thread, so
concurrent requests overlap; 401/403/413/429/500 answers skip the latency.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from media_pipeline_dagster_tests.servers import openai_fake_render as render
from media_pipeline_dagster_tests.servers.openai_fake_faults import (
    Faults,
    RecordedRequest,
    RequestBudget,
    forbidden,
    insufficient_quota,
)
from media_pipeline_dagster_tests.servers.openai_fake_render import (
    ALL_FORMATS,
    MODEL_FORMATS,
    ApiError,
)

MAX_REQUEST_BYTES = 26_214_400


class OpenAIFake:
    def __init__(
        self,
        api_key: str | Iterable[str] = "test-key",
        default_duration: float = 10.0,
        segment_seconds: float = 5.0,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        rpm_limit: int | None = None,
        rpm_burst: int | None = None,
        **faults,
    ) -> None:
        self.api_keys = {api_key} if isinstance(api_key, str) else set(api_key)
        self.api_key = next(iter(sorted(self.api_keys)))
        self.default_duration = default_duration  # for audio PyAV cannot measure
        self.segment_seconds = segment_seconds
        self.max_request_bytes = max_request_bytes
        self.budget = RequestBudget(rpm_limit, rpm_burst) if rpm_limit else None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._faults, self._fault_seq = Faults(), 0
        self.set_faults(**faults)
        self._records: list[RecordedRequest] = []
        self._transcripts: dict[str, str] = {}
        self._counts: Counter[int] = Counter()
        self.in_flight = self.max_in_flight = 0
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        host, port = self._httpd.server_address[:2]
        self.base_url = f"http://{host}:{port}/v1"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, daemon=True, name="openai-fake"
        )

    # -- control --------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._records)

    @property
    def counts(self) -> Counter[int]:
        """Answers by HTTP status so far."""
        with self._lock:
            return Counter(self._counts)

    @property
    def faults(self) -> Faults:
        with self._lock:
            return dataclasses.replace(self._faults)

    def set_faults(self, **changes) -> None:
        """Change some fault settings, keeping the others; restarts the every-k-th count."""
        with self._lock:
            if "invalid_files" in changes:
                changes["invalid_files"] = tuple(changes["invalid_files"])
            self._faults, self._fault_seq = dataclasses.replace(self._faults, **changes), 0

    def set_budget(self, rpm_limit: int | None, rpm_burst: int | None = None) -> None:
        """A fresh (full) requests-per-minute budget, or none."""
        self.budget = RequestBudget(rpm_limit, rpm_burst) if rpm_limit else None

    def clear_faults(self) -> None:
        with self._lock:
            self._faults, self._fault_seq = Faults(), 0

    def set_transcript(self, sha256: str, text: str) -> None:
        with self._lock:
            self._transcripts[sha256] = text

    def reset(self) -> None:
        """Forget logged requests and counters (faults stay)."""
        with self._lock:
            self._records.clear()
            self._counts.clear()
            self.max_in_flight = self.in_flight

    def start(self) -> OpenAIFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes requests sleeping in latency/slow faults
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    # -- request handling ---------------------------------------------------------------
    def _take_fault(self, model: str | None) -> tuple[str | None, Faults]:
        with self._lock:
            f = self._faults
            if f.model is not None and model != f.model:
                return None, f
            self._fault_seq += 1
            if f.rate_limit_next > 0:
                f.rate_limit_next -= 1
                return "rate_limit", f
            if f.rate_limit_every and self._fault_seq % f.rate_limit_every == 0:
                return "rate_limit", f
            if f.server_error_next > 0:
                f.server_error_next -= 1
                return "server_error", f
            if f.slow_next > 0:
                f.slow_next -= 1
                return "slow", f
            return None, f

    def _handle(self, h: _Handler, rec: dict) -> tuple[int, bytes, str]:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.read_body(length, self.max_request_bytes)  # read first: keep-alive needs it
        if h.path.split("?")[0].rstrip("/") != "/v1/audio/transcriptions":
            raise ApiError(404, f"Invalid URL (POST {h.path})")
        auth = h.headers.get("Authorization") or ""
        rec["api_key"] = key = auth[7:] if auth.startswith("Bearer ") else None
        if key is None:
            raise ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key "
                "in an Authorization header using Bearer auth (i.e. Authorization: "
                "Bearer YOUR_KEY).",
            )
        if key not in self.api_keys:
            masked = key[:3] + "*" * 8 + key[-4:] if len(key) > 8 else "*" * len(key)
            raise ApiError(
                401,
                f"Incorrect API key provided: {masked}. You can find your API "
                "key at https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        faults = self.faults
        if faults.insufficient_quota:
            rec["fault"] = "insufficient_quota"
            raise insufficient_quota()
        if faults.forbidden:
            rec["fault"] = "forbidden"
            raise forbidden()
        if body is None:
            raise ApiError(
                413,
                f"Maximum content size limit ({self.max_request_bytes}) exceeded "
                f"({length} bytes read)",
                type_="server_error",
            )
        form, files = render.parse_multipart(h.headers.get("Content-Type", ""), body)
        rec["model"] = model = form.get("model", [None])[0]
        if self.budget is not None:
            try:
                rec["headers"] = self.budget.take(model)
            except ApiError:
                rec["fault"] = "rpm_budget"
                raise
        fault, faults = self._take_fault(model)
        rec["fault"] = fault
        if fault == "rate_limit":
            wait = faults.retry_after
            raise ApiError(
                429,
                f"Rate limit reached for {model} on requests per min (RPM): "
                f"Please try again in {wait:g}s.",
                type_="requests",
                code="rate_limit_exceeded",
                headers={"Retry-After": f"{wait:g}"},
            )  # with a budget, its headers join
        if fault == "server_error":
            raise ApiError(
                500,
                "The server had an error while processing your request. Sorry about that!",
                type_="server_error",
            )
        wait = faults.latency + (faults.slow_seconds if fault == "slow" else 0.0)
        if wait and self._stopping.wait(wait):
            raise ConnectionAbortedError("server stopping")
        req = render.validate(form, files, rec)
        upload = files["file"]
        data = upload[1]
        rec.update(
            file_name=upload[0],
            file_size=len(data),
            file_sha256=(sha := hashlib.sha256(data).hexdigest()),
        )
        if any(
            s in (upload[0], sha) or (len(s) >= 8 and sha.startswith(s.lower()))
            for s in faults.invalid_files
        ):
            rec["fault"] = "invalid_file"
            raise ApiError(400, render.INVALID_FORMAT)
        duration = render.audio_duration(upload[0], data, req, self.default_duration)
        rec["duration"] = duration
        with self._lock:
            override = self._transcripts.get(sha)
        segments = render.segments(sha, duration, self.segment_seconds, override)
        return render.respond(req, duration, segments)

    def _record(self, rec: dict, status: int) -> None:
        with self._lock:
            self._counts[status] += 1
            known = {f.name for f in dataclasses.fields(RecordedRequest)}
            self._records.append(
                RecordedRequest(
                    seq=len(self._records) + 1,
                    status=status,
                    **{k: v for k, v in rec.items() if k in known and k not in ("seq", "status")},
                )
            )

    def _enter(self, delta: int) -> None:
        with self._lock:
            self.in_flight += delta
            self.max_in_flight = max(self.max_in_flight, self.in_flight)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 refuses bursts of 32 clients
    fake: OpenAIFake

    def handle_error(self, request, client_address):
        pass  # clients that time out and hang up are routine in fault tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like api.openai.com
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections free their thread eventually
    server: _Server

    def log_message(self, format, *args):
        pass

    def read_body(self, length: int, limit: int) -> bytes | None:
        """The body, or None after draining one over ``limit`` (the answer must follow it)."""
        if length <= limit:
            return self.rfile.read(length)
        while length > 0:
            piece = self.rfile.read(min(length, 1 << 20))
            if not piece:
                break  # the client gave up sending
            length -= len(piece)
        return None

    def do_POST(self):
        fake = self.server.fake
        rec: dict = {"time": time.monotonic(), "api_key": None}
        fake._enter(+1)
        started, headers = time.monotonic(), {}
        try:
            status, payload, ctype = fake._handle(self, rec)
        except ApiError as exc:
            status, headers, ctype = exc.status, exc.headers, "application/json"
            payload = json.dumps(exc.body).encode()
        except ConnectionAbortedError:
            self.close_connection = True
            return
        except Exception as exc:
            rec["fault"] = "fake_server_bug"
            status, ctype = 500, "application/json"
            payload = json.dumps(
                ApiError(500, f"fake server bug: {exc!r}", "server_error").body
            ).encode()
            headers = {"x-should-retry": "false"}
        finally:
            fake._enter(-1)
        fake._record(rec, status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex)
        self.send_header("openai-processing-ms", str(int((time.monotonic() - started) * 1000)))
        for name, value in {
            **rec.get("headers", {}),
            **headers,
        }.items():  # budget headers on every answer
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def openai_server(**options) -> Iterator[OpenAIFake]:
    """Start an OpenAIFake (options: OpenAIFake's constructor, fault fields included)."""
    fake = OpenAIFake(**options).start()
    try:
        yield fake
    finally:
        fake.stop()


__all__ = [
    "ALL_FORMATS",
    "MAX_REQUEST_BYTES",
    "MODEL_FORMATS",
    "ApiError",
    "Faults",
    "OpenAIFake",
    "RecordedRequest",
    "openai_server",
]
