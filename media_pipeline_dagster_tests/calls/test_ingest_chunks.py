"""``ingest`` reads its rows a chunk at a time: de-duplication and the limit span the chunks."""

from __future__ import annotations

import pytest

from media_pipeline_dagster.calls import ingest as ingest_module
from media_pipeline_dagster.calls.ingest import IngestOptions, ingest
from media_pipeline_dagster.calls.rows import build_call_row
from media_pipeline_dagster.resources.databases import CatalogResource


def row(number: int, url: str, recording_id: str | None = None):
    raw = {"url": url, "campaign_name": "Dexter Outbound", "started": "2025-08-27T10:00:00Z"}
    if recording_id:
        raw["recording_id"] = recording_id
    return build_call_row(raw, origin=f"calls.csv row {number}", source_table=None)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(ingest_module, "CHUNK_ROWS", 3)


def test_duplicates_and_the_limit_span_chunks(pg_url, small_chunks):
    drawn = []

    def rows():
        for number, (url, rec) in enumerate(
            [
                ("https://v.example/a.mp3", "R1"),
                ("https://v.example/b.mp3", None),
                ("https://v.example/c.mp3", None),
                ("https://v.example/a.mp3", "R1"),  # the same URL in the next chunk: skipped
                ("https://v.example/d.mp3", "R1"),  # R1 again under another URL: a failure
                ("https://v.example/e.mp3", None),
                ("https://v.example/f.mp3", None),
            ],
            start=1,
        ):
            drawn.append(number)
            yield row(number, url, rec)

    engine = CatalogResource(database_url=pg_url).engine
    report = ingest(engine, None, rows(), IngestOptions(dry_run=True, limit=4))
    assert drawn == [1, 2, 3, 4, 5, 6, 7] and report.rows_seen == 7
    assert [p["url"].rsplit("/", 1)[1] for p in report.planned] == [
        "a.mp3",
        "b.mp3",
        "c.mp3",
        "e.mp3",
    ]
    assert report.not_attempted_limit == 1
    (failure,) = report.failures
    assert (
        failure.origin == "calls.csv row 5" and "also listed at calls.csv row 1" in failure.reason
    )
