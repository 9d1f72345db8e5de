"""The shipped sample cache (samples/media_cache) and its post_media rows, for the demo and the local profile."""

from __future__ import annotations

import csv
import shutil
from importlib import resources
from pathlib import Path

import sqlalchemy as sa

from .locate import MEDIA_FOLDERS

INT_COLUMNS = ("file_size", "width", "height")


def sample_dir() -> Path:
    return Path(str(resources.files("media_pipeline_dagster") / "samples" / "media_cache"))


def sample_rows() -> list[dict[str, object]]:
    with open(sample_dir() / "post_media.csv", newline="", encoding="utf-8") as handle:
        rows = [
            {k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(handle)
        ]
    for row in rows:
        for column in INT_COLUMNS:
            row[column] = int(str(row[column])) if row[column] is not None else None
    return rows


def late_sample_dir() -> Path:
    """Files of sample rows that reach the cache only after the first archive run (a late download)."""
    return sample_dir() / "late"


def copy_sample_cache(cache_dir: Path, samples: Path | None = None) -> int:
    """Copy the sample files the cache does not have yet; how many were copied."""
    copied = 0
    for folder in MEDIA_FOLDERS.values():
        for source in sorted(((samples or sample_dir()) / folder).glob("*")):
            target = cache_dir / folder / source.name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                copied += 1
    return copied


def seed_sample_post_media(engine: sa.Engine, cache_dir: Path) -> tuple[int, int]:
    """The sample files in the cache and their rows in post_media, each only if not there yet: (files, rows) added."""
    files = copy_sample_cache(cache_dir)
    rows = sample_rows()
    with engine.begin() as conn:
        known = set(conn.scalars(sa.text("SELECT media_id FROM post_media")))
        new = [r for r in rows if r["media_id"] not in known]
        if new:
            columns = ", ".join(new[0])
            values = ", ".join(f":{c}" for c in new[0])
            conn.execute(sa.text(f"INSERT INTO post_media ({columns}) VALUES ({values})"), new)
    return files, len(new)
