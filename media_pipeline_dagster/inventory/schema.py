"""``media_assets`` in D1: the seed's DDL (sql/d1/0010) applied when the table is missing, and
the optional, additive ``last_seen_at`` column (sql/d1/0011) when tracking is switched on.

The files stay exactly as the seed wrote them (plain CREATE TABLE), so idempotence comes
from looking first: one PRAGMA, then only what is missing, in one atomic request.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from importlib import resources

from ..resources.d1 import D1Connection, D1Error, Statement
from .statements import TABLE

CREATE_TABLE = "0010_media_assets.sql"
ADD_LAST_SEEN = "0011_media_assets_last_seen_at.sql"
LAST_SEEN = "last_seen_at"


def sql_file_statements(name: str) -> list[Statement]:
    text = (resources.files("media_pipeline_dagster") / "sql" / "d1" / name).read_text(encoding="utf-8")
    out, buf = [], ""
    for line in text.splitlines(keepends=True):
        if not buf and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(Statement(buf.strip()))
            buf = ""
    if buf.strip():
        raise ValueError(f"sql/d1/{name} ends with an incomplete statement: {buf.strip()[:80]!r}")
    return out


@dataclass
class SchemaState:
    columns: set[str]
    applied: list[str] = field(default_factory=list)  # file names, applied (or, dry run, to apply)
    statements: list[Statement] = field(default_factory=list)

    @property
    def table_exists(self) -> bool:
        return bool(self.columns)

    @property
    def has_last_seen(self) -> bool:
        return LAST_SEEN in self.columns


def table_columns(db: D1Connection) -> set[str]:
    (result,) = db.run([Statement(f"PRAGMA table_info({TABLE})")])
    name = result.columns.index("name") if "name" in result.columns else 1
    return {row[name] for row in result.rows}


def ensure_schema(db: D1Connection, *, track_last_seen: bool, dry_run: bool) -> SchemaState:
    state = SchemaState(table_columns(db))
    if not state.table_exists:
        state.applied.append(CREATE_TABLE)
    if track_last_seen and not state.has_last_seen:
        state.applied.append(ADD_LAST_SEEN)
    state.statements = [s for name in state.applied for s in sql_file_statements(name)]
    if dry_run or not state.statements:
        return state
    try:
        db.run(state.statements)
    except D1Error as exc:
        # A concurrent run (or a retried request whose answer was lost) got there first.
        if "already exists" not in str(exc) and "duplicate column" not in str(exc):
            raise
    state.columns = table_columns(db)
    if not state.table_exists or (track_last_seen and not state.has_last_seen):
        applied = ", ".join(state.applied)
        raise D1Error(f"{TABLE} is still missing or incomplete after applying {applied}: {sorted(state.columns)}")
    return state
