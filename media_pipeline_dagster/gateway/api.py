"""The FastAPI app: the seed's endpoints (submit, status) plus rerun, health and metrics.

Every endpoint but ``/healthz`` needs a key: the ``X-API-Key`` header, or HTTP Basic
with the key as password (so a browser can open ``/docs``). Keys are compared in
constant time and only their names reach logs. The gateway never calls OpenAI: it stores the audio and
catalogs the row; ``pending_transcriptions_sensor`` has it transcribed.
"""


import hmac
import logging
import threading
import time
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import obstore
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Form, HTTPException, Security
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBasicCredentials
from obstore.exceptions import NotFoundError

from ..calls.keys import UnsafeKeyError, normalize_prefix
from ..calls.transfer import TransferSettings
from .lookup import find_recording
from .ratelimit import RateLimiter
from .webhooks import Deliverer, callback_allowed, register
from .status import audio_status, clear_failure
from .submit import SubmitError, queue_recording

log = logging.getLogger("media_pipeline_dagster.gateway")


@dataclass
class GatewaySettings:
    catalog_engine: sa.Engine
    recordings_engine: sa.Engine
    object_store: Any  # an ObjectStoreResource (its .store and .uri)
    api_keys: dict[str, str]  # name -> key
    b2_prefix: str = ""
    rate_limit_per_minute: int = 600  # per key; 0 turns limiting off
    callback_hosts: frozenset[str] = frozenset()  # empty: callbacks refused
    webhook_secret: str = ""
    webhook_interval_seconds: float = 10.0
    transfer: TransferSettings = field(default_factory=lambda: TransferSettings(audio_only=True))


