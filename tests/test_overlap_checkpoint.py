"""The overlapped run's checkpointer (`pipelines.overlap._Checkpointer`): it folds the WAL into
the file while other connections keep writing, in the gaps between their transactions, and
never makes a writer wait; below its threshold it does nothing."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from bc2people.pipelines.overlap import _Checkpointer


def _wal(path: Path) -> int:
    wal = Path(f"{path}.wal")
    return wal.stat().st_size if wal.exists() else 0


def _with_wal(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT range AS i, 'x' AS s FROM range(50000)")
    con.execute("CHECKPOINT")
    con.execute("UPDATE t SET s = s || 'y' WHERE i % 2 = 0")  # updates are logged, not written out
    assert _wal(path) > 100_000
    return con


def _until(check: object, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_checkpoints_in_the_gaps_of_an_open_writer(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    con = _with_wal(path)
    writer = con.cursor()
    writer.execute("BEGIN TRANSACTION")
    writer.execute("UPDATE t SET s = 'open' WHERE i = 1")  # an open update: DuckDB refuses a CHECKPOINT
    cp = _Checkpointer(path, threshold=1, every_s=0.02)
    cp.start()
    try:
        assert _until(lambda: cp.refused >= 3)
        assert cp.done == 0 and _wal(path) > 0
        t0 = time.monotonic()
        writer.execute("UPDATE t SET s = 'again' WHERE i = 3")  # the writer is never made to wait
        writer.execute("COMMIT")
        assert time.monotonic() - t0 < 1.0
        assert _until(lambda: cp.done >= 1 and _wal(path) == 0)
    finally:
        cp.close()
    assert con.execute("SELECT s FROM t WHERE i IN (1, 3) ORDER BY i").fetchall() == [("open",), ("again",)]


def test_does_nothing_below_its_threshold(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    con = _with_wal(path)  # held open: closing the last connection would checkpoint
    cp = _Checkpointer(path, threshold=2**40, every_s=0.02)
    cp.start()
    time.sleep(0.3)
    cp.close()
    assert cp.done == cp.refused == 0 and _wal(path) > 0
    con.close()


def test_the_segment_log_leaves_no_result_open(tmp_path: Path) -> None:
    """The memory figures logged after each segment are read to the end: an unfinished result
    (``fetchone``) held its transaction open on the pusher's long-lived connection, and DuckDB
    refused every CHECKPOINT of the run after the first segment."""
    from bc2people.pipelines.memory import memory_figures

    path = tmp_path / "c.duckdb"
    con = _with_wal(path)
    long_lived = duckdb.connect(str(path))
    figures = memory_figures(long_lived)
    assert figures["duckdb_mib"] >= 0 and figures["rss_mib"] > 0
    con.execute("UPDATE t SET s = 'later' WHERE i = 2")  # newer than the long-lived connection's reads
    con.execute("CHECKPOINT")  # would raise TransactionException with the result left open
    assert _wal(path) == 0
    long_lived.close()
