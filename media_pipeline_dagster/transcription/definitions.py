"""The transcription domain's Definitions, merged by the top-level definitions module."""

import dagster as dg

from .assets import transcriptions
from .sensors import pending_transcriptions_sensor

defs = dg.Definitions(assets=[transcriptions], sensors=[pending_transcriptions_sensor])
