"""The CSV inbox: a folder where call exports are dropped (MEDIA_PIPELINE_CSV_INBOX)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class CsvInboxResource(dg.ConfigurableResource):
    """A folder of CSV exports; only files directly inside it are read."""

    path: str

    @property
    def folder(self) -> Path:
        return Path(self.path).expanduser()
