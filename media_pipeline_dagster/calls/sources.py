"""Gather the source rows of a set of partitions from the CSV inbox and the recordings tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from . import recordings_source
from .csv_source import inbox_files, read_csv
from .rows import CallRow, RejectedRow


@dataclass
class SourceRows:
    rows: list[CallRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)


def gather(
    wanted: dict[str, set[date]],
    *,
    inbox: Path | None,
    recordings_engine: sa.Engine | None,
) -> SourceRows:
    """Rows whose campaign slug and call date fall in ``wanted``.

    Rejected rows are kept when they belong to a wanted campaign, or when their
    campaign is unknown (so they show up somewhere). A CSV without the required columns
    raises CsvSchemaError, naming them.
    """
    out = SourceRows()
    for path in inbox_files(inbox) if inbox else []:
        parsed = read_csv(path)
        out.files_read.append(path.name)
        out.rows.extend(r for r in parsed.rows if r.call_date in wanted.get(r.campaign_slug, ()))
        out.rejected.extend(r for r in parsed.rejected if r.campaign_slug is None or r.campaign_slug in wanted)
    if recordings_engine is not None:
        rows, rejected = recordings_source.read_rows(recordings_engine, wanted)
        out.rows.extend(rows)
        out.rejected.extend(rejected)
    return out
