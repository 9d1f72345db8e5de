"""The one SQL-file splitter: statements cut where SQLite's tokenizer says, not at every ';'."""

from __future__ import annotations

import pytest

from media_pipeline_dagster.kernel.sql_files import packaged_sql, split_sql


def test_semicolons_inside_strings_and_comments_do_not_cut():
    script = """-- header comment; with a semicolon
CREATE TABLE t (
    -- a column comment; still one statement
    note TEXT DEFAULT 'a;b'
);

INSERT INTO t (note) VALUES ('x');
"""
    assert split_sql(script) == [
        "CREATE TABLE t (\n    -- a column comment; still one statement\n    note TEXT DEFAULT 'a;b'\n)",
        "INSERT INTO t (note) VALUES ('x')",
    ]


def test_an_unterminated_statement_is_refused_by_name():
    with pytest.raises(ValueError, match="sample.sql ends with an incomplete statement"):
        split_sql("SELECT 1;\nSELECT 2", "sample.sql")


@pytest.mark.parametrize(
    "path",
    [
        ("postgres", "0001_media_pipeline.sql"),
        ("sqlite", "0001_media_pipeline.sql"),
        ("archive", "postgres", "0001_post_media.sql"),
        ("d1", "0010_media_assets.sql"),
    ],
)
def test_every_packaged_file_splits_into_statements(path):
    statements = packaged_sql(*path)
    assert statements and all(s and not s.endswith(";") for s in statements)
    assert all(not s.lstrip().startswith("--") for s in statements)
