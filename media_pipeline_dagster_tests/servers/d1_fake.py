"""A local Cloudflare D1 REST API: the real ``cloudflare`` SDK talks to it over HTTP.

Routes under ``/client/v4`` (Cloudflare's envelope: ``success``, ``errors``, ``messages``,
``result``):

    GET  /accounts/{account}/d1/database?name=&page=&per_page=   databases whose name contains ``name``
    GET  /accounts/{account}/d1/database/{uuid}                  one database
    POST /accounts/{account}/d1/database/{uuid}/query            ``{"sql", "params"}`` or ``{"batch": [...]}``;
    POST /accounts/{account}/d1/database/{uuid}/raw              rows as arrays (``{"columns", "rows"}``)

Each database is a SQLite file. A request (one ``sql`` or a whole ``batch``) runs in one
transaction: all of it or nothing. D1's limits are enforced: at most 100 bound
parameters and 100,000 bytes of SQL per statement, ``time_limit_seconds`` (30) per
request. Faults can be injected (``inject``): 429 with Retry-After, 500, HTTP 200 with
``success: false``, or a 500 after the request committed (a lost response). Every
request is counted by kind in ``requests`` and every SQL text is kept in ``sql_seen``.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

MAX_PARAMS = 100
MAX_SQL_BYTES = 100_000
FAULTS = ("429", "500", "success_false", "500_after_commit")
_ROUTE = re.compile(
    r"^/client/v4/accounts/(?P<account>[^/]+)/d1/database(?:/(?P<db>[^/]+)(?:/(?P<op>query|raw))?)?/?$"
)


class SqlError(Exception):
    pass


@dataclass
class _Fault:
    kind: str
    times: int
    skip: int
    retry_after: float | None


def split_statements(sql: str) -> list[str]:
    """``a; b;`` -> ``["a;", "b;"]``, respecting quotes (sqlite3.complete_statement)."""
    out, buf = [], ""
    for piece in sql.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \t\r\n;"):
                out.append(buf.strip())
            buf = ""
    if buf.strip(" \t\r\n;"):
        out.append(buf.strip().rstrip(";"))
    return out


class FakeD1:
    def __init__(self, data_dir: Path, *, time_limit_seconds: float = 30.0) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.account_id = secrets.token_hex(16)
        self.api_token = "tok_" + secrets.token_urlsafe(24)
        self.time_limit_seconds = time_limit_seconds
        self.requests: Counter[str] = Counter()
        self.sql_seen: list[str] = []
        self.databases: dict[str, str] = {}  # uuid -> name
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._db_locks: dict[str, threading.Lock] = {}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self
        host, port = self._httpd.server_address[:2]
        self.base_url = f"http://{host}:{port}/client/v4"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="fake-d1", daemon=True
        )

    # --- test controls -------------------------------------------------------------
    def create_database(self, name: str) -> str:
        db_id = str(uuid.uuid4())
        with self._lock:
            self.databases[db_id] = name
            self._db_locks[db_id] = threading.Lock()
        with sqlite3.connect(self.path(db_id)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")  # a fake needs no fsync per request
        return db_id

    def path(self, db_id: str) -> Path:
        return self.data_dir / f"{db_id}.sqlite"

    def connect(self, db_id: str) -> sqlite3.Connection:
        """A direct connection, for tests to look at (or prepare) what the API serves."""
        return sqlite3.connect(self.path(db_id), isolation_level=None)

    def inject(
        self, kind: str, *, times: int = 1, skip: int = 0, retry_after: float | None = None
    ) -> None:
        """The next ``times`` query/raw requests after ``skip`` more answer with fault ``kind``."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULTS}")
        with self._lock:
            self._faults.append(_Fault(kind, times, skip, retry_after))

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()
            self.sql_seen.clear()

    @property
    def sql_requests(self) -> int:
        return self.requests["query"] + self.requests["raw"]

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.skip:
                    fault.skip -= 1
                    return None
                if fault.times:
                    fault.times -= 1
                    return fault
            return None

    # --- execution -----------------------------------------------------------------
    def execute(self, db_id: str, statements: list[tuple[str, list]], raw: bool) -> list[dict]:
        deadline = time.monotonic() + self.time_limit_seconds
        conn = sqlite3.connect(self.path(db_id), isolation_level=None, timeout=30.0)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        results = []
        try:
            with self._db_locks[db_id]:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for sql, params in statements:
                        results.append(self._one(conn, sql, params, raw))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.OperationalError as exc:
            if str(exc) == "interrupted":
                limit = f"{self.time_limit_seconds:g} s"
                raise SqlError(
                    f"D1 DB exceeded its time limit of {limit} for this request: SQLITE_INTERRUPT"
                ) from None
            raise SqlError(f"{exc}: SQLITE_ERROR") from None
        except sqlite3.Error as exc:
            raise SqlError(f"{exc}: SQLITE_ERROR") from None
        finally:
            conn.close()
        return results

    def _one(self, conn: sqlite3.Connection, sql: str, params: list, raw: bool) -> dict:
        if len(sql.encode()) > MAX_SQL_BYTES:
            raise SqlError(
                f"statement too long ({len(sql.encode())} bytes, limit {MAX_SQL_BYTES}): SQLITE_TOOBIG"
            )
        if len(params) > MAX_PARAMS:
            raise SqlError(
                f"too many SQL variables ({len(params)}, limit {MAX_PARAMS}): SQLITE_ERROR"
            )
        started = time.perf_counter()
        before = conn.total_changes
        cur = conn.execute(sql, params)
        rows = cur.fetchall()
        columns = [d[0] for d in cur.description or ()]
        changes = conn.total_changes - before
        meta = {
            "served_by": "fake-d1",
            "served_by_region": "WEUR",
            "served_by_primary": True,
            "duration": round((time.perf_counter() - started) * 1000, 3),
            "changes": changes,
            "last_row_id": cur.lastrowid or 0,
            "changed_db": changes > 0,
            "size_after": 0,
            "rows_read": len(rows),
            "rows_written": changes,
        }
        results = (
            {"columns": columns, "rows": [list(r) for r in rows]}
            if raw
            else [dict(zip(columns, r)) for r in rows]
        )
        return {"results": results, "success": True, "meta": meta}


