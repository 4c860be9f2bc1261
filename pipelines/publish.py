"""The analysts' copy: a read-only snapshot of the working DuckDB file, published after each run.

DuckDB lets one process write a file, and a writer cannot open a file another process holds
(even read-only). So the run keeps the working file (``bc2people.duckdb``) to itself and, at
the end of every run (successful or not), publishes ``bc2people-analysts.duckdb`` beside it:
checkpointed, copied to a temporary name, then atomically renamed over the previous copy. An
analyst with the old copy open keeps reading it undisturbed (POSIX rename keeps the open
file alive); the next session opens the new one. Read-only commands fall back to it while a
run holds the working file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ANALYSTS_SUFFIX = "-analysts"


def analysts_copy_path(duckdb_path: str | Path) -> Path:
    """``x.duckdb`` -> ``x-analysts.duckdb`` (beside it)."""
    p = Path(duckdb_path)
    return p.with_name(p.stem + ANALYSTS_SUFFIX + (p.suffix or ".duckdb"))


def publish(duckdb_path: str | Path) -> Path:
    """Checkpoint the working file and atomically replace the analysts' copy with it; returns its path.

    Call it while no connection to the working file is open (the run lock is held).
    """
    import duckdb

    src = Path(duckdb_path)
    dest = analysts_copy_path(src)
    con = duckdb.connect(str(src))
    try:
        con.execute("CHECKPOINT")
    finally:
        con.close()
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest
