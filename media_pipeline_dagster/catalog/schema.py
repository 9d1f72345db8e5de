"""Engines for the catalog database and idempotent application of the DDL in ``sql/``."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ..kernel.resilience import SystemicFailure
from ..kernel.sql_files import packaged_sql
from .tables import SCHEMA

DDL_FILES = (
    "0001_media_pipeline.sql",
    "0002_ingest_failures.sql",
    "0003_gateway_callbacks.sql",
    "0004_audio_files_company.sql",
)
# Columns added to existing tables, and the file that adds them: a database whose tables
# all exist still gets these (and nothing else runs against it).
ADDED_COLUMNS = {("audio_files", "company"): "0004_audio_files_company.sql"}
CONNECT_TIMEOUT_SECONDS = 10
_ADD_COLUMN = re.compile(
    r"ALTER\s+TABLE\s+(?:\w+\.)?(\w+)\s+ADD\s+COLUMN\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)",
    re.IGNORECASE,
)


class SchemaUpgradeError(SystemicFailure):
    """An additive column is missing and our role may not add it; the message gives the statement to run."""


def normalize_database_url(url: str) -> str:
    """Accept the DATABASE_URLs the old scripts used: async drivers are swapped for their sync twins."""
    parsed = make_url(url)
    driver_swaps = {
        "postgresql+asyncpg": "postgresql+psycopg2",
        "postgres": "postgresql+psycopg2",
        "postgresql": "postgresql+psycopg2",
        "sqlite+aiosqlite": "sqlite",
    }
    if parsed.drivername in driver_swaps:
        parsed = parsed.set(drivername=driver_swaps[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def mask_database_url(url: str) -> str:
    """The URL as it may appear in logs and metadata: password replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)


def create_catalog_engine(url: str, **pool_options) -> sa.Engine:
    """An engine whose connections see the catalog as schema ``media_pipeline``.

    ``pool_options`` (``pool_size``, ``max_overflow``, ``pool_timeout``)
    size a PostgreSQL engine's pool, as a long-running server needs; SQLite ignores them.

    On SQLite the catalog lives in ``<stem>.media_pipeline.sqlite`` beside the main
    database file and is attached as ``media_pipeline`` on every connection, so the
    same schema-qualified SQL runs on both backends.
    """
    url = normalize_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A catalog that does not answer fails the run in seconds, not after the OS's TCP timeout.
        connect_args = (
            {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
            if parsed.get_backend_name() == "postgresql"
            else {}
        )
        return sa.create_engine(
            url, pool_pre_ping=True, future=True, connect_args=connect_args, **pool_options
        )

    database = parsed.database or ""
    if database in ("", ":memory:"):
        raise ValueError(
            f"SQLite catalog URL {url!r} needs a file path (e.g. sqlite:///data/catalog.sqlite): "
            "the catalog is attached as a second file beside it"
        )
    main_path = Path(database)
    main_path.parent.mkdir(parents=True, exist_ok=True)
    catalog_path = main_path.with_name(f"{main_path.stem}.{SCHEMA}.sqlite")
    engine = sa.create_engine(url, future=True, connect_args={"timeout": 60})

    @sa.event.listens_for(engine, "connect")
    def _attach(dbapi_conn, _record):
        # Autocommit off in the driver, our own BEGIN: lets SQLAlchemy manage transactions.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("ATTACH DATABASE ? AS " + SCHEMA, (str(catalog_path),))
        cursor.execute(f"PRAGMA {SCHEMA}.journal_mode=WAL")
        # WAL + NORMAL: durable against crashes of the process, one fsync per checkpoint, not per commit.
        cursor.execute(f"PRAGMA {SCHEMA}.synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _folder(dialect: str) -> str:
    return "postgres" if dialect == "postgresql" else "sqlite"


def _statements_of(dialect: str, name: str) -> list[str]:
    return packaged_sql(_folder(dialect), name)


def ddl_statements(dialect: str) -> list[str]:
    return [statement for name in DDL_FILES for statement in _statements_of(dialect, name)]


CATALOG_TABLES = (
    "audio_files",
    "transcriptions",
    "transcription_failures",
    "transcription_claims",
    "ingest_failures",
    "gateway_callbacks",
)


def missing_tables(conn: sa.Connection) -> list[str]:
    present = set(sa.inspect(conn).get_table_names(schema=SCHEMA))
    return [name for name in CATALOG_TABLES if name not in present]


def missing_columns(conn: sa.Connection) -> list[tuple[str, str]]:
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names(schema=SCHEMA))
    missing = []
    for table, column in ADDED_COLUMNS:
        if table in present and column not in {
            c["name"] for c in inspector.get_columns(table, schema=SCHEMA)
        }:
            missing.append((table, column))
    return missing


def _run(conn: sa.Connection, statements: list[str]) -> None:
    """Run DDL; on SQLite, whose ALTER TABLE has no IF NOT EXISTS, skip columns already there."""
    inspector = sa.inspect(conn) if conn.dialect.name == "sqlite" else None
    for statement in statements:
        added = _ADD_COLUMN.search(statement)
        if inspector is not None and added:
            table, column = added.groups()
            if column in {c["name"] for c in inspector.get_columns(table, schema=SCHEMA)}:
                continue
        conn.exec_driver_sql(statement)


def ensure_schema(engine: sa.Engine) -> None:
    """Create whatever of the catalog is missing; never alters what exists beyond adding columns.

    A database the legacy scripts set up, where our role may lack CREATE rights, is
    left untouched when every table and column is already there. When only added columns
    are missing, only the statements that add them run; a role that may not run them
    gets SchemaUpgradeError with the file to run as the table's owner.
    """
    dialect = engine.dialect.name
    with engine.connect() as conn:
        tables, columns = missing_tables(conn), missing_columns(conn)
    if not tables and not columns:
        return
    files = DDL_FILES if tables else tuple(dict.fromkeys(ADDED_COLUMNS[c] for c in columns))
    try:
        with engine.begin() as conn:
            if dialect == "postgresql":
                # One migrator at a time when several runs start together.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('media_pipeline.ddl'))")
            _run(conn, [statement for name in files for statement in _statements_of(dialect, name)])
    except sa.exc.ProgrammingError as exc:
        if tables:
            raise
        wanted = ", ".join(f"{SCHEMA}.{t}.{c}" for t, c in columns)
        reason = str(exc.orig or exc).strip().splitlines()[0][:300]
        raise SchemaUpgradeError(
            f"the catalog lacks column(s) {wanted} and this role may not add them ({reason}); "
            f"run sql/{_folder(dialect)}/{', '.join(files)} as the table's owner, then start again"
        ) from None