class _Metrics:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.queued = 0

    def count(self, endpoint: str, status: int) -> None:
        with self.lock:
            self.requests[(endpoint, status)] += 1

    def render(self) -> str:
        lines = ["# HELP gateway_requests_total Requests answered, by endpoint and status.",
                 "# TYPE gateway_requests_total counter"]
        with self.lock:
            lines += [f'gateway_requests_total{{endpoint="{e}",status="{s}"}} {n}' for (e, s), n in sorted(self.requests.items())]
            lines += ["# HELP gateway_audio_queued_total Audio files newly queued.", "# TYPE gateway_audio_queued_total counter",
                      f"gateway_audio_queued_total {self.queued}"]
        return "\n".join(lines) + "\n"


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        deliverer = None
        if settings.callback_hosts and settings.webhook_secret:
            deliverer = Deliverer(settings.catalog_engine, settings.webhook_secret, settings.webhook_interval_seconds)
            deliverer.start()
        yield
        if deliverer is not None:
            deliverer.stop()

    # The API description sits behind the key like everything but /healthz.
    app = FastAPI(title="media_pipeline_dagster gateway", version="1", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None,
                  description="On-demand transcription requests: the audio is stored and queued; Dagster transcribes it.")
    metrics = _Metrics()
    keys = [(name, key.encode()) for name, key in settings.api_keys.items() if key]
    limiter = RateLimiter(settings.rate_limit_per_minute)
    header_key = APIKeyHeader(name="X-API-Key", auto_error=False)
    basic = HTTPBasic(auto_error=False, description="any user name, the API key as password")

    def api_key(x_api_key: Annotated[str | None, Security(header_key)] = None,
                credentials: Annotated[HTTPBasicCredentials | None, Security(basic)] = None) -> str:
        given = (x_api_key or (credentials.password if credentials else "")).encode()
        # Compare with every key, so the time taken says nothing about which key (or none) matched.
        matches = [n for n, k in keys if hmac.compare_digest(given, k)]
        name = matches[0] if matches else None
        if name is None:
            raise HTTPException(401, "missing or invalid X-API-Key",
                                headers={"WWW-Authenticate": 'Basic realm="media_pipeline_dagster gateway"'})
        wait = limiter.take(name)
        if wait > 0:
            raise HTTPException(429, f"rate limit of {settings.rate_limit_per_minute} requests per minute for key {name!r}",
                                headers={"Retry-After": str(max(1, round(wait + 0.5)))})
        return name

    @app.exception_handler(HTTPException)
    async def _http_error(request, exc: HTTPException):
        metrics.count(request.url.path.split("/")[3] if request.url.path.startswith("/api/media/") else request.url.path, exc.status_code)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.post("/api/media/transcribe")
    def transcribe(
        key_name: Annotated[str, Depends(api_key)],
        recording_id: Annotated[str | None, Form()] = None,
        url: Annotated[str | None, Form()] = None,
        b2_prefix: Annotated[str | None, Form()] = None,
        phone: Annotated[str | None, Form()] = None,  # fallbacks only: the database is the source of truth
        campaign: Annotated[str | None, Form()] = None,
        campaign_id: Annotated[str | None, Form()] = None,
        callback_url: Annotated[str | None, Form()] = None,
    ):
        if not (recording_id or "").strip() and not (url or "").strip():
            raise HTTPException(422, "send recording_id (preferred) or url (exactly a public.recordings.location)")
        if callback_url and not (settings.webhook_secret and callback_allowed(callback_url, settings.callback_hosts)):
            raise HTTPException(422, "callback_url must be http(s) on a host listed in GATEWAY_CALLBACK_HOSTS")
        try:
            prefix = normalize_prefix(b2_prefix if b2_prefix is not None else settings.b2_prefix)
        except UnsafeKeyError as exc:
            raise HTTPException(422, str(exc)) from None
        try:
            recording = find_recording(settings.recordings_engine, recording_id=(recording_id or "").strip() or None,
                                       url=None if (recording_id or "").strip() else url.strip())
        except sa.exc.SQLAlchemyError as exc:
            log.error("reading public.recordings failed: %s", exc)
            raise HTTPException(503, f"cannot read public.recordings: {type(getattr(exc, 'orig', exc)).__name__}") from None
        if recording is None:
            raise HTTPException(404, "no such recording in public.recordings")
        try:
            queued = queue_recording(settings.catalog_engine, settings.object_store.store, recording,
                                     prefix=prefix, transfer=settings.transfer)
        except SubmitError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        if callback_url:
            register(settings.catalog_engine, queued.audio_file_id, callback_url, key_name)
        log.info("key %s queued recording %s as audio_file %s", key_name, recording["id"], queued.audio_file_id)
        metrics.count("transcribe", 200)
        if queued.created:
            with metrics.lock:
                metrics.queued += 1
        return {"audio_file_id": queued.audio_file_id, "status": "QUEUED", "b2_key": queued.b2_key,
                "b2_url": settings.object_store.uri(queued.b2_key) if queued.b2_key else None}

    @app.get("/api/media/status/{audio_file_id}")
    def status(audio_file_id: int, key_name: Annotated[str, Depends(api_key)]):
        found = audio_status(settings.catalog_engine, audio_file_id)
        if found is None:
            raise HTTPException(404, f"no audio_file {audio_file_id}")
        metrics.count("status", 200)
        return found

    @app.post("/api/media/rerun/{audio_file_id}")
    def rerun(audio_file_id: int, key_name: Annotated[str, Depends(api_key)]):
        found = audio_status(settings.catalog_engine, audio_file_id)
        if found is None:
            raise HTTPException(404, f"no audio_file {audio_file_id}")
        if found["status"] == "completed":
            raise HTTPException(409, f"audio_file {audio_file_id} is already transcribed")
        cleared = clear_failure(settings.catalog_engine, audio_file_id)
        log.info("key %s re-queued audio_file %s (failure cleared: %s)", key_name, audio_file_id, cleared)
        metrics.count("rerun", 200)
        return {"audio_file_id": audio_file_id, "status": "QUEUED", "failure_cleared": cleared}

    @app.get("/healthz")
    def healthz():
        checks: dict[str, str] = {}
        try:
            with settings.catalog_engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # report, do not raise: this is the health answer
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            obstore.head(settings.object_store.store, "healthz/probe")
            checks["bucket"] = "ok"
        except (NotFoundError, FileNotFoundError):
            checks["bucket"] = "ok"
        except Exception as exc:
            checks["bucket"] = f"unreachable: {type(exc).__name__}"
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if healthy else "degraded", **checks}, status_code=200 if healthy else 503)

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus(key_name: Annotated[str, Depends(api_key)]):
        return metrics.render()

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(key_name: Annotated[str, Depends(api_key)]):
        return app.openapi()

    @app.get("/docs", include_in_schema=False)
    def docs(key_name: Annotated[str, Depends(api_key)]):
        # The browser sends the Basic credentials it was asked for again when the page loads /openapi.json.
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    app.state.started = time.time()
    return app


def app_from_profile() -> FastAPI:
    from ..settings import load_gateway_settings

    return create_app(load_gateway_settings())
