"""The one metadata helper: plain values typed the same way in every domain."""

from __future__ import annotations

import dagster as dg
import pytest

from media_pipeline_dagster.kernel.metadata import (
    markdown_table,
    metadata_value,
    metadata_values,
    per_second,
)


def test_plain_values_get_their_types():
    typed = metadata_values(
        {
            "dry_run": True,
            "new": 3,
            "seconds": 1.5,
            "target": "s3://bucket/prefix",
            "by_reason": {"HTTP 404": 2},
            "removed": ["a", "b"],
            "link": dg.MetadataValue.url("file:///tmp/x.json"),
        }
    )
    assert isinstance(typed["dry_run"], dg.BoolMetadataValue) and typed["dry_run"].value is True
    assert isinstance(typed["new"], dg.IntMetadataValue) and typed["new"].value == 3
    assert isinstance(typed["seconds"], dg.FloatMetadataValue)
    assert isinstance(typed["target"], dg.TextMetadataValue)
    assert typed["by_reason"].value == {"HTTP 404": 2}
    assert typed["removed"].value == ["a", "b"]
    assert isinstance(typed["link"], dg.UrlMetadataValue)


def test_a_value_without_a_metadata_type_is_named():
    with pytest.raises(TypeError, match="metadata 'when'.*no metadata type for object"):
        metadata_values({"when": object()})
    with pytest.raises(TypeError, match="no metadata type for NoneType"):
        metadata_value(None)


def test_markdown_table_and_rates():
    table = markdown_table(["a", "b"], [(1, "x|y")])
    assert isinstance(table, dg.MarkdownMetadataValue)
    assert table.value == "| a | b |\n|---|---|\n| 1 | x\\|y |"
    assert per_second(10, 4, 1) == 2.5 and per_second(10, 0, 1) == 0.0
