"""From the sensor to the run, as the daemon does it: each run reads only the files it was
asked to ingest, so one bad file never costs the good ones their rows."""

from __future__ import annotations

import dagster as dg

from media_pipeline_dagster.calls.sensors import csv_inbox_sensor

from .helpers import catalog_rows, metadata, run_requested, token, write_csv


def tick(instance, resources, cursor=None):
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"csv_inbox": resources["csv_inbox"], "call_sources": resources["call_sources"]},
    )
    result = csv_inbox_sensor(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_no_url_column_beside_a_good_file_costs_the_good_file_nothing(
    instance, pipeline_resources, inbox, origin
):
    t = token()
    urls = [origin.url(f"/gen/500/{t}/{i}.mp3") for i in range(12)]
    write_csv(inbox, [{"url": u} for u in urls], name="good.csv")
    (inbox / "no_url.csv").write_text(
        "phone,campaign_name,started\n+49,Dexter Outbound,2025-08-27T10:00:00Z\n", encoding="utf-8"
    )
    (request,) = tick(instance, pipeline_resources).run_requests
    result = run_requested(instance, pipeline_resources, request)
    meta = metadata(result)
    assert result.success and meta["new"] == 12
    assert [f["file"] for f in meta["csv_files_read"]] == ["good.csv"]
    assert sorted(r.url for r in catalog_rows(pipeline_resources)) == sorted(urls)


def test_latin1_and_utf16_files_beside_a_good_one_land_with_their_names(
    instance, pipeline_resources, inbox, origin
):
    t = token()
    write_csv(inbox, [{"url": origin.url(f"/gen/300/{t}/good.mp3")}], name="good.csv")
    text = "phone;campaign_name;url;started\n+49 1;{campaign};{url};2025-08-27 10:00:00\n"
    (inbox / "latin1.csv").write_bytes(
        text.format(campaign="Dexter Süd", url=origin.url(f"/gen/300/{t}/latin1.mp3")).encode(
            "latin-1"
        )
    )
    (inbox / "utf16.csv").write_text(
        text.format(campaign="Dexter Nord – Köln", url=origin.url(f"/gen/300/{t}/utf16.mp3")),
        encoding="utf-16",
    )
    requests = tick(instance, pipeline_resources).run_requests
    assert len(requests) == 3
    for request in requests:
        assert metadata(run_requested(instance, pipeline_resources, request))["new"] == 1
    names = {r.url.rsplit("/", 1)[1]: r.campaign_name for r in catalog_rows(pipeline_resources)}
    assert names == {
        "good.mp3": "Dexter Outbound",
        "latin1.mp3": "Dexter Süd",
        "utf16.mp3": "Dexter Nord – Köln",
    }


def test_a_run_reads_only_the_rows_of_its_partitions_and_files(
    instance, pipeline_resources, inbox, origin
):
    t = token()
    write_csv(inbox, [{"url": origin.url(f"/gen/300/{t}/a.mp3")}], name="a.csv")
    first = tick(instance, pipeline_resources)
    write_csv(inbox, [{"url": origin.url(f"/gen/300/{t}/b.mp3")}], name="b.csv")
    second = tick(instance, pipeline_resources, cursor=first.cursor)
    (request,) = second.run_requests  # b.csv only: a.csv did not change
    meta = metadata(run_requested(instance, pipeline_resources, request))
    assert meta["new"] == 1 and [f["file"] for f in meta["csv_files_read"]] == ["b.csv"]
    assert [r.url for r in catalog_rows(pipeline_resources)] == [origin.url(f"/gen/300/{t}/b.mp3")]
