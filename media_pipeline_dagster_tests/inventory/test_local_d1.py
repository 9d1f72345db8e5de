"""The local profile's D1: which file it is (a file of its own, or wrangler's), and the
migrations recorded in wrangler's ``d1_migrations`` on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from media_pipeline_dagster.inventory.schema import (
    ADD_LAST_SEEN,
    ADD_OBJECT_METADATA,
    CREATE_TABLE,
    ensure_schema,
)
from media_pipeline_dagster.resources.d1 import LocalD1Resource
from media_pipeline_dagster.resources.wrangler import wrangler_local_file, wrangler_object_id
from media_pipeline_dagster.settings import ConfigurationError, load_profile

from .test_sync import SEED_TABLE

# wrangler 4.86's own d1_migrations, read back from a database it created (PRAGMA table_info:
# cid, name, type, notnull, dflt_value, pk).
WRANGLER_MIGRATIONS_TABLE = [
    (0, "id", "INTEGER", 0, None, 1),
    (1, "name", "TEXT", 0, None, 0),
    (2, "applied_at", "TIMESTAMP", 1, "CURRENT_TIMESTAMP", 0),
]


def test_wrangler_file_name_is_derived_from_the_database_id():
    # Measured: `wrangler d1 migrations apply --local` with database_id 00000000-0000-0000-0000-000000000001
    # wrote .wrangler/state/v3/d1/miniflare-D1DatabaseObject/a36f84ea...6006.sqlite.
    assert wrangler_object_id("00000000-0000-0000-0000-000000000001") == (
        "a36f84ea60804f30bb0c7f7cad9f5336a6cca0165abdab8b9241d93dbf0b6006"
    )
    assert wrangler_local_file(
        Path("/p/.wrangler/state"), "11111111-2222-3333-4444-555555555555"
    ) == Path(
        "/p/.wrangler/state/v3/d1/miniflare-D1DatabaseObject/"
        "f023adf8de81e80d62670e09f086149af129cccda34c51f26517069258c53e8c.sqlite"
    )


def test_the_local_d1_setting(tmp_path):
    data = {"MEDIA_PIPELINE_DATA_DIR": str(tmp_path / "data")}
    default = load_profile(data).resources["d1"]
    assert default.path == str(tmp_path / "data" / "d1" / "lgfc_lite.sqlite")
    assert (
        "a plain SQLite file" in default.explain()
        and "wrangler --local keeps its own file" in default.explain()
    )

    chosen = load_profile({**data, "D1_LOCAL_FILE": str(tmp_path / "mine.sqlite")}).resources["d1"]
    assert chosen.path == str(tmp_path / "mine.sqlite")

    state = tmp_path / "site" / ".wrangler" / "state"
    wrangler = load_profile(
        {
            **data,
            "D1_LOCAL_WRANGLER_STATE": str(state),
            "D1_DATABASE_ID": "00000000-0000-0000-0000-000000000001",
        }
    ).resources["d1"]
    assert wrangler.path == str(
        state
        / "v3/d1/miniflare-D1DatabaseObject"
        / "a36f84ea60804f30bb0c7f7cad9f5336a6cca0165abdab8b9241d93dbf0b6006.sqlite"
    )
    assert (
        f"--persist-to {state}" in wrangler.explain()
        and "00000000-0000-0000-0000-000000000001" in wrangler.explain()
    )


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"D1_LOCAL_WRANGLER_STATE": ".wrangler/state"}, "D1_DATABASE_ID is not"),
        ({"D1_LOCAL_WRANGLER_STATE": ".wrangler/state", "D1_LOCAL_FILE": "x.sqlite"}, "keep one"),
        # The undocumented trick of old: a path smuggled in through the database name.
        (
            {"D1_DATABASE_NAME": "../../.wrangler/state/v3/d1/miniflare-D1DatabaseObject/abc"},
            "D1_LOCAL_FILE",
        ),
        ({"D1_TRACK_LAST_SEEN": "ture"}, "D1_TRACK_LAST_SEEN='ture' is not a switch"),
        ({"D1_STALE_AFTER_DAYS": "0"}, "D1_STALE_AFTER_DAYS='0'"),
        ({"D1_ENRICH_CONCURRENCY": "500"}, "above 64"),
    ],
)
def test_bad_local_d1_settings_are_refused_by_name(env, says, tmp_path):
    with pytest.raises(ConfigurationError, match=says):
        load_profile({"MEDIA_PIPELINE_DATA_DIR": str(tmp_path), **env})


def test_inventory_options_follow_the_environment(tmp_path):
    options = load_profile(
        {
            "MEDIA_PIPELINE_DATA_DIR": str(tmp_path),
            "D1_TRACK_LAST_SEEN": "true",
            "D1_ENRICH_METADATA": "1",
            "D1_ENRICH_MAX_OBJECTS": "500",
            "D1_STALE_AFTER_DAYS": "14",
        }
    ).resources["inventory_options"]
    assert (
        options.track_last_seen,
        options.enrich_metadata,
        options.enrich_max_objects,
        options.stale_after_days,
    ) == (True, True, 500, 14)
    assert (
        not load_profile({"MEDIA_PIPELINE_DATA_DIR": str(tmp_path)})
        .resources["inventory_options"]
        .enrich_metadata
    )


def recorded(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM d1_migrations ORDER BY id")]


def test_migrations_are_recorded_as_wrangler_does(any_d1, d1_sqlite):
    with any_d1.connect() as db:
        state = ensure_schema(db, track_last_seen=True, dry_run=False)
    assert state.applied == [CREATE_TABLE, ADD_LAST_SEEN]
    assert (
        d1_sqlite.execute("PRAGMA table_info(d1_migrations)").fetchall()
        == WRANGLER_MIGRATIONS_TABLE
    )
    assert recorded(d1_sqlite) == [CREATE_TABLE, ADD_LAST_SEEN]
    applied_at = d1_sqlite.execute("SELECT applied_at FROM d1_migrations").fetchone()[0]
    assert (
        len(applied_at) == 19 and applied_at[10] == " "
    )  # CURRENT_TIMESTAMP: 'YYYY-MM-DD HH:MM:SS' UTC

    with any_d1.connect() as db:  # again: nothing applied, nothing recorded twice
        again = ensure_schema(db, track_last_seen=True, dry_run=False)
    assert again.applied == again.newly_recorded == [] and recorded(d1_sqlite) == [
        CREATE_TABLE,
        ADD_LAST_SEEN,
    ]


def test_a_table_made_before_is_recorded_not_applied(any_d1, d1_sqlite):
    # The seed's script or an earlier version of this project created the table and recorded nothing:
    # `wrangler d1 migrations apply` would then fail with "table media_assets already exists".
    d1_sqlite.execute(SEED_TABLE)
    d1_sqlite.execute(
        "ALTER TABLE media_assets ADD COLUMN content_type TEXT"
    )  # one column added by hand
    with any_d1.connect() as db:
        state = ensure_schema(db, track_last_seen=False, enrich_metadata=True, dry_run=False)
    assert state.applied == [ADD_OBJECT_METADATA] and state.newly_recorded == [CREATE_TABLE]
    assert recorded(d1_sqlite) == [ADD_OBJECT_METADATA, CREATE_TABLE]
    columns = {r[1] for r in d1_sqlite.execute("PRAGMA table_info(media_assets)")}
    assert {"content_type", "user_metadata", "metadata_fetched_at"} <= columns


def test_what_wrangler_applied_is_left_alone(any_d1, d1_sqlite):
    from media_pipeline_dagster.inventory.schema import CREATE_MIGRATIONS_TABLE, sql_file_statements

    d1_sqlite.execute(CREATE_MIGRATIONS_TABLE)
    for statement in sql_file_statements(CREATE_TABLE):
        d1_sqlite.execute(statement.sql)
    d1_sqlite.execute("INSERT INTO d1_migrations (name) VALUES ('0010_media_assets.sql')")
    with any_d1.connect() as db:
        before = db.requests  # the REST backend looked the database up by name
        state = ensure_schema(db, track_last_seen=False, dry_run=False)
        assert db.requests - before == 1  # one look, nothing to write
    assert state.applied == state.newly_recorded == [] and recorded(d1_sqlite) == [CREATE_TABLE]


def test_a_dry_run_creates_no_migrations_table(any_d1, d1_sqlite):
    with any_d1.connect() as db:
        state = ensure_schema(db, track_last_seen=True, dry_run=True)
    assert state.applied == [CREATE_TABLE, ADD_LAST_SEEN]
    assert d1_sqlite.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_local_resource_for_wrangler_creates_the_file_where_wrangler_looks(tmp_path):
    resource = LocalD1Resource.for_wrangler(tmp_path / ".wrangler" / "state", "DB")
    with resource.connect() as db:
        ensure_schema(db, track_last_seen=False, dry_run=False)
    (made,) = (tmp_path / ".wrangler/state/v3/d1/miniflare-D1DatabaseObject").glob("*.sqlite")
    assert made.name == wrangler_object_id("DB") + ".sqlite"