def _envelope(result=None, errors=(), success=True, **extra) -> dict:
    return {"result": result, "success": success, "errors": list(errors), "messages": [], **extra}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server_version = "fake-d1"

    def log_message(self, *args) -> None:
        pass

    @property
    def fake(self) -> FakeD1:
        return self.server.fake

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: int, message: str, headers: dict | None = None) -> None:
        self._send(
            status, _envelope(None, [{"code": code, "message": message}], success=False), headers
        )

    def _route(self) -> re.Match | None:
        match = _ROUTE.match(urlsplit(self.path).path)
        if match is None:
            self._error(404, 7000, f"No route for that URI: {urlsplit(self.path).path}")
            return None
        if self.headers.get("Authorization") != f"Bearer {self.fake.api_token}":
            self._error(403, 10000, "Authentication error")
            return None
        if match["account"] != self.fake.account_id:
            self._error(
                403,
                7003,
                "Could not route to /accounts/..., perhaps your object identifier is invalid?",
            )
            return None
        if match["db"] and match["db"] not in self.fake.databases:
            self._error(404, 7404, f"The database {match['db']} could not be found")
            return None
        return match

    def do_GET(self) -> None:
        match = self._route()
        if match is None:
            return
        if match["op"]:
            self._error(405, 10405, "Method not allowed")
            return
        fake = self.fake
        if match["db"]:
            fake.requests["get"] += 1
            self._send(200, _envelope(self._describe(match["db"])))
            return
        fake.requests["list"] += 1
        query = parse_qs(urlsplit(self.path).query)
        name = query.get("name", [""])[0]
        page = int(query.get("page", ["1"])[0])
        per_page = int(query.get("per_page", ["100"])[0])
        found = [db for db, n in sorted(fake.databases.items(), key=lambda kv: kv[1]) if name in n]
        chunk = found[(page - 1) * per_page : page * per_page]
        info = {"page": page, "per_page": per_page, "count": len(chunk), "total_count": len(found)}
        self._send(200, _envelope([self._describe(db) for db in chunk], result_info=info))

    def _describe(self, db_id: str) -> dict:
        return {
            "uuid": db_id,
            "name": self.fake.databases[db_id],
            "version": "production",
            "created_at": datetime.now(UTC).isoformat(),
            "num_tables": 0,
            "file_size": self.fake.path(db_id).stat().st_size,
        }

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body_bytes = self.rfile.read(length)
        match = self._route()
        if match is None:
            return
        if not match["op"]:
            self._error(405, 10405, "Method not allowed")
            return
        fake = self.fake
        fake.requests[match["op"]] += 1
        try:
            statements = _statements(json.loads(body_bytes or b"{}"))
        except (ValueError, SqlError) as exc:
            self._error(400, 7400, f"Bad request: {exc}")
            return
        with fake._lock:
            fake.sql_seen.extend(sql for sql, _ in statements)
        fault = fake._next_fault()
        if fault and fault.kind == "429":
            headers = (
                {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            )
            self._error(429, 971, "Please wait and consider throttling your request speed", headers)
            return
        if fault and fault.kind == "500":
            self._error(500, 7500, "Internal error (injected)")
            return
        if fault and fault.kind == "success_false":
            self._send(
                200,
                _envelope(
                    [], [{"code": 7500, "message": "D1_ERROR: injected failure"}], success=False
                ),
            )
            return
        try:
            results = fake.execute(match["db"], statements, raw=match["op"] == "raw")
        except SqlError as exc:
            self._error(400, 7500, f"D1_ERROR: {exc}")
            return
        if fault and fault.kind == "500_after_commit":
            self._error(500, 7500, "Internal error after commit (injected)")
            return
        self._send(200, _envelope(results))


def _statements(body: dict) -> list[tuple[str, list]]:
    """(sql, params) pairs of a request body: one ``sql`` (maybe several statements) or a ``batch``."""
    items = body.get("batch") if "batch" in body else [body]
    if not isinstance(items, list) or not items:
        raise ValueError("expected 'sql' or a non-empty 'batch'")
    out: list[tuple[str, list]] = []
    for item in items:
        sql, params = item.get("sql"), item.get("params") or []
        if not isinstance(sql, str) or not isinstance(params, list):
            raise ValueError("each query needs 'sql' (string) and optional 'params' (array)")
        parts = split_statements(sql)
        if len(parts) > 1 and params:
            raise SqlError(
                "several statements in one 'sql' cannot share 'params' in this fake; use 'batch'"
            )
        out.extend((part, params) for part in parts)
    return out


@contextmanager
def fake_d1_server(data_dir: Path, **kwargs) -> Iterator[FakeD1]:
    server = FakeD1(data_dir, **kwargs)
    server._thread.start()
    try:
        yield server
    finally:
        server._httpd.shutdown()
        server._httpd.server_close()
