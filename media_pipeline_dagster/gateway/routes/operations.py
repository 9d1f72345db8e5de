"""For operators: health (no key, for load balancers), Prometheus metrics and the API description (key)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response

from ..deps import AuthenticatedRoute, Gateway, KeyName, started
from ..schemas import Health, errors

public = APIRouter(tags=["operations"])
protected = APIRouter(route_class=AuthenticatedRoute, tags=["operations"])


@public.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "database or bucket unreachable"}},
    summary="200 when the database and the bucket answer",
)
async def healthz(state: Gateway) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await started(state.catalog).run(lambda conn: conn.execute(sa.text("SELECT 1")))
        checks["database"] = "ok"
    except Exception as exc:  # report, do not raise: this is the health answer
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        await state.settings.object_store.head_size("healthz/probe")  # absent is an answer too
        checks["bucket"] = "ok"
    except Exception as exc:
        checks["bucket"] = f"unreachable: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", **checks}, status_code=200 if healthy else 503
    )


@protected.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        },
        **errors(401, 429),
    },
    summary="Prometheus metrics",
)
async def metrics(key_name: KeyName, state: Gateway) -> Response:
    return Response(state.metrics.render(), media_type=state.metrics.content_type)


@protected.get("/openapi.json", include_in_schema=False)
async def openapi(key_name: KeyName, request: Request) -> dict:
    return request.app.openapi()


@protected.get("/docs", include_in_schema=False)
async def docs(key_name: KeyName, request: Request) -> Response:
    # The browser sends the Basic credentials it was asked for again when the page loads /openapi.json.
    return get_swagger_ui_html(openapi_url="/openapi.json", title=request.app.title)
