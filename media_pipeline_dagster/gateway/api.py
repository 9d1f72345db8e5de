"""The app factory: settings in, FastAPI app out (``uvicorn media_pipeline_dagster.gateway:app``).

Every endpoint but ``/healthz`` needs a key (``X-API-Key``, or HTTP Basic with the key as
password so a browser can open ``/docs``); the API description itself sits behind it.
"""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import errors
from .auth import Authenticator
from .config import GatewaySettings, load_gateway_settings
from .db import Database
from .deps import GatewayState
from .locks import RecordingLocks
from .logs import redact_access_log
from .metrics import Metrics, MetricsMiddleware
from .routes import media, operations
from .submit import Submitter
from .webhooks import Deliverer

SUBMIT_DB_THREADS = 2


def create_app(settings: GatewaySettings) -> FastAPI:
    state = GatewayState(
        settings=settings,
        metrics=Metrics(),
        auth=Authenticator(
            settings.api_keys, settings.rate_limit_per_minute, settings.auth_failures_per_minute
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        redact_access_log()
        locks = RecordingLocks(settings.catalog_engine)
        # Submits' statements run two at a time, the rest of the pool serves status, rerun and health:
        # more writers only add contention (commits, the GIL) and slow everyone (benchmarks/gateway.py).
        submits = max(1, min(SUBMIT_DB_THREADS, settings.db_pool_size // 2))
        state.catalog = Database(settings.catalog_engine, settings.db_pool_size - submits)
        state.submitter = Submitter(
            Database(settings.catalog_engine, submits),
            settings.object_store,
            settings.transfer,
            locks,
            settings.transfer_concurrency,
        )
        deliverer = None
        if settings.callback_hosts and settings.webhook_secret:
            deliverer = Deliverer(
                settings.catalog_engine,
                settings.webhook_secret,
                settings.webhook_interval_seconds,
                settings.fetch_policy,
            )
            deliverer.start()
        try:
            yield
        finally:
            if deliverer is not None:
                deliverer.stop()
            await state.submitter.close()
            locks.close()

    app = FastAPI(
        title="media_pipeline_dagster gateway",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        description="On-demand transcription requests: the audio is stored and queued; Dagster transcribes it.",
    )
    app.state.gateway = state
    errors.install(app)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    app.include_router(media.router)
    app.include_router(operations.public)
    app.include_router(operations.protected)
    return app


def app_from_profile() -> FastAPI:
    """The served app. Dagster and everything else imported by now are millions of objects that
    live as long as the process; a full garbage collection walking them paused the event loop
    for ~300 ms during a burst (benchmarks/gateway.py), so they are moved out of its sight."""
    app = create_app(load_gateway_settings())
    gc.collect()
    gc.freeze()
    return app
