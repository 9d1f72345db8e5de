"""FastAPI dependencies: the gateway's state, the caller's key, a submit slot, the catalog.

Protected routes use ``AuthenticatedRoute``: the key (and the failed-key limit of the
address) is checked from the headers before FastAPI reads the body, so a request
without a key costs no body parsing (a malformed form gets 401, not 400; a 20 MiB body
is not read before its 401), and bodies above ``MAX_FORM_BYTES`` are refused unread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPBasic
from starlette.types import Message

from .auth import Authenticator
from .config import GatewaySettings
from .db import Database
from .metrics import Metrics
from .submit import Submitter

MAX_FORM_BYTES = 64 * 1024
SUBMIT_RETRY_AFTER_SECONDS = 5


T = TypeVar("T")


@dataclass
class GatewayState:
    settings: GatewaySettings
    auth: Authenticator
    metrics: Metrics
    # Made when the app starts (they need the running loop): submits' database work and
    # everyone else's (status, rerun, health) get separate shares of the pool.
    submitter: Submitter | None = None
    catalog: Database | None = None
    submits_in_flight: int = 0


def started(part: T | None) -> T:
    """A part made at startup; it exists whenever a request is being served."""
    if part is None:
        raise RuntimeError(
            "the gateway's startup did not run (use create_app under an ASGI server)"
        )
    return part


def state_of(request: Request) -> GatewayState:
    return request.app.state.gateway


async def gateway_state(request: Request) -> GatewayState:
    return state_of(request)


Gateway = Annotated[GatewayState, Depends(gateway_state)]


class _LimitedBody:
    """Wraps ``receive``: a body (chunked or not) longer than the limit is a 413, never read whole."""

    def __init__(self, receive, limit: int):
        self.receive, self.limit, self.seen = receive, limit, 0

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise HTTPException(
                    413, f"the form is larger than {self.limit} bytes; send only the form fields"
                )
        return message


class AuthenticatedRoute(APIRoute):
    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def authenticated(request: Request):
            state = state_of(request)
            request.state.key_name = state.auth.check(
                request.headers, request.client.host if request.client else "unknown"
            )
            declared = request.headers.get("content-length") or "0"
            if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
                raise HTTPException(
                    413,
                    f"the form is larger than {MAX_FORM_BYTES} bytes; send only the form fields",
                )
            # The same request (scope and state are shared), reading its body through the limit.
            return await handler(
                Request(request.scope, _LimitedBody(request.receive, MAX_FORM_BYTES))
            )

        return authenticated


class _DeclaredBasic(HTTPBasic):
    """HTTP Basic as the OpenAPI document declares it. FastAPI's own refuses a malformed header
    even with ``auto_error=False``, which would cost a valid ``X-API-Key`` its answer."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


# Declared for the OpenAPI document (Swagger's Authorize button); the check itself ran in the route.
_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="an API key from GATEWAY_API_KEYS"
)
_basic = _DeclaredBasic(
    auto_error=False, scheme_name="HTTPBasic", description="any user name, the API key as password"
)


async def api_key(
    request: Request,
    _header_key: Annotated[str | None, Security(_header)] = None,
    _basic_key: Annotated[None, Security(_basic)] = None,
) -> str:
    """The name of the caller's key (``AuthenticatedRoute`` checked it before the body was read)."""
    return request.state.key_name


KeyName = Annotated[str, Depends(api_key)]


async def submit_slot(state: Gateway) -> AsyncIterator[None]:
    """One of ``max_concurrent_submits`` slots, or 503 at once: a burst is refused, never queued for minutes."""
    if state.submits_in_flight >= state.settings.max_concurrent_submits:
        state.metrics.submits_refused.inc()
        raise HTTPException(
            503,
            f"{state.settings.max_concurrent_submits} submits are in flight, the most this gateway "
            f"takes at once; try again after Retry-After",
            headers={"Retry-After": str(SUBMIT_RETRY_AFTER_SECONDS)},
        )
    state.submits_in_flight += 1
    state.metrics.submits_in_flight.inc()
    try:
        yield
    finally:
        state.submits_in_flight -= 1
        state.metrics.submits_in_flight.dec()


SubmitSlot = Depends(submit_slot)


async def catalog(state: Gateway) -> Database:
    """The catalog for status, rerun and health: one worker thread and connection per statement batch."""
    return started(state.catalog)


Catalog = Annotated[Database, Depends(catalog)]
