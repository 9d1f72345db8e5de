"""``csv_inbox_sensor``: a new or changed CSV becomes campaign partitions and one run per campaign;
``recordings_sensor``: the same for new rows of ``public.recordings``."""

import json
from datetime import date
from pathlib import Path

import dagster as dg

from ..kernel.automation import campaign_runs
from ..kernel.partitions import in_partition_range
from ..resources.call_sources import CallSourcesResource
from ..resources.databases import RecordingsDatabaseResource
from ..resources.inbox import CsvInboxResource
from . import recordings_source
from .assets import audio_files
from .csv_source import file_sha256, inbox_files
from .inbox import INBOX_CHECK, check_evaluation, observation, scan_file

HASH_CHARS = 16  # enough to tell versions of a file apart, keeps the cursor small
CSV_FILES_TAG = (
    "media_pipeline/csv_files"  # for people; the run reads the files named in its config
)
TAG_CHARS = 200


def _load_cursor(text: str | None) -> tuple[dict[str, str], dict[str, dict], dict[str, list], bool]:
    """(file -> digest, file -> report summary, file -> [size, mtime_ns], whether the cursor
    predates the reports)."""
    data = json.loads(text) if text else {}
    if isinstance(data.get("files"), dict):
        return data["files"], data.get("reports") or {}, data.get("stats") or {}, False
    return data, {}, {}, bool(data)  # the earlier cursor was {file name: digest} alone


def _digest(path: Path, seen: dict[str, str], stats: dict[str, list]) -> tuple[str, list[int]]:
    """The file's digest, read again only when its size or modification time moved since the
    last tick: a thousand unchanged exports cost a thousand stat calls, not a re-read each."""
    st = path.stat()
    stat = [st.st_size, st.st_mtime_ns]
    if path.name in seen and stats.get(path.name) == stat:
        return seen[path.name], stat
    return file_sha256(path)[:HASH_CHARS], stat


@dg.sensor(
    target=[audio_files],
    minimum_interval_seconds=60,
    description=(
        "Watches the CSV inbox; a new or changed file adds its campaigns and requests one run per campaign "
        "that reads only that file. Unreadable files and rows without a partition are reported on csv_inbox."
    ),
)
def csv_inbox_sensor(
    context: dg.SensorEvaluationContext,
    csv_inbox: CsvInboxResource,
    call_sources: CallSourcesResource,
):
    seen, reports, seen_stats, legacy_cursor = _load_cursor(context.cursor)
    current: dict[str, str] = {}
    stats: dict[str, list[int]] = {}
    kept: dict[str, dict] = {}
    ranges: dict[str, tuple[date, date]] = {}
    sources: dict[str, list[str]] = {}
    events: list = []
    for path in inbox_files(csv_inbox.folder):
        try:
            digest, stats[path.name] = _digest(path, seen, seen_stats)
        except OSError:
            continue  # removed or renamed while we looked; the next tick sees what is there
        current[path.name] = digest
        unchanged = seen.get(path.name) == digest
        if unchanged and not legacy_cursor:
            if path.name in reports:
                kept[path.name] = reports[path.name]
            continue
        scan = scan_file(path, digest, call_sources.zone)
        events.append(observation(scan))
        if summary := scan.summary():
            kept[path.name] = summary
        if unchanged:
            continue  # read again only to report on it: its runs were requested before
        for slug, (lo, hi) in scan.ranges.items():
            old = ranges.get(slug, (lo, hi))
            ranges[slug] = (min(old[0], lo), max(old[1], hi))
            sources.setdefault(slug, []).append(path.name)
    if events or kept != reports:
        events.append(check_evaluation(kept))
    cursor = json.dumps({"files": current, "reports": kept, "stats": stats}, sort_keys=True)
    if not ranges:
        reason = (
            "no rows to ingest in the new or changed CSV files"
            if events
            else "no new or changed CSV files"
        )
        bad = [name for name, report in sorted(kept.items()) if report.get("problem")]
        if bad:
            reason += f"; unreadable (see the check {INBOX_CHECK} on csv_inbox): {', '.join(bad)}"
        return dg.SensorResult(
            skip_reason=dg.SkipReason(reason), cursor=cursor, asset_events=events
        )
    versions = {
        slug: sorted(f"{name}@{current[name]}" for name in names) for slug, names in sources.items()
    }
    return campaign_runs(
        context,
        ranges,
        run_key=lambda slug: f"{slug}:{'+'.join(versions[slug])}",
        cursor=cursor,
        tags=lambda slug: {CSV_FILES_TAG: ",".join(versions[slug])[:TAG_CHARS]},
        run_config=lambda slug: {
            "ops": {"audio_files": {"config": {"csv_files": sorted(sources[slug])}}}
        },
        asset_events=events,
        asset=audio_files.key,
    )


RECORDINGS_BATCH = 50_000


@dg.sensor(
    target=[audio_files],
    minimum_interval_seconds=300,
    description="Watches public.recordings by id; new rows add their campaigns and request one run per campaign.",
)
def recordings_sensor(
    context: dg.SensorEvaluationContext,
    recordings_db: RecordingsDatabaseResource,
    call_sources: CallSourcesResource,
):
    if not recordings_db.enabled:
        return dg.SkipReason("no recordings source configured (RECORDINGS_DATABASE_URL)")
    after = int(context.cursor or 0)
    known = recordings_source.campaigns(recordings_db.engine)
    days, last_id = recordings_source.new_call_days(
        recordings_db.engine, after, RECORDINGS_BATCH, known, call_sources.zone
    )
    days = {slug: {d for d in ds if in_partition_range(d)} for slug, ds in days.items()}
    days = {slug: ds for slug, ds in days.items() if ds}
    if not days:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"no new recordings after id {after}"), cursor=str(last_id)
        )
    return campaign_runs(
        context,
        {slug: (min(ds), max(ds)) for slug, ds in days.items()},
        run_key=lambda slug: f"recordings:{slug}:{after}-{last_id}",
        cursor=str(last_id),
        run_config=lambda slug: {
            "ops": {"audio_files": {"config": {"csv_files": []}}}
        },  # the CSV sensor has the files
        asset=audio_files.key,
    )
