"""Cloudflare D1: its REST API in production, a SQLite file in the local profile and the demo.
The local file can be the one ``wrangler d1 execute --local`` reads (see ``wrangler.py``).

Both backends run a list of statements as ONE request that is atomic (D1 executes a
batch as one transaction; the local file wraps it in BEGIN IMMEDIATE ... COMMIT), and
both refuse a statement over D1's limits before anything is sent, so what passes locally
passes in production. Values always travel as bound parameters.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import tenacity
from pydantic import Field

from ..kernel.resilience import (
    Kind,
    api_kind,
    backoff_wait,
    retry_after_seconds,
    stop_when_retry_after_exceeds,
)
from .wrangler import WRANGLER_D1_FOLDER, wrangler_local_file

MAX_PARAMS_PER_STATEMENT = 100
MAX_STATEMENT_BYTES = 100_000
REQUEST_TIME_LIMIT_SECONDS = 30.0
DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"


class D1Error(RuntimeError):
    """D1 refused or failed a request; the message says which and what to do."""


class D1ConfigurationError(D1Error):
    """No usable token, account or database: nothing was sent."""


class _Transient(Exception):
    """One failed attempt worth repeating (429, 409, 5xx, no answer); ``retry_after`` if asked."""

    def __init__(self, reason: str, retry_after: float | None):
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple[Any, ...] = ()
    kind: str = field(
        default="", compare=False
    )  # the caller's label, to count effects by kind; never sent

    @property
    def wire_bytes(self) -> int:
        return len(self.sql.encode()) + len(json.dumps(self.params, ensure_ascii=False).encode())


@dataclass(frozen=True)
class StatementResult:
    columns: tuple[str, ...]
    rows: list[tuple]
    changes: int


def _short(sql: str, limit: int = 120) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def check_limits(statement: Statement) -> None:
    if len(statement.params) > MAX_PARAMS_PER_STATEMENT:
        raise D1Error(
            f"statement binds {len(statement.params)} parameters, D1 allows {MAX_PARAMS_PER_STATEMENT}: {_short(statement.sql)}"
        )
    size = len(statement.sql.encode())
    if size > MAX_STATEMENT_BYTES:
        raise D1Error(
            f"statement is {size:,} bytes, D1 allows {MAX_STATEMENT_BYTES:,}: {_short(statement.sql)}"
        )


def pack_requests(
    statements: Sequence[Statement], *, max_statements: int, max_bytes: int
) -> list[list[Statement]]:
    """Consecutive statements grouped into requests of at most ``max_statements`` and ``max_bytes``."""
    requests: list[list[Statement]] = []
    current: list[Statement] = []
    size = 0
    for statement in statements:
        cost = statement.wire_bytes
        if current and (len(current) >= max_statements or size + cost > max_bytes):
            requests.append(current)
            current, size = [], 0
        current.append(statement)
        size += cost
    if current:
        requests.append(current)
    return requests


class D1Connection:
    """One open database for one run; ``requests`` counts what was sent (retries included)."""

    label: str = "d1"

    def __init__(self) -> None:
        self.requests = 0

    def run(self, statements: Sequence[Statement]) -> list[StatementResult]:
        """Run ``statements`` as one atomic request: all of their effects or none."""
        statements = list(statements)
        for statement in statements:
            check_limits(statement)
        return self._run(statements) if statements else []

    def _run(
        self, statements: list[Statement]
    ) -> list[StatementResult]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> D1Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalD1Connection(D1Connection):
    def __init__(self, path: Path, time_limit_seconds: float = REQUEST_TIME_LIMIT_SECONDS) -> None:
        super().__init__()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.label = path.resolve().as_uri()
        self._time_limit = time_limit_seconds
        self._conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)

    def _run(self, statements: list[Statement]) -> list[StatementResult]:
        self.requests += 1
        deadline = time.monotonic() + self._time_limit
        # Like D1, a request that runs past its time limit is stopped and rolled back.
        self._conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        cur = self._conn.cursor()
        results: list[StatementResult] = []
        current = statements[0]
        try:
            cur.execute("BEGIN IMMEDIATE")
            for current in statements:
                before = self._conn.total_changes
                cur.execute(current.sql, current.params)
                columns = tuple(d[0] for d in cur.description or ())
                results.append(
                    StatementResult(
                        columns,
                        [tuple(r) for r in cur.fetchall()],
                        self._conn.total_changes - before,
                    )
                )
            cur.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                cur.execute("ROLLBACK")
            raise D1Error(
                f"local D1 {self.label} failed: {exc} (statement: {_short(current.sql)}); nothing of this request was written"
            ) from exc
        finally:
            self._conn.set_progress_handler(None, 0)
        return results

    def close(self) -> None:
        self._conn.close()


def _errors_text(body: object) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return str(body)[:300] if body else "no error details"
    return "; ".join(
        f"{e.get('code', '?')}: {e.get('message', e)}" if isinstance(e, dict) else str(e)
        for e in errors
    )


class CloudflareD1Connection(D1Connection):
    """The D1 REST API through the official ``cloudflare`` SDK (its ``batch`` form, /raw rows)."""

    def __init__(self, resource: CloudflareD1Resource) -> None:
        import cloudflare

        super().__init__()
        if not (resource.api_token or "").strip():
            raise D1ConfigurationError(
                "CLOUDFLARE_API_TOKEN is empty: set it to an API token with D1 Edit permission."
            )
        if not (resource.account_id or "").strip():
            raise D1ConfigurationError(
                "CLOUDFLARE_ACCOUNT_ID is empty: set it to the account that owns the D1 database."
            )
        self._resource = resource
        self._sdk = cloudflare
        http_client = cloudflare.DefaultHttpxClient(event_hooks={"request": [self._count]})
        self._client = cloudflare.Cloudflare(
            api_token=resource.api_token,
            base_url=resource.base_url,
            max_retries=0,
            timeout=resource.timeout_seconds,
            http_client=http_client,
        )
        # The SDK would prefer CLOUDFLARE_EMAIL/CLOUDFLARE_API_KEY from the environment to our token.
        self._client.api_key = self._client.api_email = self._client.user_service_key = None
        try:
            self.database_id = resource.database_id or self._resolve(resource.database_name)
        except BaseException:
            self._client.close()
            raise
        self.label = (
            f"d1://{resource.database_name if not resource.database_id else resource.database_id}"
        )

    def _count(self, request: Any) -> None:
        self.requests += 1

    def _resolve(self, name: str) -> str:
        seen: list[str] = []
        page = 1
        while True:

            def list_page(page: int = page) -> Any:
                return self._client.d1.database.with_raw_response.list(
                    account_id=self._resource.account_id, name=name, page=page, per_page=100
                )

            envelope = self._call(f"list D1 databases named {name!r}", list_page)
            found = envelope.get("result") or []
            for db in found:
                if db.get("name") == name and db.get("uuid"):
                    return db["uuid"]
                seen.append(str(db.get("name")))
            if len(found) < 100:
                break
            page += 1
        raise D1ConfigurationError(
            f"D1 database {name!r} not found in Cloudflare account {self._resource.account_id} "
            f"(similar names: {', '.join(seen) or 'none'}). Create it (wrangler d1 create {name}) "
            "or set D1_DATABASE_NAME / D1_DATABASE_ID to an existing one."
        )

    def _run(self, statements: list[Statement]) -> list[StatementResult]:
        batch = [{"sql": s.sql, "params": [_wire(p) for p in s.params]} for s in statements]
        # The batch goes in extra_body: it is plain JSON already, and the SDK's per-value type
        # transform would cost ~0.1 s of CPU per 1,000 rows. Same method, URL and body.
        envelope = self._call(
            f"a request of {len(statements)} statement(s) starting {_short(statements[0].sql, 60)!r}",
            lambda: self._client.d1.database.with_raw_response.raw(
                self.database_id,
                account_id=self._resource.account_id,
                batch=[],
                extra_body={"batch": batch},
            ),
        )
        results = envelope.get("result") or []
        if len(results) != len(statements) or any(r.get("success") is False for r in results):
            raise D1Error(
                f"D1 answered {len(results)} result(s) for {len(statements)} statement(s): {str(results)[:300]}"
            )
        out = []
        for r in results:
            data = r.get("results") or {}
            rows = [tuple(row) for row in data.get("rows") or ()]
            out.append(
                StatementResult(
                    tuple(data.get("columns") or ()),
                    rows,
                    int((r.get("meta") or {}).get("changes") or 0),
                )
            )
        return out

    def _call(self, what: str, send: Callable[[], Any]) -> dict:
        """One API call with D1's error envelope checked and transient failures retried."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self._resource.max_retries + 1)
            | stop_when_retry_after_exceeds(self._resource.max_retry_after_seconds),
            wait=backoff_wait(
                self._resource.backoff_base_seconds,
                self._resource.backoff_max_seconds,
                retry_after_cap=self._resource.max_retry_after_seconds,
            ),
            retry=tenacity.retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            envelope = retrying(self._send_once, what, send)
        except _Transient as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise D1Error(
                f"D1 failed {what} after {attempts} attempt(s) ({exc}). D1 rolls a failed request back as a "
                "whole; earlier requests stay committed and a re-run continues from there."
            ) from None
        if not isinstance(envelope, dict) or envelope.get("success") is not True:
            # The SDK turns HTTP 200 + success:false into an empty page; it is a failure.
            raise D1Error(
                f"D1 answered success=false to {what} ({_errors_text(envelope)}); nothing of that request was written."
            )
        return envelope

    def _send_once(self, what: str, send: Callable[[], Any]) -> Any:
        sdk = self._sdk
        try:
            return send().json()
        except (sdk.APIStatusError, sdk.APIConnectionError) as exc:
            status = getattr(exc, "status_code", None)
            kind = api_kind(status)
            if kind is Kind.SYSTEMIC:
                raise D1ConfigurationError(
                    f"Cloudflare rejected the API token (HTTP {status}: {_errors_text(exc.body)}) while trying to "
                    f"{what}: check CLOUDFLARE_API_TOKEN has D1 Edit permission on account {self._resource.account_id}."
                ) from None
            if kind is Kind.PERMANENT:
                raise D1Error(
                    f"D1 refused {what} (HTTP {status}: {_errors_text(exc.body)})"
                ) from None
            response = getattr(exc, "response", None)
            raise _Transient(
                f"HTTP {status}: {_errors_text(getattr(exc, 'body', None))}"
                if status
                else str(exc),
                retry_after_seconds(response.headers) if response is not None else None,
            ) from None

    def close(self) -> None:
        self._client.close()


