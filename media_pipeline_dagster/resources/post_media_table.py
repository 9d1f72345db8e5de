"""The post_media database: engines for PostgreSQL and SQLite, and the table's presence."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ..catalog.schema import mask_database_url, normalize_database_url
from ..kernel.sql_files import packaged_sql

TABLE = "post_media"
DDL_FILE = "0001_post_media.sql"
# What the archive reads or writes; the table's other columns are left alone.
REQUIRED_COLUMNS = (
    "media_id",
    "media_type",
    "local_file_path",
    "md5_sum",
    "mime_type",
    "archive_url",
    "created_at",
)


class PostMediaTableError(RuntimeError):
    """post_media is missing or lacks a column the archive needs; the message says what to do."""


def create_post_media_engine(url: str) -> sa.Engine:
    url = normalize_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise ValueError(
                f"SQLite post_media URL {url!r} needs a file path, e.g. sqlite:///data/post_media.sqlite"
            )
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        return sa.create_engine(url, future=True, connect_args={"timeout": 60})
    # Naive timestamps and month boundaries are UTC whatever the server's TimeZone says.
    return sa.create_engine(
        url, future=True, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"}
    )


def ddl_statements(dialect: str) -> list[str]:
    folder = "postgres" if dialect == "postgresql" else "sqlite"
    return packaged_sql("archive", folder, DDL_FILE)


def ensure_post_media(engine: sa.Engine, *, create: bool) -> None:
    """Check post_media is there with the columns we use; create it when allowed (local profile)."""
    with engine.connect() as conn:
        present = sa.inspect(conn).has_table(TABLE)
    where = mask_database_url(engine.url.render_as_string(hide_password=False))
    if not present:
        if not create:
            raise PostMediaTableError(
                f"table {TABLE} not found in {where}: point ARCHIVE_DATABASE_URL at the social-tui database "
                f"(or create the table with sql/archive/postgres/{DDL_FILE})"
            )
        with engine.begin() as conn:
            for statement in ddl_statements(engine.dialect.name):
                conn.exec_driver_sql(statement)
        return
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns(TABLE)}
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise PostMediaTableError(
            f"{TABLE} in {where} lacks column(s) {', '.join(missing)}; the archive needs the post_media schema "
            f"(sql/archive/postgres/{DDL_FILE}), e.g. ALTER TABLE {TABLE} ADD COLUMN archive_url TEXT"
        )
