"""The SQL files shipped in the package (``media_pipeline_dagster/sql/``), split into statements.

One splitter for the catalog, the archive and D1: a statement ends where SQLite's own
tokenizer (``sqlite3.complete_statement``) says it is complete, so a ``;`` inside a string or a
comment never cuts one short. The files hold no procedural bodies (no ``$$`` blocks), which is
what makes SQLite's tokenizer right for the PostgreSQL files too.
"""

from __future__ import annotations

import sqlite3
from importlib import resources


def split_sql(text: str, name: str = "the script") -> list[str]:
    """The statements of ``text``, each stripped and without its final ``;``; comments and blank
    lines before a statement are dropped. An unterminated last statement is an error."""
    out, buf = [], ""
    for line in text.splitlines(keepends=True):
        if not buf and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip().removesuffix(";").rstrip())
            buf = ""
    if buf.strip():
        raise ValueError(f"{name} ends with an incomplete statement: {buf.strip()[:80]!r}")
    return out


def packaged_sql(*path: str) -> list[str]:
    """The statements of ``media_pipeline_dagster/sql/<path>``, e.g. ``packaged_sql("d1", name)``."""
    text = (
        resources.files("media_pipeline_dagster").joinpath("sql", *path).read_text(encoding="utf-8")
    )
    return split_sql(text, "sql/" + "/".join(path))
