"""CSV exports as they arrive in practice: BOMs, semicolons, CRLF, gaps and junk rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from media_pipeline_dagster.calls.csv_source import (
    CsvFileError,
    CsvSchemaError,
    inbox_files,
    read_csv,
)
from media_pipeline_dagster.catalog.derive import url_sha1

HEADER = "phone,campaign_name,recordings_row_id,url,duration_seconds,started,stopped"
GOOD = "+49 151 1063-5004,Dexter Outbound,42,https://vault.example/vr/PR_9f6e.mp3,157.9,2024-10-31T10:57:01.569Z,2024-10-31T10:59:39.488Z"


def write(tmp_path, text: str, name="calls.csv", encoding="utf-8", newline="\n"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def test_a_good_row_gets_its_derived_fields(tmp_path):
    parsed = read_csv(write(tmp_path, f"{HEADER}\n{GOOD}\n"))
    (row,) = parsed.rows
    assert parsed.rejected == []
    assert row.phone == "+4915110635004"
    assert row.recording_id == "PR_9f6e"
    assert row.url_sha1 == url_sha1("https://vault.example/vr/PR_9f6e.mp3")
    assert row.started == datetime(2024, 10, 31, 10, 57, 1, 569000, tzinfo=UTC)
    assert row.duration_seconds == 157.9 and row.source_row_id == 42 and row.source_table is None
    assert (
        row.campaign_slug == "dexter-outbound" and row.origin == "calls.csv row 1"
    )  # 1 = first row after the header


@pytest.mark.parametrize(
    "encoding,newline,delimiter",
    [
        ("utf-8-sig", "\n", ","),
        ("utf-8", "\r\n", ","),
        ("utf-8-sig", "\r\n", ";"),
        ("utf-8", "\n", "\t"),
    ],
)
def test_bom_crlf_and_delimiters(tmp_path, encoding, newline, delimiter):
    text = f"{HEADER}\n{GOOD}\n".replace(",", delimiter)
    parsed = read_csv(write(tmp_path, text, encoding=encoding, newline=newline))
    assert [r.phone for r in parsed.rows] == ["+4915110635004"]
    assert parsed.rows[0].stopped is not None  # the last column survives the line ending


def test_legacy_location_column_and_missing_optional_columns(tmp_path):
    parsed = read_csv(
        write(
            tmp_path,
            "location;campaign_name;started\nhttps://x.example/a.wav;C;2025-01-02 03:04:05\n",
        )
    )
    (row,) = parsed.rows
    assert row.url == "https://x.example/a.wav"
    assert (row.phone, row.stopped, row.duration_seconds, row.source_row_id, row.recording_id) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert row.started == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_missing_required_columns_are_named(tmp_path):
    with pytest.raises(
        CsvSchemaError,
        match=r"missing required column\(s\): url \(or location\), started; found: phone, campaign_name",
    ):
        read_csv(write(tmp_path, "phone,campaign_name\n+49,C\n"))


def test_bad_rows_are_rejected_with_reasons_and_the_rest_goes_on(tmp_path):
    lines = [
        HEADER,
        "+49,C,1,,,2025-01-01T00:00:00Z,",  # no url
        "+49,C,2,https://x.example/b.mp3,,31/12/2024 noon,",  # bad timestamp
        "+49,C,3,https://x.example/c.mp3,,2025-01-01T00:00:00Z,",
        "+49,C,4,https://x.example/c.mp3,,2025-01-01T00:00:00Z,",  # duplicate URL
        "../../etc,C,5,https://x.example/d.mp3,,2025-01-01T00:00:00Z,",  # phone climbing out
        "+49,../../secrets,6,https://x.example/e.mp3,,2025-01-01T00:00:00Z,",  # campaign climbing out
        "+49,C,7,ftp://x.example/f.mp3,,2025-01-01T00:00:00Z,",  # not http
        "+49,C,x8,https://x.example/g.mp3,,2025-01-01T00:00:00Z,",  # bad row id
        "+49,,9,https://x.example/h.mp3,,2025-01-01T00:00:00Z,",  # no campaign
        "+49,C,10,https://x.example/i.mp3,,2025-01-01T00:00:00Z,",
    ]
    parsed = read_csv(write(tmp_path, "\n".join(lines) + "\n"))
    assert [r.url for r in parsed.rows] == ["https://x.example/c.mp3", "https://x.example/i.mp3"]
    reasons = {r.origin: r.reason for r in parsed.rejected}
    columns = {r.origin: r.column for r in parsed.rejected}
    assert reasons["calls.csv row 1"] == "column url: no audio URL (empty)"
    assert reasons["calls.csv row 2"].startswith(
        "column started: unparseable timestamp '31/12/2024 noon'"
    )
    assert reasons["calls.csv row 4"] == "column url: duplicate URL in this file (first at row 3)"
    assert reasons["calls.csv row 5"].startswith(
        "column phone: phone '../../etc' looks like a path"
    )
    assert reasons["calls.csv row 6"].startswith(
        "column campaign_name: campaign_name '../../secrets' looks like a path"
    )
    assert "is not http(s) or file" in reasons["calls.csv row 7"]
    assert (
        reasons["calls.csv row 8"]
        == "column recordings_row_id: recordings_row_id 'x8' is not a whole number"
    )
    assert reasons["calls.csv row 9"] == "column campaign_name: no campaign_name (empty)"
    assert columns == {
        "calls.csv row 1": "url",
        "calls.csv row 2": "started",
        "calls.csv row 4": "url",
        "calls.csv row 5": "phone",
        "calls.csv row 6": "campaign_name",
        "calls.csv row 7": "url",
        "calls.csv row 8": "recordings_row_id",
        "calls.csv row 9": "campaign_name",
    }
    assert len(parsed.rejected) == 8


def test_reasons_name_the_files_own_column_and_count_data_rows_not_lines(tmp_path):
    """A quoted field spanning two lines is one row; reasons use the header as written (location, $phone)."""
    text = (
        "location;$phone;campaign_name;started\n"
        'https://x.example/a.mp3;"+49\n151";C;2025-01-01T00:00:00Z\n'
        ";+49;C;2025-01-01T00:00:00Z\n"
        "\n"
        "https://x.example/c.mp3;+49;C;not a date\n"
    )
    parsed = read_csv(write(tmp_path, text, name="export.csv"))
    assert [(r.origin, r.column) for r in parsed.rejected] == [
        ("export.csv row 2", "location"),
        ("export.csv row 4", "started"),
    ]
    assert parsed.rejected[0].reason == "column location: no audio URL (empty)"
    assert parsed.rejected[1].reason.startswith(
        "column started: unparseable timestamp 'not a date'"
    )


def test_empty_file_cannot_be_read(tmp_path):
    with pytest.raises(CsvFileError, match="calls.csv: the file is empty"):
        read_csv(write(tmp_path, ""))


def test_inbox_lists_only_visible_csv_files(tmp_path):
    for name in ("b.csv", "a.CSV", ".hidden.csv", "~lock.csv", "notes.txt"):
        (tmp_path / name).write_text(HEADER + "\n")
    assert [p.name for p in inbox_files(tmp_path)] == ["a.CSV", "b.csv"]
    assert inbox_files(tmp_path / "missing") == []
