"""The calls domain's Definitions, merged by the top-level definitions module."""

import dagster as dg

from .assets import audio_files, csv_inbox, recordings_tables
from .checks import csv_files_readable
from .sensors import csv_inbox_sensor, recordings_sensor

defs = dg.Definitions(
    assets=[csv_inbox, recordings_tables, audio_files],
    asset_checks=[csv_files_readable],
    sensors=[csv_inbox_sensor, recordings_sensor],
)
