"""audio_files.company: from a CSV 'company' column, else the campaign -> company setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from media_pipeline_dagster.resources.call_sources import CallSourcesResource
from media_pipeline_dagster.settings import ConfigurationError, call_sources_resource

from .helpers import catalog_rows, materialize, metadata, token

REFERENCE_QUERIES = Path(__file__).resolve().parents[2] / "sql" / "reference_queries.sql"


def by_company_query() -> str:
    """The statement under the '-- Calls by company' heading of sql/reference_queries.sql."""
    block = REFERENCE_QUERIES.read_text(encoding="utf-8").split("-- Calls by company", 1)[1]
    lines = block.splitlines()[1:]  # the rest of the heading line goes
    return "\n".join(line for line in lines if not line.lstrip().startswith("--")).split(";", 1)[0]


def test_company_from_the_csv_column_or_the_campaign_mapping(
    instance, pipeline_resources, inbox, origin
):
    t = token()
    url = lambda name: origin.url(f"/gen/200/{t}/{name}.mp3")  # noqa: E731
    (inbox / "calls.csv").write_text(
        "phone,campaign_name,company,url,started\n"
        f"+49 1,Dexter Outbound,Acme AG,{url('column')},2025-08-27T10:00:01Z\n"
        f"+49 2,Dexter Outbound,,{url('mapped')},2025-08-27T10:00:02Z\n"
        f"+49 3,Other,,{url('unmapped')},2025-08-27T10:00:03Z\n",
        encoding="utf-8",
    )
    resources = {
        **pipeline_resources,
        "call_sources": CallSourcesResource(campaign_companies={"dexter outbound": "Dexter GmbH"}),
    }
    meta = metadata(materialize(instance, resources))
    materialize(instance, resources, partition="other|2025-08-27")
    companies = {r.url.rsplit("/", 1)[1]: r.company for r in catalog_rows(resources)}
    assert companies == {"column.mp3": "Acme AG", "mapped.mp3": "Dexter GmbH", "unmapped.mp3": None}
    assert meta["new_by_company"] == {"Acme AG": 1, "Dexter GmbH": 1}
    assert "| company |" in meta["preview"] and "| Dexter GmbH |" in meta["preview"]

    with resources["catalog"].engine.connect() as conn:
        report = [tuple(r[:3]) for r in conn.execute(sa.text(by_company_query()))]
    assert report == [
        ("(none)", "Other", 1),
        ("Acme AG", "Dexter Outbound", 1),
        ("Dexter GmbH", "Dexter Outbound", 1),
    ]


def test_the_company_setting():
    resource = call_sources_resource(
        {"MEDIA_PIPELINE_CAMPAIGN_COMPANIES": '{"Dexter Süd": "Dexter GmbH"}'}
    )
    assert (
        resource.company_for("DEXTER SUD") == "Dexter GmbH"
        and resource.company_for("Other") is None
    )
    assert call_sources_resource({}).campaign_companies == {}
    with pytest.raises(
        ConfigurationError, match="MEDIA_PIPELINE_CAMPAIGN_COMPANIES is not valid JSON"
    ):
        call_sources_resource({"MEDIA_PIPELINE_CAMPAIGN_COMPANIES": "Dexter=GmbH"})
    with pytest.raises(ConfigurationError, match="must map campaign names to company names"):
        call_sources_resource({"MEDIA_PIPELINE_CAMPAIGN_COMPANIES": '["Dexter"]'})
    with pytest.raises(
        ConfigurationError, match="'Dexter Süd' and 'dexter-sud', which are the same campaign"
    ):
        call_sources_resource(
            {"MEDIA_PIPELINE_CAMPAIGN_COMPANIES": '{"Dexter Süd": "A", "dexter-sud": "B"}'}
        )
