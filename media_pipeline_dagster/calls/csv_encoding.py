"""Which text encoding a CSV export is in: a fixed ladder, never a statistical guess.

UTF-8 (with or without BOM), then UTF-16/UTF-32 announced by their BOM, then one legacy
fallback: Windows-1252, which is latin-1 plus the printable characters Excel puts in
0x80-0x9F (latin-1 itself where a byte is undefined in 1252). Statistical detectors were
tried and rejected: charset-normalizer reads a latin-1 "Dexter Süd" as cp775 and
returns "Dexter S³d", the mojibake this ladder exists to prevent. A file that is none of
these (binary, a spreadsheet, UTF-16 without its BOM) is refused with a sentence saying
what it looks like.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

_BLOCK = 1024 * 1024
_SNIFF = 64 * 1024
_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32 (BOM)"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 (BOM)"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8 (BOM)"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 (BOM)"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 (BOM)"),
)
# C0 controls that never appear in a text export (tab, LF, FF, CR do).
_BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))
_CP1252_UNDEFINED = b"\x81\x8d\x8f\x90\x9d"


class EncodingError(ValueError):
    """The file is not text in any encoding the inbox accepts; the message says what it looks like."""


@dataclass(frozen=True)
class TextEncoding:
    codec: str  # what Python's open() takes
    label: str  # what the operator reads, e.g. "UTF-8" or "Windows-1252 (fallback: not UTF-8)"
    fallback: bool = False


def _first_invalid_utf8(path: Path, skip: int) -> int | None:
    """Offset of the first byte that is not UTF-8, reading the file in blocks; None when all are."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as fh:
        fh.seek(skip)
        while True:
            block = fh.read(_BLOCK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return skip + offset + exc.start
            if not block:
                return None
            offset += len(block)


def _what_binary_looks_like(head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP container such as an .xlsx workbook: export it as CSV"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "an old Excel .xls workbook: export it as CSV"
    evens, odds = head[0::2], head[1::2]
    if odds and odds.count(0) > len(odds) * 0.3 and not evens.count(0):
        return "UTF-16 little-endian without a byte-order mark: save it as UTF-8 or 'Unicode text' with BOM"
    if evens and evens.count(0) > len(evens) * 0.3 and not odds.count(0):
        return "UTF-16 big-endian without a byte-order mark: save it as UTF-8 or 'Unicode text' with BOM"
    return "binary data, not text: export it as CSV in UTF-8"


def detect_encoding(path: Path) -> TextEncoding:
    """The encoding to open ``path`` with; raises EncodingError when it is not text we read."""
    with path.open("rb") as fh:
        head = fh.read(_SNIFF)
    for bom, codec, label in _BOMS:
        if head.startswith(bom):
            if codec == "utf-8-sig" and (bad := _first_invalid_utf8(path, len(bom))) is not None:
                raise EncodingError(
                    f"starts with a UTF-8 byte-order mark, but byte {bad} is not UTF-8: "
                    "the file mixes encodings; export it again as UTF-8"
                )
            return TextEncoding(codec, label)
    if any(b in head for b in _BINARY_BYTES):
        raise EncodingError(
            f"not UTF-8, UTF-16 or Windows-1252 text: it looks like {_what_binary_looks_like(head)}"
        )
    bad = _first_invalid_utf8(path, 0)
    if bad is None:
        return TextEncoding("utf-8", "UTF-8")
    with path.open("rb") as fh:
        undefined_in_1252 = any(
            b in block for block in iter(lambda: fh.read(_BLOCK), b"") for b in _CP1252_UNDEFINED
        )
    if undefined_in_1252:
        return TextEncoding(
            "latin-1", f"ISO-8859-1 (fallback: byte {bad} is not UTF-8)", fallback=True
        )
    return TextEncoding(
        "cp1252", f"Windows-1252 (fallback: byte {bad} is not UTF-8)", fallback=True
    )
