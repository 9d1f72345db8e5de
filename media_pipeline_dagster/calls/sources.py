"""Gather the source rows of a set of partitions from the CSV inbox and the recordings tables."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from ..resources.call_sources import CallSourcesResource
from . import recordings_source
from .csv_source import CsvFileError, inbox_files, read_csv
from .rows import CallRow, RejectedRow


@dataclass
class SourceRows:
    rows: list[CallRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    files_read: list[dict] = field(
        default_factory=list
    )  # {"file", "encoding", "rows"} per CSV read
    unreadable: list[str] = field(
        default_factory=list
    )  # one sentence per CSV that could not be read


def _named_files(inbox: Path, names: Sequence[str], out: SourceRows) -> list[Path]:
    paths = []
    for name in names:
        path = inbox / name
        if Path(name).name != name or not path.is_file():
            out.unreadable.append(
                f"{name}: not in the inbox any more (moved or renamed after the sensor saw it)"
            )
        else:
            paths.append(path)
    return paths


def gather(
    wanted: dict[str, set[date]],
    *,
    inbox: Path | None,
    recordings_engine: sa.Engine | None,
    call_sources: CallSourcesResource,
    csv_files: Sequence[str] | None = None,
) -> SourceRows:
    """Rows whose campaign slug and call date fall in ``wanted``, with their company.

    Reads the inbox files named in ``csv_files`` (what the sensor asked for), or every
    inbox file when None. A file that cannot be read is listed in ``unreadable`` and
    skipped: it never stops the other files. Rejected rows are kept when their campaign
    is wanted; those without one are reported on ``csv_inbox`` by the sensor.
    """
    out = SourceRows()
    paths = (
        []
        if inbox is None
        else inbox_files(inbox)
        if csv_files is None
        else _named_files(inbox, csv_files, out)
    )
    zone = call_sources.zone
    for path in paths:
        try:
            parsed = read_csv(path, zone)
        except (CsvFileError, OSError) as exc:
            out.unreadable.append(
                str(exc) if isinstance(exc, CsvFileError) else f"{path.name}: cannot be read: {exc}"
            )
            continue
        out.files_read.append(
            {
                "file": path.name,
                "encoding": parsed.encoding.label,
                "rows": len(parsed.rows) + len(parsed.rejected),
            }
        )
        out.rows.extend(r for r in parsed.rows if r.call_date in wanted.get(r.campaign_slug, ()))
        out.rejected.extend(r for r in parsed.rejected if r.campaign_slug in wanted)
    if recordings_engine is not None:
        rows, rejected = recordings_source.read_rows(recordings_engine, wanted, naive_zone=zone)
        out.rows.extend(rows)
        out.rejected.extend(rejected)
    out.rows = [
        r
        if r.company
        else dataclasses.replace(r, company=call_sources.company_for(r.campaign_name))
        for r in out.rows
    ]
    return out
