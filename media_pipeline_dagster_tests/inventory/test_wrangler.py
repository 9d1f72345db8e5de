"""The local D1 and Cloudflare's own tool agree: real ``wrangler`` 4 (installed from npm by
scripts/ensure_wrangler.sh under the venv) reads the file the project writes, and
``wrangler d1 migrations apply --local`` accepts what the project applied, either order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from media_pipeline_dagster.inventory.mirror import mirror_bucket_to_d1
from media_pipeline_dagster.settings import load_profile

from .conftest import put_objects

REPO = Path(__file__).resolve().parents[2]
DATABASE_ID = "3d1f5c2a-7b8e-4c6d-9a0b-1e2f3a4b5c6d"
OBJECTS = {
    "dexter/audio/4930/20250101T120000Z_a.wav": b"a",
    "dexter/audio/4930/20250101T120500Z_b.mp3": b"bb",
    "m\u00fcnchen/audio/1/it's.wav": b"c",
}


@pytest.fixture(scope="session")
def wrangler() -> Path:
    """wrangler's binary; installed on first use (about 20 s), never skipped: CI has Node.js and npm."""
    prefix = Path(sys.prefix) / "wrangler"
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "ensure_wrangler.sh")],
        env={**os.environ, "WRANGLER_PREFIX": str(prefix)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode:
        pytest.fail(f"scripts/ensure_wrangler.sh failed: {done.stderr[-2000:]}")
    return prefix / "node_modules" / ".bin" / "wrangler"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A Worker project as the team's site has one: wrangler.toml naming the D1 database, with the
    project's sql/d1/ as its migrations folder."""
    folder = tmp_path / "site"
    folder.mkdir()
    migrations = Path(str(resources.files("media_pipeline_dagster") / "sql" / "d1")).resolve()
    (folder / "wrangler.toml").write_text(
        'name = "site"\ncompatibility_date = "2025-01-01"\n\n[[d1_databases]]\nbinding = "DB"\n'
        f'database_name = "lgfc_lite"\ndatabase_id = "{DATABASE_ID}"\nmigrations_dir = "{migrations}"\n'
    )
    return folder


def run_wrangler(wrangler: Path, site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    env.update(
        CI="true",
        WRANGLER_SEND_METRICS="false",
        XDG_CONFIG_HOME=str(site.parent / "xdg"),
        WRANGLER_LOG_PATH=str(site.parent / "wrangler-logs"),
        NO_COLOR="1",
    )
    return subprocess.run(
        [str(wrangler), *args], cwd=site, env=env, capture_output=True, text=True, timeout=300
    )


def query(wrangler: Path, site: Path, sql: str) -> list[dict]:
    done = run_wrangler(
        wrangler, site, "d1", "execute", "lgfc_lite", "--local", "--json", "--command", sql
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = json.loads(done.stdout[done.stdout.index("[") :])
    return result["results"]


def profile(tmp_path: Path, site: Path, **extra: str) -> dict:
    env = {
        "MEDIA_PIPELINE_DATA_DIR": str(tmp_path / "data"),
        "D1_LOCAL_WRANGLER_STATE": str(site / ".wrangler/state"),
        "D1_DATABASE_ID": DATABASE_ID,
        **extra,
    }
    resources_ = load_profile(env).resources
    put_objects(resources_["object_store"], OBJECTS)
    return resources_


def test_wrangler_reads_what_the_project_wrote_and_applies_only_the_rest(wrangler, site, tmp_path):
    resources_ = profile(tmp_path, site, D1_TRACK_LAST_SEEN="true")
    summary = mirror_bucket_to_d1(resources_, echo=None)
    assert summary.success, str(summary)
    assert summary.lines[0].startswith(f"D1 is wrangler's local D1 for database_id {DATABASE_ID}")

    # The project created the table and recorded 0010 and 0011: wrangler applies 0012 alone.
    done = run_wrangler(wrangler, site, "d1", "migrations", "apply", "lgfc_lite", "--local")
    assert done.returncode == 0 and "already exists" not in done.stdout + done.stderr, (
        done.stdout + done.stderr
    )
    assert (
        "0012_media_assets_object_metadata.sql" in done.stdout
        and "0010_media_assets.sql" not in done.stdout
    )

    assert [
        r["b2_key"]
        for r in query(wrangler, site, "SELECT b2_key FROM media_assets ORDER BY b2_key")
    ] == sorted(OBJECTS)
    assert [
        r["name"] for r in query(wrangler, site, "SELECT name FROM d1_migrations ORDER BY id")
    ] == [
        "0010_media_assets.sql",
        "0011_media_assets_last_seen_at.sql",
        "0012_media_assets_object_metadata.sql",
    ]
    again = run_wrangler(wrangler, site, "d1", "migrations", "apply", "lgfc_lite", "--local")
    assert again.returncode == 0 and "No migrations to apply" in again.stdout

    # And back: the project sees wrangler's 0012 as applied and writes nothing new.
    second = mirror_bucket_to_d1(resources_, echo=None)
    assert second.success and "0 new, 3 already known" in str(second)


def test_the_project_continues_a_database_wrangler_created(wrangler, site, tmp_path):
    done = run_wrangler(wrangler, site, "d1", "migrations", "apply", "lgfc_lite", "--local")
    assert done.returncode == 0, done.stdout + done.stderr
    resources_ = profile(tmp_path, site)
    summary = mirror_bucket_to_d1(resources_, echo=None)
    assert summary.success and "3 new" in str(summary), str(summary)
    assert query(wrangler, site, "SELECT count(*) AS n FROM media_assets") == [{"n": 3}]
    names = [r["name"] for r in query(wrangler, site, "SELECT name FROM d1_migrations ORDER BY id")]
    assert names == [
        "0010_media_assets.sql",
        "0011_media_assets_last_seen_at.sql",
        "0012_media_assets_object_metadata.sql",
    ]
