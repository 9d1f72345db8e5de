"""Call audio: CSV exports and the recordings tables -> B2 objects -> media_pipeline.audio_files."""

import dagster as dg

from .assets import audio_files, csv_inbox, recordings_tables
from .sensors import csv_inbox_sensor

defs = dg.Definitions(
    assets=[csv_inbox, recordings_tables, audio_files],
    sensors=[csv_inbox_sensor],
)
