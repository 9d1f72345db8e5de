"""CSV exports of call recordings (seed 000): tolerant parsing, strict required columns."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .rows import CallRow, RejectedRow, build_call_row

# header (lower-cased) -> field name used by build_call_row
COLUMN_ALIASES = {
    "url": "url",
    "location": "url",
    "campaign_name": "campaign_name",
    "campaign": "campaign_name",
    "phone": "phone",
    "$phone": "phone",
    "recordings_row_id": "source_row_id",
    "source_row_id": "source_row_id",
    "recording_id": "recording_id",
    "started": "started",
    "stopped": "stopped",
    "duration_seconds": "duration_seconds",
}
REQUIRED_FIELDS = {"url": "url (or location)", "campaign_name": "campaign_name", "started": "started"}
_DELIMITERS = (",", ";", "\t", "|")


class CsvSchemaError(ValueError):
    """A CSV that cannot be read as call recordings at all (e.g. required columns missing)."""


@dataclass
class CsvFile:
    path: Path
    sha256: str
    rows: list[CallRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


def inbox_files(inbox: Path) -> list[Path]:
    """The CSV files directly inside the inbox, in name order (hidden and partial files skipped)."""
    if not inbox.is_dir():
        return []
    return sorted(
        p for p in inbox.iterdir()
        if p.is_file() and p.suffix.lower() == ".csv" and not p.name.startswith((".", "~"))
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {field: value}) per data row; BOM, CRLF and ';' handled."""
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        header_line = fh.readline()
        if not header_line.strip():
            raise CsvSchemaError(f"{path.name}: the file is empty or has no header row")
        delimiter = _sniff_delimiter(header_line)
        header = next(csv.reader([header_line], delimiter=delimiter))
        fields = [COLUMN_ALIASES.get(name.strip().lower()) for name in header]
        missing = [label for key, label in REQUIRED_FIELDS.items() if key not in fields]
        if missing:
            found = ", ".join(name.strip() for name in header) or "(none)"
            raise CsvSchemaError(
                f"{path.name}: missing required column(s): {', '.join(missing)}; found: {found}. "
                "Rename the columns or move the file out of the inbox."
            )
        reader = csv.reader(fh, delimiter=delimiter)
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            record: dict[str, str] = {}
            for name, value in zip(fields, values):
                if name and (name not in record or not record[name]):
                    record[name] = value
            yield reader.line_num + 1, record


def read_csv(path: Path) -> CsvFile:
    """Parse one CSV export into valid rows and rejected rows (with reasons)."""
    parsed = CsvFile(path=path, sha256=file_sha256(path))
    seen: dict[str, int] = {}
    for line, record in _records(path):
        origin = f"{path.name}:{line}"
        row = build_call_row(record, origin=origin, source_table=None)
        if isinstance(row, RejectedRow):
            parsed.rejected.append(row)
            continue
        if row.url in seen:
            parsed.rejected.append(
                RejectedRow(origin, f"duplicate URL in this file (first at line {seen[row.url]})", row.campaign_slug, row.url)
            )
            continue
        seen[row.url] = line
        parsed.rows.append(row)
    return parsed
