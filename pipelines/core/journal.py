"""The outcome journal: a delivery's recorded batches, on disk until the ledger holds them.

The destination's sink calls the `Recorder` after each request; the ledger writes the batch
later, on its own thread (`Ledger.write_behind`), so that the target's requests never wait for
the database: a DuckDB checkpoint makes every commit wait, 0.7-10 s at a time in a
first sync of a million records, and the load workers stopped sending meanwhile. Before the sink
returns (and dlt counts the batch as sent), the batch's ledger entries are written here, one
Arrow IPC file per batch (written aside, then renamed: a kill leaves the whole file or none);
once the ledger has committed them the file is deleted. A run killed in between leaves files
that the next run writes to the ledger first (`pipelines.core.deliver.replay_journal`), before
it resumes or selects anything, so the ledger still learns of every record the target has.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SUFFIX = ".arrow"
_PARTIAL = ".partial"
_SEQ = itertools.count()
ACCEPTED_BEFORE = "accepted_before"  # the column kept beside the ledger's batch table


class OutcomeJournal:
    """One folder of journaled batches, oldest first by name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def keep(self, table: Any, accepted_before: Sequence[bool | None]) -> Path:
        """Write one batch: the ledger's table of its entries (`Ledger.entries_table`) and, per
        row, whether the target had accepted the key before; returns its file."""
        import pyarrow as pa
        import pyarrow.ipc as ipc

        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(_SEQ):08d}{SUFFIX}"
        path = self.folder / name
        partial = path.with_name(name + _PARTIAL)
        table = table.append_column(ACCEPTED_BEFORE, pa.array(accepted_before, type=pa.bool_()))
        with ipc.new_file(str(partial), table.schema) as out:
            out.write_table(table)
        os.replace(partial, path)
        return path

    def pending(self) -> list[Path]:
        """The batches not yet known to be in the ledger, oldest first (partial files, whose
        batch dlt never counted as sent, are deleted)."""
        if not self.folder.is_dir():
            return []
        for p in self.folder.glob(f"*{_PARTIAL}"):
            with contextlib.suppress(OSError):
                p.unlink()
        return sorted(self.folder.glob(f"*{SUFFIX}"))

    @staticmethod
    def read(path: Path) -> Any:
        """One journaled batch's table (with its `ACCEPTED_BEFORE` column)."""
        import pyarrow.ipc as ipc

        with ipc.open_file(str(path)) as f:
            return f.read_all()

    @staticmethod
    def discard(path: Path) -> None:
        """Forget a batch the ledger holds (a file already gone is fine)."""
        with contextlib.suppress(OSError):
            path.unlink()
