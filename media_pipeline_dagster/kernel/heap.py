"""Garbage collection around a long, allocation-heavy stretch of a run.

A run's process holds Dagster and the definitions, some 300,000 objects that live as long
as the process. A full collection traverses all of them; the transfers of one partition
allocate enough to trigger one about every other run, at about 0.3 CPU s each on these
machines (benchmarks/ingest.py: half the asset's client CPU for 20 files of 16 MiB).
``gc.freeze()`` moves the objects existing so far out of the collector's sight for the
block; ``gc.unfreeze()`` hands them back, so nothing stays uncollectable afterwards.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Collections inside the block skip every object that existed before it (not nestable:
    the inner block's end would hand the outer's objects back early, which costs only time)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
