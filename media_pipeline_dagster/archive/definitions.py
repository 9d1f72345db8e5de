"""The archive domain's Definitions, merged by the top-level definitions module."""

import dagster as dg

from .assets import media_cache_source, post_media_archive, post_media_source
from .checks import archived_objects_exist, unarchived_rows_archivable
from .jobs import setup_archive_bucket
from .sensors import unarchived_post_media_sensor

defs = dg.Definitions(
    assets=[post_media_source, media_cache_source, post_media_archive],
    asset_checks=[archived_objects_exist, unarchived_rows_archivable],
    jobs=[setup_archive_bucket],
    sensors=[unarchived_post_media_sensor],
)
