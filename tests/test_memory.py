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


def _pool_backend(env_value: str | None, code: str) -> str:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_value is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_value
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120)
    return out.stdout.strip().splitlines()[-1]


def test_arrow_allocates_from_the_system_heap_in_a_run_unless_the_environment_chose() -> None:
    """mimalloc's per-thread heaps each kept their high-water mark: a 1M first sync peaked ~100 MiB
    higher with it. A run (and the CLI) switch Arrow to the system allocator; an explicit choice
    in the environment is kept."""
    probe = ("import pyarrow as pa; from bc2people.pipelines.memory import limit_arenas; limit_arenas(); "
             "pa.array([1, 2, 3]); print(pa.default_memory_pool().backend_name)")
    assert _pool_backend(None, probe) == "system"
    assert _pool_backend("mimalloc", probe) == "mimalloc"
    # the CLI sets it before any work: Arrow's C++ side reads it at its first allocation
    cli = ("import os, sys; from bc2people.pipelines import cli; sys.argv = ['bc2people', '--version']\n"
           "try:\n    cli.main(['--version'])\nexcept SystemExit:\n    pass\n"
           "print(os.environ.get('ARROW_DEFAULT_MEMORY_POOL'), file=sys.stderr)\n"
           "import pyarrow as pa; print(pa.default_memory_pool().backend_name)")
    assert _pool_backend(None, cli) == "system"
