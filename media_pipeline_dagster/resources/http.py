"""How call audio is transferred: key prefix, timeouts, retries, transfer sizes."""

from __future__ import annotations

import dagster as dg

from ..kernel.fetch import FetchPolicy
from .transfer import MiB, TransferSettings

# The engine's defaults are the one source of truth; the resource only exposes them.
_DEFAULTS = TransferSettings()


class AudioTransferResource(dg.ConfigurableResource):
    """Defaults for audio transfers; per-run choices (concurrency, prefix override) come from run config."""

    key_prefix: str = ""
    connect_timeout_seconds: float = _DEFAULTS.connect_timeout
    read_timeout_seconds: float = _DEFAULTS.read_timeout
    max_attempts: int = _DEFAULTS.max_attempts
    backoff_base_seconds: float = _DEFAULTS.backoff_base
    backoff_max_seconds: float = _DEFAULTS.backoff_max
    multipart_threshold_mib: int = _DEFAULTS.multipart_threshold // MiB
    part_size_mib: int = _DEFAULTS.part_size // MiB
    part_concurrency: int = _DEFAULTS.part_concurrency
    memory_budget_mib: int = _DEFAULTS.memory_budget // MiB

    def transfer_settings(self, concurrency: int, fetch_policy: FetchPolicy) -> TransferSettings:
        return TransferSettings(
            fetch_policy=fetch_policy,
            concurrency=concurrency,
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.read_timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_base=self.backoff_base_seconds,
            backoff_max=self.backoff_max_seconds,
            multipart_threshold=self.multipart_threshold_mib * MiB,
            part_size=max(5, self.part_size_mib) * MiB,
            part_concurrency=self.part_concurrency,
            memory_budget=self.memory_budget_mib * MiB,
        )
