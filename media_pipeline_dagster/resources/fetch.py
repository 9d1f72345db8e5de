"""The fetch policy as a resource: which networks and which local folder untrusted URLs may reach."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import field_validator

from ..kernel.fetch import DEFAULT_MAX_REDIRECTS, FetchPolicy, parse_networks


class FetchPolicyResource(dg.ConfigurableResource):
    """Every URL fetched on behalf of data (CSV rows, recordings, gateway, transcription
    audio, webhooks) goes through this policy; see ``kernel/fetch.py``."""

    allow_networks: list[str] = []  # noqa: RUF012 (pydantic copies field defaults)
    # CIDRs of internal networks that may be fetched from, e.g. ["10.20.0.0/16"]
    local_audio_root: str | None = None  # file:// URLs are allowed only inside this folder
    max_redirects: int = DEFAULT_MAX_REDIRECTS

    @field_validator("allow_networks")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value

    def policy(self) -> FetchPolicy:
        return FetchPolicy(
            allowed_networks=parse_networks(self.allow_networks),
            local_root=Path(self.local_audio_root).expanduser().resolve()
            if self.local_audio_root
            else None,
            max_redirects=self.max_redirects,
        )
