"""``csv_inbox_sensor``: a new or changed CSV becomes campaign partitions and one run per campaign."""


import json
from collections.abc import Callable
from datetime import date

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from ..resources.databases import RecordingsDatabaseResource
from ..resources.inbox import CsvInboxResource
from . import recordings_source
from .assets import audio_files
from .csv_source import CsvSchemaError, file_sha256, inbox_files, read_csv
from .partitions import campaigns_partitions, in_partition_range, partition_key

HASH_CHARS = 16  # enough to tell versions of a file apart, keeps the cursor small


def campaign_date_ranges(path) -> tuple[dict[str, tuple[date, date]], int]:
    """slug -> (first day, last day) of the file's valid rows; and how many rows fall before the partitions start."""
    ranges: dict[str, tuple[date, date]] = {}
    too_old = 0
    for row in read_csv(path).rows:
        if not in_partition_range(row.call_date):
            too_old += 1
            continue
        lo, hi = ranges.get(row.campaign_slug, (row.call_date, row.call_date))
        ranges[row.campaign_slug] = (min(lo, row.call_date), max(hi, row.call_date))
    return ranges, too_old


def campaign_runs(
    context: dg.SensorEvaluationContext,
    ranges: dict[str, tuple[date, date]],
    run_key: Callable[[str], str],
    cursor: str,
    tags: Callable[[str], dict[str, str]] = lambda slug: {},
    asset: dg.AssetKey | None = None,
) -> dg.SensorResult:
    """One run per campaign over its date range, adding campaigns the instance does not know.

    ``asset`` is stored as the run's asset selection, which the UI shows as the run's target
    (without it a sensor's run lists no asset)."""
    known = set(context.instance.get_dynamic_partitions(campaigns_partitions.name))
    new_campaigns = sorted(set(ranges) - known)
    run_requests = [
        dg.RunRequest(
            run_key=run_key(slug),
            tags={
                ASSET_PARTITION_RANGE_START_TAG: str(partition_key(slug, lo)),
                ASSET_PARTITION_RANGE_END_TAG: str(partition_key(slug, hi)),
                **tags(slug),
            },
            asset_selection=[asset] if asset else None,
        )
        for slug, (lo, hi) in sorted(ranges.items())
    ]
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[campaigns_partitions.build_add_request(new_campaigns)] if new_campaigns else [],
        cursor=cursor,
    )


@dg.sensor(
    target=[audio_files],
    minimum_interval_seconds=60,
    description="Watches the CSV inbox; a new or changed file adds its campaigns and requests one run per campaign.",
)
def csv_inbox_sensor(context: dg.SensorEvaluationContext, csv_inbox: CsvInboxResource):
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current: dict[str, str] = {}
    ranges: dict[str, tuple[date, date]] = {}
    sources: dict[str, list[str]] = {}
    problems: list[str] = []
    for path in inbox_files(csv_inbox.folder):
        digest = file_sha256(path)[:HASH_CHARS]
        current[path.name] = digest
        if seen.get(path.name) == digest:
            continue
        try:
            file_ranges, too_old = campaign_date_ranges(path)
        except CsvSchemaError as exc:
            problems.append(str(exc))
            continue
        if too_old:
            context.log.warning(f"{path.name}: {too_old} rows start before the first call-date partition; they are not ingested")
        for slug, (lo, hi) in file_ranges.items():
            old = ranges.get(slug, (lo, hi))
            ranges[slug] = (min(old[0], lo), max(old[1], hi))
            sources.setdefault(slug, []).append(f"{path.name}@{digest}")
    for problem in problems:
        context.log.error(problem)
    if not ranges:
        return dg.SensorResult(
            skip_reason=dg.SkipReason("; ".join(problems) if problems else "no new or changed CSV files"),
            cursor=json.dumps(current, sort_keys=True),
        )
    return campaign_runs(
        context,
        ranges,
        run_key=lambda slug: f"{slug}:{'+'.join(sorted(sources[slug]))}",
        cursor=json.dumps(current, sort_keys=True),
        tags=lambda slug: {"media_pipeline/csv_files": ",".join(sorted(sources[slug]))[:200]},
        asset=audio_files.key,
    )


RECORDINGS_BATCH = 50_000


@dg.sensor(
    target=[audio_files],
    minimum_interval_seconds=300,
    description="Watches public.recordings by id; new rows add their campaigns and request one run per campaign.",
)
def recordings_sensor(context: dg.SensorEvaluationContext, recordings_db: RecordingsDatabaseResource):
    if not recordings_db.enabled:
        return dg.SkipReason("no recordings source configured (RECORDINGS_DATABASE_URL)")
    after = int(context.cursor or 0)
    known = recordings_source.campaigns(recordings_db.engine)
    days, last_id = recordings_source.new_call_days(recordings_db.engine, after, RECORDINGS_BATCH, known)
    days = {slug: {d for d in ds if in_partition_range(d)} for slug, ds in days.items()}
    days = {slug: ds for slug, ds in days.items() if ds}
    if not days:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no new recordings after id {after}"), cursor=str(last_id))
    return campaign_runs(
        context,
        {slug: (min(ds), max(ds)) for slug, ds in days.items()},
        run_key=lambda slug: f"recordings:{slug}:{after}-{last_id}",
        cursor=str(last_id),
        asset=audio_files.key,
    )
