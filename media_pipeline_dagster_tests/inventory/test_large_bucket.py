"""A bucket of 25,000 objects: every listing page, every row, few D1 requests."""

from __future__ import annotations

import dagster as dg

from media_pipeline_dagster.inventory.assets import b2_inventory, d1_media_assets
from media_pipeline_dagster.inventory.checks import every_inventory_object_in_d1
from media_pipeline_dagster.resources.inventory_options import InventoryOptionsResource

from .conftest import put_objects, sqlite_of

COUNT = 25_000


def test_25000_objects_end_to_end(object_store, rest_d1, d1_server):
    put_objects(
        object_store,
        {f"campaign-{i % 7}/audio/{i:06d}.mp3": b"%d" % i for i in range(COUNT)},
        concurrency=128,
    )
    resources = {
        "object_store": object_store,
        "d1": rest_d1,
        "inventory_options": InventoryOptionsResource(),
    }
    result = dg.materialize(
        [b2_inventory, d1_media_assets, every_inventory_object_in_d1], resources=resources
    )
    inventory = result.asset_materializations_for_node("b2_inventory")[0].metadata
    d1 = result.asset_materializations_for_node("d1_media_assets")[0].metadata
    assert inventory["objects"].value == COUNT and inventory["list_pages"].value == 25
    assert (d1["new"].value, d1["rows_written"].value) == (COUNT, COUNT)
    # lookup, schema check, DDL (recorded in d1_migrations, checked), one media_uid page, 25 inserts of 1,000 rows
    assert d1["api_requests"].value == 29
    assert [c.passed for c in result.get_asset_check_evaluations()] == [True]
    with sqlite_of(rest_d1, d1_server) as conn:
        assert conn.execute(
            "SELECT count(*), count(DISTINCT b2_key) FROM media_assets"
        ).fetchone() == (COUNT, COUNT)

    again = dg.materialize([d1_media_assets], resources=resources)
    d1 = again.asset_materializations_for_node("d1_media_assets")[0].metadata
    assert (d1["new"].value, d1["already_known"].value, d1["rows_written"].value) == (0, COUNT, 0)
    assert d1["api_requests"].value == 4  # lookup, schema check, two pages of 20,000 media_uids
