"""Run metadata from plain values: each domain says what to show, this says how it is typed.

``bool`` → bool, ``int`` → int, ``float`` → float, ``str`` → text, ``dict``/``list``/``tuple``
→ JSON; a ``dg.MetadataValue`` (a URL, a table, Markdown) passes as it is. The types are
chosen here once, so the UI shows a count as a number in every domain and plots it over runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

from .markdown import md_table


def metadata_value(value: object) -> dg.MetadataValue:
    if isinstance(value, dg.MetadataValue):
        return value
    if isinstance(value, bool):  # before int: bool is an int to Python
        return dg.MetadataValue.bool(value)
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, float):
        return dg.MetadataValue.float(value)
    if isinstance(value, str):
        return dg.MetadataValue.text(value)
    if isinstance(value, Mapping | list | tuple):
        return dg.MetadataValue.json(dict(value) if isinstance(value, Mapping) else list(value))
    raise TypeError(
        f"no metadata type for {type(value).__name__} ({value!r:.80}); "
        "pass a dg.MetadataValue or a bool, int, float, str, dict or list"
    )


def metadata_values(values: Mapping[str, object]) -> dict[str, dg.MetadataValue]:
    """Every value typed; a key whose value cannot be typed is named in the error."""
    typed = {}
    for key, value in values.items():
        try:
            typed[key] = metadata_value(value)
        except TypeError as exc:
            raise TypeError(f"metadata {key!r}: {exc}") from None
    return typed


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> dg.MetadataValue:
    return dg.MetadataValue.md(md_table(headers, rows))


def per_second(amount: float, seconds: float, digits: int) -> float:
    """A rate rounded for display; 0.0 when nothing was timed."""
    return float(round(amount / seconds, digits)) if seconds else 0.0
