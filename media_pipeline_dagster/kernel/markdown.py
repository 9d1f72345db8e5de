"""Small Markdown tables for run metadata (the UI renders them): shared by every domain."""

from __future__ import annotations

from collections.abc import Sequence


def md_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], cell_chars: int = 200
) -> str:
    def cell(value: object) -> str:
        return (
            str(value if value is not None else "")
            .replace("|", "\\|")
            .replace("\n", " ")[:cell_chars]
        )

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
