"""heap_frozen: collections skip the earlier heap inside the block, and nothing stays frozen."""

from __future__ import annotations

import gc
import weakref

import pytest

from media_pipeline_dagster.kernel.heap import heap_frozen


class _Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the collector frees it


def test_the_earlier_heap_is_out_of_sight_inside_and_handed_back_after():
    gc.collect()
    node = _Node()
    alive = weakref.ref(node)
    with heap_frozen():
        assert gc.get_freeze_count() > 0
        del node
        gc.collect()
        assert alive() is not None  # frozen: a full collection does not look at it
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None  # handed back: the cycle is collected as usual


def test_an_error_inside_still_unfreezes():
    with pytest.raises(RuntimeError), heap_frozen():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0
