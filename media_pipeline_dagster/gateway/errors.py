"""Every error answer is ``{"detail": "<what went wrong and what to do>"}`` (``ErrorBody``).

Validation errors are flattened to one sentence naming the field, as the gateway's own
422s read; a database that cannot be reached is a 503 with ``Retry-After`` on every
endpoint, never a bare 500.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("media_pipeline_dagster.gateway")
DATABASE_RETRY_AFTER_SECONDS = 10


def error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def describe_validation(exc: RequestValidationError) -> str:
    """'recording_id: contains the control character ...; url: ...' from pydantic's error list."""
    parts = []
    for item in exc.errors():
        where = ".".join(
            str(p)
            for p in item.get("loc", ())
            if p not in ("body", "path", "query", "header", "form")
        )
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "invalid request"


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error(422, describe_validation(exc))


async def _database_error(request: Request, exc: sa.exc.SQLAlchemyError) -> JSONResponse:
    kind = type(getattr(exc, "orig", None) or exc).__name__
    log.error("catalog database error on %s %s: %s", request.method, request.url.path, exc)
    return error(
        503,
        f"the catalog database is unavailable ({kind}); try again after Retry-After",
        {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error(500, "internal error; the gateway's log has the details")


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(sa.exc.SQLAlchemyError, _database_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
