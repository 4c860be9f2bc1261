"""`fewer_collections`: the collector runs rarely inside a run and is restored after it, even
when the run raises; cycles made inside are still collected."""

from __future__ import annotations

import gc
import weakref

import pytest

from bc2people.pipelines.memory import fewer_collections


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_thresholds_change_inside_and_come_back_after_nested_blocks_and_errors() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        inside = gc.get_threshold()
        assert inside[0] > before[0]
        assert gc.get_freeze_count() > 0
        with fewer_collections():
            assert gc.get_threshold() == inside
        assert gc.get_threshold() == inside
        # the inner block left the outer one's freeze (an unfreeze would empty it; frozen objects
        # freed meanwhile by another thread make the count drift a little, so no exact figure)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_cycle_made_inside_the_block_is_still_collected() -> None:
    with fewer_collections():
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
        gc.collect()
        assert ref() is None


@fewer_collections()
def decorated() -> tuple[int, int, int]:
    return gc.get_threshold()


def test_the_block_decorates_a_function() -> None:
    before = gc.get_threshold()
    assert decorated()[0] > before[0]
    assert gc.get_threshold() == before
