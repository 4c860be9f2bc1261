"""Mapping in a worker process (`pipelines.core.offload`): the same selection as in-process,
a failing worker fails the run cleanly (and the next run works), and a killed sync leaves no
worker behind."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bc2people.pipelines.core import offload
from bc2people.pipelines.core.model import Selected
from bc2people.pipelines.core.plan import merge_selected, select_chunks
from bc2people.pipelines.ledger import ensure_ledger
from bc2people.pipelines.mapping import load_mapping, load_mapping_bytes
from bc2people.pipelines.push import person_spec, traits_of
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers, generate_orders, nasty_customers
from tests.fixtures_push import stage_real

STORE = "sandbox1"

REPO = Path(__file__).resolve().parents[1]
MAPPING = REPO / "mappings" / "customers_to_people.yaml"


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated and hostile customers with orders (so traits are attached), really staged."""
    db = tmp_path_factory.mktemp("worker") / "w.duckdb"
    customers = generate_customers(300, seed=21) + nasty_customers(60, seed=21, start_id=5000)
    with BigCommerceSandbox(store_hash=STORE, access_token="sandbox-token") as bc:
        bc.add_customers(json.loads(json.dumps(customers)))
        bc.commerce.add_orders(generate_orders(customers[:300], seed=21))
        stage_real(bc, db)
    return db


def _select(con: Any, spec: Any, chunk_size: int = 50) -> Selected:
    out = Selected()
    for part in select_chunks(con, spec, "r1", sample=25, chunk_size=chunk_size):
        merge_selected(out, part)
    return out


def test_the_worker_selects_exactly_what_the_process_itself_selects(staged: Path) -> None:
    mapping = load_mapping(MAPPING)
    con = duckdb.connect(str(staged))
    try:
        ensure_ledger(con)
        traits = traits_of(con, mapping, None)
        assert traits is not None
        spec = person_spec(mapping, STORE, traits, clear=("old_attr",))
        assert spec.offload is not None
        here = _select(con, replace(spec, offload=None))
        there = _select(con, replace(spec, offload=replace(spec.offload, min_records=1)))
    finally:
        con.close()
    assert here.counts["rejected_by_mapping"] > 0 and here.counts["mapped"] > 250 and here.drops
    assert any(json.loads(p["payload"]).get("customAttributes", {}).get("bc_order_count") for p in here.to_send)
    for name in ("to_send", "entries", "deletions", "drops", "sample_diffs"):
        assert getattr(there, name) == getattr(here, name), name
    assert there.counts == here.counts and there.dropped == here.dropped
    usage = offload.worker_usage()
    assert usage is not None and usage["peak_rss_mib"] > 10 and usage["cpu_s"] > 0


def test_small_selections_and_mappings_without_text_stay_in_process(staged: Path) -> None:
    mapping = load_mapping(MAPPING)
    spec = person_spec(mapping, STORE)
    assert spec.offload is not None and spec.offload.min_records == 10_000
    assert person_spec(replace(mapping, source=None), STORE).offload is None
    with pytest.raises(TypeError, match="without its text"):
        pickle.dumps(replace(mapping, source=None))
    again = pickle.loads(pickle.dumps(mapping))  # noqa: S301 - our own object
    assert again.sha256 == mapping.sha256 and again.map({"id": 7, "email": "a@example.com"}, {"store_hash": "s"}) \
        == mapping.map({"id": 7, "email": "a@example.com"}, {"store_hash": "s"})


def test_the_switch_turns_the_worker_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC__MAP_WORKER", "false")
    assert person_spec(load_mapping(MAPPING), STORE).offload is None


class _Boom:
    """A recipe whose mapper cannot be built (in the worker)."""

    def __call__(self) -> Any:
        raise RuntimeError("cannot build this mapper")


@contextlib.contextmanager
def _worker_spec(staged: Path) -> Iterator[tuple[Any, Any]]:
    """A connection to the staged file and the persons spec mapping every selection in the worker."""
    con = duckdb.connect(str(staged))
    try:
        ensure_ledger(con)
        spec = person_spec(load_mapping(MAPPING), STORE)
        assert spec.offload is not None
        yield con, replace(spec, offload=replace(spec.offload, min_records=1))
    finally:
        con.close()


