"""The lane's backlog and lag for ``bc2people runs`` and ``bc2people reconcile``.

Read from the intake journal beside the DuckDB file, read-only and only when it exists (a job
that never ran the lane shows nothing, and no journal is created by looking).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from bc2people.pipelines.lane.intake import intake_path_for, intake_stats


def lane_report(duckdb_path: str | Path) -> dict[str, Any] | None:
    """`pipelines.lane.intake.intake_stats` of the journal beside ``duckdb_path``; None when
    there is none (or it cannot be read: the report is an extra, never an error)."""
    path = intake_path_for(duckdb_path)
    if not path.exists():
        return None
    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            return intake_stats(con)
        finally:
            con.close()
    except sqlite3.Error:
        return None


def format_lane(stats: dict[str, Any]) -> str:
    """Two lines for a terminal: backlog (pending, oldest) and lag (last hour, last applied)."""
    oldest = stats.get("oldest_pending_age_s")
    last = stats.get("last_processed_at")
    backlog = (f"Lane (webhooks): {stats['pending']} pending"
               + (f", oldest {_age(oldest)} old" if oldest is not None else "")
               + f"; {stats['done']} applied, {stats['ignored']} ignored, {stats['received']} received")
    if stats.get("lag_avg_s_last_hour") is None:
        lag = "  lag: nothing applied in the last hour"
    else:
        lag = (f"  lag (received -> applied, last hour): avg {stats['lag_avg_s_last_hour']:.1f} s, "
               f"max {stats['lag_max_s_last_hour']:.1f} s")
    if last:
        lag += f"; last applied {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(last))}"
    return backlog + "\n" + lag


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