def _wire(value: Any) -> Any:
    # The API types params as strings; SQLite's column affinity turns '123' back into 123.
    return value if value is None or isinstance(value, str) else str(value)


class D1Resource(dg.ConfigurableResource):
    """What the pipelines need from D1; the profile picks the backend."""

    max_statements_per_request: int = Field(
        default=50, ge=1, description="Statements sent together in one atomic request."
    )
    max_request_bytes: int = Field(
        default=1_000_000, ge=10_000, description="SQL + parameters per request, in bytes."
    )

    def connect(self) -> D1Connection:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def explain(self) -> str:
        """One sentence for people: where the rows are and how to look at them."""
        return self.describe()


class LocalD1Resource(D1Resource):
    """A SQLite file standing in for D1: a file of its own, or wrangler's local copy of a database."""

    path: str
    wrangler_database_id: str | None = Field(
        default=None,
        description="Set when ``path`` is wrangler's local file for this database id (for messages).",
    )

    @classmethod
    def for_wrangler(
        cls, state_dir: str | Path, database_id: str, **fields: Any
    ) -> LocalD1Resource:
        """Wrangler's local copy of ``database_id`` under ``state_dir`` (``.wrangler/state`` or ``--persist-to``)."""
        return cls(
            path=str(wrangler_local_file(Path(state_dir), database_id)),
            wrangler_database_id=database_id,
            **fields,
        )

    def connect(self) -> LocalD1Connection:
        return LocalD1Connection(Path(self.path))

    def describe(self) -> str:
        return Path(self.path).resolve().as_uri()

    def explain(self) -> str:
        path = Path(self.path).resolve()
        if self.wrangler_database_id:
            state = path.parents[len(WRANGLER_D1_FOLDER)]
            return (
                f"wrangler's local D1 for database_id {self.wrangler_database_id}: {path} "
                f"(wrangler d1 execute <database> --local --persist-to {state} reads the same file)"
            )
        return f"a plain SQLite file, {path} (open it with sqlite3; wrangler --local keeps its own file elsewhere)"


