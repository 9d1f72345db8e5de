"""``unarchived_post_media_sensor``: months with rows waiting for an archive_url get a run.

A month is requested when its rows change (count or newest created_at: new media were
cached) and again once a day while some of its rows stay unarchived (an S3 outage, a
file that shows up later). Archiving a month does not change its signature, so a
finished month is not requested again. The cursor is JSON {month: [signature, day]}.
"""

import json
from datetime import UTC, datetime

import dagster as dg

from ..resources.archive import PostMediaDatabaseResource
from . import queries
from .assets import post_media_archive
from .partitions import post_media_months

RETRY_AFTER_DAYS = 1


def _due(previous: list | None, signature: str, today: str) -> bool:
    if not previous or previous[0] != signature:
        return True
    last = datetime.strptime(previous[1], "%Y-%m-%d").date()
    return (datetime.strptime(today, "%Y-%m-%d").date() - last).days >= RETRY_AFTER_DAYS


@dg.sensor(
    target=[post_media_archive],
    minimum_interval_seconds=300,
    description="Requests a post_media_archive run for each month whose rows changed and still lack archive_url "
    "(and once a day while some stay unarchived).",
)
def unarchived_post_media_sensor(
    context: dg.SensorEvaluationContext, post_media_db: PostMediaDatabaseResource
):
    now = datetime.now(UTC)
    today = now.strftime("%Y-%m-%d")
    seen: dict[str, list] = json.loads(context.cursor) if context.cursor else {}
    valid = set(post_media_months.get_partition_keys(current_time=now))
    with post_media_db.engine.connect() as conn:
        months = queries.months_with_unarchived_rows(conn)
    cursor: dict[str, list] = {}
    requests, outside = [], []
    for state in months:
        key = f"{state.month}-01"
        if key not in valid:
            outside.append(state.month)
            continue
        signature = f"{state.rows}:{state.newest}"
        if _due(seen.get(key), signature, today):
            requests.append(
                dg.RunRequest(
                    partition_key=key,
                    run_key=f"{key}:{signature}:{today}",
                    tags={"media_pipeline/unarchived_rows": str(state.unarchived)},
                    asset_selection=[post_media_archive.key],  # the UI's Target column shows it
                )
            )
            cursor[key] = [signature, today]
        else:
            cursor[key] = seen[key]
    if outside:
        context.log.warning(
            f"unarchived rows dated outside the partitions ({', '.join(outside[:5])}); see include_unpartitioned"
        )
    if not requests:
        waiting = f"{len(months)} month{'s' if len(months) != 1 else ''} still {'have' if len(months) != 1 else 'has'} some"
        skip = dg.SkipReason(f"no month with new or retryable unarchived rows ({waiting})")
        return dg.SensorResult(skip_reason=skip, cursor=json.dumps(cursor, sort_keys=True))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor, sort_keys=True))
