"""``media_assets`` in D1: the migrations in sql/d1/ applied when needed, and recorded the way
``wrangler d1 migrations apply`` records them, so either tool may come first.

The files stay plain DDL, as wrangler applies them (CREATE TABLE, ALTER TABLE ... ADD
COLUMN): idempotence comes from looking first (one request: the table's columns and the
names in ``d1_migrations``), then only what is missing, in one atomic request:

* 0010 (the old ingest script's table) always; 0011 (``last_seen_at``) with ``track_last_seen``;
  0012 (content type and user metadata) with ``enrich_metadata``.
* A migration whose effect is already there (a table created by the old ingest script or by
  an earlier version of this project) is recorded without being applied, so a later
  ``wrangler d1 migrations apply`` skips it instead of failing with "already exists".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..kernel.sql_files import packaged_sql
from ..resources.d1 import D1Connection, D1Error, Statement
from .statements import ENRICH_COLUMNS, LAST_SEEN, TABLE

CREATE_TABLE = "0010_media_assets.sql"
ADD_LAST_SEEN = "0011_media_assets_last_seen_at.sql"
ADD_OBJECT_METADATA = "0012_media_assets_object_metadata.sql"
MIGRATIONS_TABLE = "d1_migrations"  # wrangler's default `migrations_table`
# wrangler 4's own DDL for it (src/d1/migrations/helpers.ts, initMigrationsTable): same columns,
# same types, so whichever side creates it, the other reads and writes it unchanged.
CREATE_MIGRATIONS_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE}(\n"
    "\t\tid         INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "\t\tname       TEXT UNIQUE,\n"
    "\t\tapplied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL\n)"
)
RECORD_MIGRATION = f"INSERT OR IGNORE INTO {MIGRATIONS_TABLE} (name) VALUES (?)"


@dataclass(frozen=True)
class Migration:
    name: str
    present: Callable[[set[str]], bool]  # is its effect in the table, given the columns?


MIGRATIONS = (
    Migration(CREATE_TABLE, lambda columns: bool(columns)),
    Migration(ADD_LAST_SEEN, lambda columns: LAST_SEEN in columns),
    Migration(ADD_OBJECT_METADATA, lambda columns: set(ENRICH_COLUMNS) <= columns),
)


def sql_file_statements(name: str) -> list[Statement]:
    return [Statement(sql) for sql in packaged_sql("d1", name)]


@dataclass
class SchemaState:
    columns: set[str]
    recorded: set[str] = field(default_factory=set)  # names in d1_migrations
    applied: list[str] = field(default_factory=list)  # migrations applied (dry run: to apply)
    newly_recorded: list[str] = field(
        default_factory=list
    )  # recorded without applying: their effect was there
    statements: list[Statement] = field(default_factory=list)

    @property
    def table_exists(self) -> bool:
        return bool(self.columns)

    @property
    def has_last_seen(self) -> bool:
        return LAST_SEEN in self.columns

    @property
    def has_object_metadata(self) -> bool:
        return set(ENRICH_COLUMNS) <= self.columns


def table_info(table: str) -> Statement:
    return Statement(f"PRAGMA table_info({table})")


def _names(result, column: str) -> set[str]:
    index = result.columns.index(column) if column in result.columns else 1
    return {row[index] for row in result.rows}


def table_columns(db: D1Connection) -> set[str]:
    (result,) = db.run([table_info(TABLE)])
    return _names(result, "name")


def read_state(db: D1Connection, *, dry_run: bool) -> SchemaState:
    """The table's columns and the recorded migrations, in one request (two without writing)."""
    if dry_run:
        table, migrations = db.run([table_info(TABLE), table_info(MIGRATIONS_TABLE)])
        recorded = set()
        if migrations.rows:
            (names,) = db.run([Statement(f"SELECT name FROM {MIGRATIONS_TABLE}")])
            recorded = _names(names, "name")
        return SchemaState(_names(table, "name"), recorded)
    table, _, names = db.run(
        [
            table_info(TABLE),
            Statement(CREATE_MIGRATIONS_TABLE),
            Statement(f"SELECT name FROM {MIGRATIONS_TABLE}"),
        ]
    )
    return SchemaState(_names(table, "name"), _names(names, "name"))


_ADD_COLUMN = re.compile(rf"^ALTER\s+TABLE\s+{TABLE}\s+ADD\s+COLUMN\s+(\w+)", re.IGNORECASE)


def missing_statements(name: str, columns: set[str]) -> list[Statement]:
    """The file's statements, less the ADD COLUMNs whose column is there (added by hand, say)."""
    out = []
    for statement in sql_file_statements(name):
        added = _ADD_COLUMN.match(statement.sql)
        if not (added and added.group(1) in columns):
            out.append(statement)
    return out


def plan(state: SchemaState, wanted: set[str]) -> None:
    state.applied = [
        m.name for m in MIGRATIONS if m.name in wanted and not m.present(state.columns)
    ]
    state.newly_recorded = [
        m.name for m in MIGRATIONS if m.present(state.columns) and m.name not in state.recorded
    ]
    state.statements = [
        s for name in state.applied for s in missing_statements(name, state.columns)
    ]
    state.statements += [
        Statement(RECORD_MIGRATION, (name,)) for name in state.applied + state.newly_recorded
    ]


def ensure_schema(
    db: D1Connection, *, track_last_seen: bool, dry_run: bool, enrich_metadata: bool = False
) -> SchemaState:
    wanted = (
        {CREATE_TABLE}
        | ({ADD_LAST_SEEN} if track_last_seen else set())
        | ({ADD_OBJECT_METADATA} if enrich_metadata else set())
    )
    for attempt in (1, 2):
        state = read_state(db, dry_run=dry_run)
        plan(state, wanted)
        if dry_run or not state.statements:
            return state
        try:
            *_, after = db.run([*state.statements, table_info(TABLE)])
            break
        except D1Error as exc:
            # A concurrent run (or a retried request whose answer was lost) got there first; the
            # request was rolled back as a whole: look again, record what is now there.
            if attempt == 2 or (
                "already exists" not in str(exc) and "duplicate column" not in str(exc)
            ):
                raise
    state.columns = _names(after, "name")
    missing = [m.name for m in MIGRATIONS if m.name in wanted and not m.present(state.columns)]
    if missing:
        raise D1Error(
            f"{TABLE} is still missing or incomplete after applying {', '.join(missing)}: {sorted(state.columns)}"
        )
    return state