class CloudflareD1Resource(D1Resource):
    """A D1 database through Cloudflare's REST API, found by name (or given by id)."""

    api_token: str = Field(description="CLOUDFLARE_API_TOKEN: a token with D1 Edit permission.")
    account_id: str = Field(description="CLOUDFLARE_ACCOUNT_ID.")
    database_name: str = Field(
        default="lgfc_lite",
        description="D1_DATABASE_NAME, resolved to its id at the start of a run.",
    )
    database_id: str | None = Field(
        default=None, description="D1_DATABASE_ID: skips the lookup by name."
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL, description="API root (a local server in tests)."
    )
    timeout_seconds: float = Field(
        default=60.0, description="HTTP timeout; D1 itself stops a request after 30 s."
    )
    max_retries: int = Field(
        default=5, ge=0, description="Retries of 429, 5xx and network errors per request."
    )
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 30.0
    max_retry_after_seconds: float = Field(
        default=300.0, description="Longest Retry-After honoured before giving up."
    )

    def connect(self) -> CloudflareD1Connection:
        return CloudflareD1Connection(self)

    def describe(self) -> str:
        return f"d1://{self.account_id}/{self.database_id or self.database_name}"

    def explain(self) -> str:
        return f"Cloudflare D1 database {self.database_id or self.database_name!r} (REST API, account {self.account_id})"
