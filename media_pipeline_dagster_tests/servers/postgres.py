"""A real PostgreSQL for tests: find the server, hand out throwaway databases."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url

ENV_URL = "MEDIA_PIPELINE_TEST_PG_URL"
DEFAULT_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432"


def _libpq_dsn(url: str, database: str) -> str:
    # libpq understands "postgresql://" URIs but not SQLAlchemy's "+driver" suffix.
    u = make_url(url).set(drivername="postgresql", database=database)
    return u.render_as_string(hide_password=False)


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_server() -> str:
    """Return a base SQLAlchemy URL (no database) of a reachable PostgreSQL."""
    url = os.environ.get(ENV_URL) or DEFAULT_URL
    u = make_url(url)
    host, port = u.host or "127.0.0.1", u.port or 5432
    hint = (
        f"No PostgreSQL answers on {host}:{port}. Run scripts/ensure_postgres.sh "
        f"(installs/starts a local one with trust auth) or set {ENV_URL} to a base "
        "URL such as postgresql+psycopg2://user:pass@host:5432."
    )
    if not _port_open(host, port):
        raise RuntimeError(hint)
    try:
        # The port being open is not enough: auth or pg_hba may still refuse us.
        conn = psycopg2.connect(_libpq_dsn(url, "postgres"), connect_timeout=5)
        conn.close()
    except psycopg2.Error as exc:
        raise RuntimeError(
            f"PostgreSQL on {host}:{port} answers but refused {u.username!r}: {str(exc).strip()}\n"
            "scripts/ensure_postgres.sh sets up trust auth for 127.0.0.1; otherwise "
            f"put credentials into {ENV_URL}."
        ) from exc
    return url


def _admin_connection(base_url: str):
    conn = psycopg2.connect(_libpq_dsn(base_url, "postgres"), connect_timeout=5)
    conn.autocommit = True  # CREATE/DROP DATABASE refuse to run in a transaction
    return conn


@contextmanager
def temporary_database(base_url: str) -> Iterator[str]:
    """Create a uniquely named database, yield its full URL, drop it afterwards."""
    name = f"mpd_test_{os.getpid()}_{secrets.token_hex(4)}"
    conn = _admin_connection(base_url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(base_url, name)


def _drop_database(base_url: str, name: str) -> None:
    conn = _admin_connection(base_url)
    try:
        with conn.cursor() as cur:
            # Pools left open by the code under test would otherwise block the drop.
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            force = sql.SQL(" WITH (FORCE)") if conn.server_version >= 130000 else sql.SQL("")
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)) + force)
    finally:
        conn.close()
