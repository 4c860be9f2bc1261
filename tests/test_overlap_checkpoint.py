"""`pipelines.overlap.checkpoint_when_free`: the WAL is folded into the file between segments
even though another thread keeps writing, and a writer that never yields costs a bounded wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb

from bc2people.pipelines.overlap import checkpoint_when_free


def _wal(path: Path) -> int:
    wal = Path(str(path) + ".wal")
    return wal.stat().st_size if wal.exists() else 0


def _with_wal(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT range AS i, 'x' AS s FROM range(50000)")
    con.execute("CHECKPOINT")
    con.execute("UPDATE t SET s = s || 'y' WHERE i % 2 = 0")  # updates are logged, not written out
    assert _wal(path) > 0
    return con


def test_waits_for_a_short_write_transaction_then_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    con = _with_wal(path)
    other = con.cursor()
    other.execute("BEGIN TRANSACTION")
    other.execute("UPDATE t SET s = 'open' WHERE i = 1")  # an open update blocks a plain CHECKPOINT
    with_plain = None
    try:
        con.execute("CHECKPOINT")
    except duckdb.TransactionException as exc:  # what DuckDB does while another writer is open
        with_plain = exc
    assert with_plain is not None
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    t0 = time.monotonic()
    assert checkpoint_when_free(con, patience_s=5.0)
    assert 0.2 < time.monotonic() - t0 < 5.0
    assert _wal(path) == 0
    assert con.execute("SELECT count(*) FROM t WHERE s = 'open'").fetchone() == (1,)


def test_gives_up_after_its_patience_without_failing(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    con = _with_wal(path)
    other = con.cursor()
    other.execute("BEGIN TRANSACTION")
    other.execute("UPDATE t SET s = 'open' WHERE i = 1")  # an open update blocks a plain CHECKPOINT
    t0 = time.monotonic()
    assert not checkpoint_when_free(con, patience_s=0.3)
    assert 0.3 <= time.monotonic() - t0 < 3.0
    assert _wal(path) > 0
    other.execute("COMMIT")
    assert checkpoint_when_free(con, patience_s=0.3)