def test_a_worker_that_fails_fails_the_selection_and_the_next_one_works(staged: Path) -> None:
    with _worker_spec(staged) as (con, spec):
        broken = replace(spec, offload=replace(spec.offload, recipe=_Boom(), key="boom"))
        with pytest.raises(offload.WorkerFailed, match="cannot build this mapper"):
            _select(con, broken)
        assert _select(con, spec).counts["mapped"] > 250


def test_a_worker_that_dies_is_replaced_by_the_next_selection(staged: Path) -> None:
    with _worker_spec(staged) as (con, spec):
        _select(con, spec)
        worker = offload._worker
        assert worker is not None
        os.kill(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait(timeout=10)
        assert _select(con, spec).counts["mapped"] > 250
        assert offload._worker is not worker


def test_a_worker_stopped_and_continued_mid_answer_still_answers_whole(staged: Path) -> None:
    """Ctrl-Z then `fg` stops the worker mid-write: its answers (hundreds of KB, more than a pipe
    holds) must arrive whole, not cut where the stop fell (a cut answer left the reader waiting
    for bytes that never came)."""
    with _worker_spec(staged) as (con, spec):
        expected = _select(con, replace(spec, offload=None), chunk_size=400)
        pid = offload._get_worker().proc.pid
        done = threading.Event()
        selected: list[Selected] = []

        def stop_and_continue() -> None:
            while not done.is_set():
                time.sleep(0.002)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
                    time.sleep(0.001)
                    os.kill(pid, signal.SIGCONT)

        def select_repeatedly() -> None:
            for _ in range(15):
                selected.append(_select(con, spec, chunk_size=400))

        pester = threading.Thread(target=stop_and_continue, daemon=True)
        pester.start()
        selecting = threading.Thread(target=select_repeatedly, daemon=True)
        selecting.start()
        selecting.join(timeout=60)
        done.set()
        pester.join()
        with contextlib.suppress(ProcessLookupError):  # never leave the worker stopped
            os.kill(pid, signal.SIGCONT)
        if selecting.is_alive():
            os.kill(pid, signal.SIGKILL)  # unblocks the selection, which then fails
            selecting.join(timeout=10)
            pytest.fail(f"the selection hung after {len(selected)} of 15 selections")
        assert len(selected) == 15
        for got in selected:
            assert got.to_send == expected.to_send and got.counts == expected.counts
        assert offload._worker is not None and offload._worker.proc.pid == pid  # the same worker throughout


KILLED_PARENT = r"""
import sys, duckdb
from dataclasses import replace
from bc2people.pipelines.core.plan import select_chunks
from bc2people.pipelines.core import offload
from bc2people.pipelines.ledger import ensure_ledger
from bc2people.pipelines.mapping import load_mapping
from bc2people.pipelines.push import person_spec
con = duckdb.connect(sys.argv[1])
ensure_ledger(con)
spec = person_spec(load_mapping(sys.argv[2]), "s1")
spec = replace(spec, offload=replace(spec.offload, min_records=1))
parts = select_chunks(con, spec, "r1", chunk_size=10)
next(parts); next(parts)
print(offload._worker.proc.pid, flush=True)
import time; time.sleep(60)
"""


def test_a_killed_sync_leaves_no_worker_behind(staged: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    db.write_bytes(staged.read_bytes())
    parent = subprocess.Popen([sys.executable, "-c", KILLED_PARENT, str(db), str(MAPPING)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    os.kill(pid, 0)  # the worker runs
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_mapping_text_round_trips_with_its_traits(tmp_path: Path) -> None:
    text = MAPPING.read_bytes()
    m = load_mapping_bytes(text, str(MAPPING))
    assert m.source == text and pickle.loads(pickle.dumps(m)).sha256 == m.sha256  # noqa: S301


def test_a_garbled_frame_size_is_an_error_not_a_wait_for_bytes_that_never_come() -> None:
    import io

    whole = io.BytesIO((5).to_bytes(8, "little") + b"hello")
    assert offload._read_frame(whole) == b"hello" and offload._read_frame(whole) is None
    with pytest.raises(ValueError, match="garbled"):
        offload._read_frame(io.BytesIO(b'{"addres' + b"x" * 64))
