"""CSV exports of call recordings: tolerant parsing, strict required columns, reasons that name row and column."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path

from .csv_encoding import EncodingError, TextEncoding, detect_encoding
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
    "company": "company",
}
REQUIRED_FIELDS = {
    "url": "url (or location)",
    "campaign_name": "campaign_name",
    "started": "started",
}
_DELIMITERS = (",", ";", "\t", "|")


class CsvFileError(ValueError):
    """A CSV that cannot be read as call recordings at all; the message starts with the file name."""


class CsvSchemaError(CsvFileError):
    """Required columns are missing."""


@dataclass
class CsvFile:
    path: Path
    sha256: str
    encoding: TextEncoding
    rows: list[CallRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


def inbox_files(inbox: Path) -> list[Path]:
    """The CSV files directly inside the inbox, in name order (hidden and partial files skipped)."""
    if not inbox.is_dir():
        return []
    return sorted(
        p
        for p in inbox.iterdir()
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
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _records(
    path: Path, encoding: TextEncoding
) -> Iterator[tuple[int, dict[str, str], dict[str, str]]]:
    """(data-row number, {field: value}, {field: column name}) per row; 1 is the first row after the header."""
    with path.open("r", encoding=encoding.codec, newline="") as fh:
        header_line = fh.readline()
        if not header_line.strip():
            raise CsvFileError(
                f"{path.name}: the file is empty or its first line (the header) is blank"
            )
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
        columns: dict[str, str] = {}
        for name, column in zip(fields, header):
            if name:
                columns.setdefault(name, column.strip())
        reader = csv.reader(fh, delimiter=delimiter)
        number = 0
        try:
            for number, values in enumerate(reader, start=1):
                if not any(v.strip() for v in values):
                    continue
                record: dict[str, str] = {}
                for name, value in zip(fields, values):
                    if name and (name not in record or not record[name]):
                        record[name] = value
                yield number, record, columns
        except csv.Error as exc:
            raise CsvFileError(
                f"{path.name}: row {number + 1} cannot be read as CSV: {exc}"
            ) from None


def iter_csv(
    path: Path, naive_zone: tzinfo = UTC
) -> tuple[TextEncoding, Iterator[CallRow | RejectedRow]]:
    """The file's encoding and its rows one at a time (valid ones and rejected ones, with reasons).

    Raises CsvFileError, at once or while iterating, when the file cannot be read at all.
    A URL seen twice in the file is rejected at its second row; the file's URLs are
    remembered by their url_sha1, which the rows carry anyway.
    """
    try:
        encoding = detect_encoding(path)
    except EncodingError as exc:
        raise CsvFileError(f"{path.name}: {exc}") from None

    def rows() -> Iterator[CallRow | RejectedRow]:
        seen: dict[str, int] = {}
        for number, record, columns in _records(path, encoding):
            origin = f"{path.name} row {number}"
            row = build_call_row(
                record, origin=origin, source_table=None, naive_zone=naive_zone, columns=columns
            )
            if isinstance(row, CallRow) and row.url_sha1 in seen:
                row = RejectedRow(
                    origin,
                    f"column {columns['url']}: duplicate URL in this file (first at row {seen[row.url_sha1]})",
                    row.campaign_slug,
                    row.url,
                    column=columns["url"],
                )
            elif isinstance(row, CallRow):
                seen[row.url_sha1] = number
            yield row

    return encoding, rows()


def check_readable(path: Path, encoding: TextEncoding) -> None:
    """Read the whole file as CSV without building rows: raises CsvFileError where read_csv would,
    so a file broken at its last line is refused before any of its rows is used."""
    for _ in _records(path, encoding):
        pass


def read_csv(path: Path, naive_zone: tzinfo = UTC) -> CsvFile:
    """Parse one CSV export into valid rows and rejected rows (with reasons).

    Raises CsvFileError when the file cannot be read at all: empty, not text in an
    encoding we accept, required columns missing, or broken CSV quoting.
    """
    encoding, rows = iter_csv(path, naive_zone)
    parsed = CsvFile(path=path, sha256=file_sha256(path), encoding=encoding)
    for row in rows:
        if isinstance(row, RejectedRow):
            parsed.rejected.append(row)
        else:
            parsed.rows.append(row)
    return parsed
