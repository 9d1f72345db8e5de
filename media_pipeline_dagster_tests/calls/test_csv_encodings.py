"""CSV exports in the encodings spreadsheets produce, and files that are not text at all."""

from __future__ import annotations

import codecs

import pytest

from media_pipeline_dagster.calls.csv_source import CsvFileError, read_csv

HEADER = "phone;campaign_name;url;started"
ROW = "+49 151 1;Dexter Süd;https://x.example/a.mp3;31.10.2024 10:57"


@pytest.mark.parametrize(
    "encoding,prefix,label",
    [
        ("utf-8", b"", "UTF-8"),
        ("utf-8", codecs.BOM_UTF8, "UTF-8 (BOM)"),
        ("utf-16-le", codecs.BOM_UTF16_LE, "UTF-16 (BOM)"),
        ("utf-16-be", codecs.BOM_UTF16_BE, "UTF-16 (BOM)"),
        ("latin-1", b"", "Windows-1252 (fallback: byte 51 is not UTF-8)"),
        ("cp1252", b"", "Windows-1252 (fallback: byte 51 is not UTF-8)"),
    ],
)
def test_dexter_sud_arrives_as_dexter_sud(tmp_path, encoding, prefix, label):
    path = tmp_path / "export.csv"
    path.write_bytes(prefix + f"{HEADER}\r\n{ROW}\r\n".encode(encoding))
    parsed = read_csv(path)
    (row,) = parsed.rows
    assert row.campaign_name == "Dexter Süd" and row.campaign_slug == "dexter-sud"
    assert parsed.encoding.label == label
    assert parsed.encoding.fallback == (encoding in ("latin-1", "cp1252"))


def test_windows_1252_punctuation_and_latin1_only_bytes(tmp_path):
    cp1252 = tmp_path / "euro.csv"
    cp1252.write_bytes(
        f"{HEADER}\n+49;Kampagne „Süd“ €;https://x.example/a.mp3;2024-10-31T10:57:01Z\n".encode(
            "cp1252"
        )
    )
    assert read_csv(cp1252).rows[0].campaign_name == "Kampagne „Süd“ €"
    # 0x81 is undefined in Windows-1252: the file is read as ISO-8859-1, and says so.
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(
        f"{HEADER}\n+49;S\x81d Süd;https://x.example/a.mp3;2024-10-31T10:57:01Z\n".encode("latin-1")
    )
    parsed = read_csv(latin1)
    assert parsed.rows[0].campaign_name == "S\x81d Süd" and parsed.encoding.label.startswith(
        "ISO-8859-1 (fallback"
    )


@pytest.mark.parametrize(
    "content,message",
    [
        (
            f"{HEADER}\n{ROW}\n".encode("utf-16-le"),
            "UTF-16 little-endian without a byte-order mark",
        ),
        (
            b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)),
            "a ZIP container such as an .xlsx workbook",
        ),
        (
            codecs.BOM_UTF8 + f"{HEADER}\n".encode() + "Dexter Süd".encode("latin-1"),
            "starts with a UTF-8 byte-order mark, but byte",
        ),
    ],
)
def test_files_that_are_not_text_are_refused_naming_what_they_look_like(tmp_path, content, message):
    path = tmp_path / "odd.csv"
    path.write_bytes(content)
    with pytest.raises(CsvFileError, match=r"^odd\.csv: ") as raised:
        read_csv(path)
    assert message in str(raised.value)
