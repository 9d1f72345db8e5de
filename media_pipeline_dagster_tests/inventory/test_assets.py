"""The inventory assets through Dagster: SeaweedFS + the D1 REST server, and the local profile."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from media_pipeline_dagster.inventory.assets import b2_inventory, d1_media_assets
from media_pipeline_dagster.inventory.checks import every_inventory_object_in_d1
from media_pipeline_dagster.inventory.definitions import defs as inventory_defs
from media_pipeline_dagster.inventory.media_uid import media_uid
from media_pipeline_dagster.inventory.mirror import mirror_bucket_to_d1
from media_pipeline_dagster.inventory.schedules import b2_to_d1_daily
from media_pipeline_dagster.resources.inventory_options import InventoryOptionsResource

from .conftest import media_rows, put_objects, rest_resource, sqlite_of
from .test_listing import ODD

ALL = [b2_inventory, d1_media_assets, every_inventory_object_in_d1]


def meta(result: dg.ExecuteInProcessResult, node: str) -> dict:
    (event,) = result.asset_materializations_for_node(node)
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()}


def run(
    resources: dict, *, config: dict | None = None, assets=ALL, **kwargs
) -> dg.ExecuteInProcessResult:
    run_config = {"ops": {"d1_media_assets": {"config": config}}} if config else None
    resources = {"inventory_options": InventoryOptionsResource(), **resources}
    return dg.materialize(
        assets, resources=resources, run_config=run_config, raise_on_error=False, **kwargs
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    (failure,) = result.get_step_failure_events()
    return failure.step_failure_data.error.message


def test_bucket_to_d1_with_odd_keys_then_an_unchanged_rerun(object_store, rest_d1, d1_server):
    put_objects(object_store, ODD)
    resources = {"object_store": object_store, "d1": rest_d1}

    first = run(resources)
    assert first.success
    inventory, d1 = meta(first, "b2_inventory"), meta(first, "d1_media_assets")
    assert (inventory["objects"], inventory["added"], inventory["removed"]) == (5, 5, 0)
    assert inventory["total_bytes"] == sum(len(v) for v in ODD.values())
    assert (d1["discovered"], d1["new"], d1["already_known"], d1["rows_written"]) == (5, 5, 0, 5)
    assert (
        d1["api_requests"] == 5
    )  # name lookup, schema check, DDL (recorded, checked), media_uid page, insert
    assert [c.passed for c in first.get_asset_check_evaluations()] == [True]

    with sqlite_of(rest_d1, d1_server) as conn:
        rows = {r[1]: r for r in media_rows(conn)}
    assert set(rows) == set(ODD)  # quotes, semicolons, unicode and 1,000 bytes, exactly
    assert rows["empty/zero-byte.bin"][3] == 0
    for key, (uid, _, file_id, _, _) in rows.items():
        assert uid == media_uid(file_id, key)
    assert not any(key in sql for key in ODD for sql in d1_server.sql_seen)  # bound, never pasted

    d1_server.reset()
    again = run(resources)
    assert meta(again, "b2_inventory")["added"] == 0
    d1 = meta(again, "d1_media_assets")
    assert (d1["new"], d1["already_known"], d1["rows_written"], d1["api_requests"]) == (0, 5, 0, 3)


def test_dry_run_shows_the_sql_and_writes_nothing(local_store, local_d1):
    put_objects(local_store, {"a.wav": b"a", "b's.wav": b"b"})
    result = run(
        {"object_store": local_store, "d1": local_d1}, config={"dry_run": True, "verbose": True}
    )
    d1 = meta(result, "d1_media_assets")
    assert d1["dry_run"] is True and (d1["new"], d1["rows_written"]) == (2, 0)
    assert (
        "INSERT OR IGNORE INTO media_assets" in d1["sql_preview"] and "b's.wav" in d1["sql_preview"]
    )
    with sqlite_of(local_d1) as conn:
        assert media_rows(conn) == []
    # The check tells the truth about a dry run: D1 does not hold them.
    assert [c.passed for c in result.get_asset_check_evaluations()] == [False]


def test_a_missing_token_stops_the_run_before_any_work(local_store, d1_server, d1_database):
    put_objects(local_store, {"a.wav": b"a"})
    result = run(
        {"object_store": local_store, "d1": rest_resource(d1_server, d1_database[0], api_token="")},
        assets=[b2_inventory, d1_media_assets],
    )
    assert not result.success and "CLOUDFLARE_API_TOKEN is empty" in failure_message(result)
    assert sum(d1_server.requests.values()) == 0


def test_an_unknown_database_name_stops_the_run_before_any_query(
    local_store, d1_server, d1_database
):
    put_objects(local_store, {"a.wav": b"a"})
    result = run(
        {"object_store": local_store, "d1": rest_resource(d1_server, "lgfc_lite")},
        assets=[b2_inventory, d1_media_assets],
    )
    assert not result.success and "D1 database 'lgfc_lite' not found" in failure_message(result)
    assert d1_server.sql_requests == 0


@pytest.mark.parametrize("fault", ["429", "500", "success_false"])
def test_a_failing_d1_fails_the_run_loudly_and_writes_nothing(
    fault, local_store, rest_d1, d1_server
):
    put_objects(local_store, {f"f{i}.wav": b"x" for i in range(30)})
    # Schema check, DDL and the media_uid read pass; the insert request keeps failing.
    d1_server.inject(fault, times=10, skip=3, retry_after=0 if fault == "429" else None)
    result = run(
        {"object_store": local_store, "d1": rest_d1}, assets=[b2_inventory, d1_media_assets]
    )
    assert not result.success
    message = failure_message(result)
    assert (
        "D1 sync of inventory/" in message
        and "0 write request(s), 0 row(s) committed before" in message
    )
    d1_server.reset()
    with sqlite_of(rest_d1, d1_server) as conn:
        assert media_rows(conn) == []


def test_no_snapshot_yet_says_what_to_do(local_store, local_d1):
    result = run({"object_store": local_store, "d1": local_d1}, assets=[d1_media_assets])
    assert "materialize b2_inventory first" in failure_message(result)


def test_the_check_fails_when_d1_lacks_an_inventory_object(local_store, local_d1):
    put_objects(local_store, {"a.wav": b"a", "b.wav": b"b"})
    resources = {"object_store": local_store, "d1": local_d1}
    assert run(resources).success
    with sqlite_of(local_d1) as conn:
        conn.execute("DELETE FROM media_assets WHERE b2_key = 'b.wav'")
    checked = run(resources, selection=dg.AssetSelection.checks(every_inventory_object_in_d1))
    (evaluation,) = checked.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["missing"].value == 1
    assert "b.wav" in evaluation.metadata["missing_preview"].value


def test_the_demo_mirror_on_the_local_profile(local_store, local_d1, capsys):
    put_objects(local_store, {"campaign/audio/1.wav": b"one", "campaign/audio/2.wav": b""})
    first = mirror_bucket_to_d1({"object_store": local_store, "d1": local_d1})
    assert first.success and "2 new, 0 already known" in str(first)
    second = mirror_bucket_to_d1({"object_store": local_store, "d1": local_d1}, echo=None)
    assert "0 new, 2 already known" in str(second) and "0 rows written" in str(second)
    out = capsys.readouterr().out
    assert "check every_inventory_object_in_d1: passed" in out
    # The first line says which file D1 is, and that wrangler does not read it.
    assert (
        f"D1 is a plain SQLite file, {local_d1.path} (open it with sqlite3; wrangler --local keeps its own file"
        in out
    )


def test_the_daily_schedule_materializes_both_at_0617_utc(local_store, local_d1):
    assert (
        b2_to_d1_daily.cron_schedule == "17 6 * * *" and b2_to_d1_daily.execution_timezone == "UTC"
    )
    loaded = dg.Definitions.merge(
        inventory_defs,
        dg.Definitions(
            resources={
                "object_store": local_store,
                "d1": local_d1,
                "inventory_options": InventoryOptionsResource(),
            }
        ),
    )
    job = loaded.resolve_job_def(b2_to_d1_daily.job_name)
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == {
        "b2_inventory",
        "d1_media_assets",
    }
    assert job.asset_layer.asset_graph.asset_check_keys  # the coverage check runs with them
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2025, 3, 1, 6, 17, tzinfo=UTC)
    )
    assert len(b2_to_d1_daily.evaluate_tick(context).run_requests) == 1
    put_objects(local_store, {"a.wav": b"a"})
    assert job.execute_in_process().success
