"""Gather the source rows of a set of partitions from the CSV inbox and the recordings tables."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from ..resources.call_sources import CallSourcesResource
from . import recordings_source
from .csv_source import CsvFileError, check_readable, inbox_files, iter_csv
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


def stream_rows(
    wanted: dict[str, set[date]],
    out: SourceRows,
    *,
    inbox: Path | None,
    recordings_engine: sa.Engine | None,
    call_sources: CallSourcesResource,
    csv_files: Sequence[str] | None = None,
) -> Iterator[CallRow]:
    """Rows whose campaign slug and call date fall in ``wanted``, with their company, one at a
    time, so a run over a million-row CSV never holds all its rows; ``out`` collects the
    rejected rows, the files read and the unreadable ones as the reading goes.

    Reads the inbox files named in ``csv_files`` (what the sensor asked for), or every
    inbox file when None. A file that cannot be read is listed in ``unreadable`` and
    skipped, none of its rows used: it never stops the other files. Rejected rows are kept
    when their campaign is wanted; those without one are reported on ``csv_inbox`` by the
    sensor.
    """
    paths = (
        []
        if inbox is None
        else inbox_files(inbox)
        if csv_files is None
        else _named_files(inbox, csv_files, out)
    )
    zone = call_sources.zone

    companies: dict[str, str | None] = {}

    def with_company(row: CallRow) -> CallRow:
        if row.company:
            return row
        name = row.campaign_name
        if name not in companies:
            companies[name] = call_sources.company_for(name)
        if companies[name] is None:
            return row  # nothing to fill in: spare copying a million rows
        return dataclasses.replace(row, company=companies[name])

    for path in paths:
        try:
            encoding, rows = iter_csv(path, zone)
            check_readable(path, encoding)  # all of the file or none of it
            count = 0
            for row in rows:
                count += 1
                if isinstance(row, RejectedRow):
                    if row.campaign_slug in wanted:
                        out.rejected.append(row)
                elif row.call_date in wanted.get(row.campaign_slug, ()):
                    yield with_company(row)
        except (CsvFileError, OSError) as exc:
            out.unreadable.append(
                str(exc) if isinstance(exc, CsvFileError) else f"{path.name}: cannot be read: {exc}"
            )
            continue
        out.files_read.append({"file": path.name, "encoding": encoding.label, "rows": count})
    if recordings_engine is not None:
        recorded, rejected = recordings_source.read_rows(recordings_engine, wanted, naive_zone=zone)
        out.rejected.extend(rejected)
        yield from (with_company(r) for r in recorded)
