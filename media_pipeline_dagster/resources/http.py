"""How call audio is transferred: key prefix, timeouts, retries, transfer sizes."""

from __future__ import annotations

import dagster as dg

from ..calls.transfer import MiB, TransferSettings


class AudioTransferResource(dg.ConfigurableResource):
    """Defaults for audio transfers; per-run choices (concurrency, prefix override) come from run config."""

    key_prefix: str = ""
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    max_attempts: int = 4
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    multipart_threshold_mib: int = 16
    part_size_mib: int = 5
    part_concurrency: int = 1
    memory_budget_mib: int = 256

    def transfer_settings(self, concurrency: int) -> TransferSettings:
        return TransferSettings(
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
