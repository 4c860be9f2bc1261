"""``bc2people reconcile`` (where every customer stands) and ``bc2people runs`` (run history)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from bc2people.pipelines.cli_common import DatabaseBusy, NoDatabase, add_duckdb, add_json, open_readonly

__all__ = ["DatabaseBusy", "NoDatabase", "open_db", "reconcile_main", "register", "runs_main"]


def register(subparsers: Any) -> None:
    """Add the ``reconcile`` and ``runs`` commands."""
    p = subparsers.add_parser(
        "reconcile",
        help="where every staged customer stands in People (summary of the reconciliation views)",
        description="Summarise the people_sync reconciliation views: staged, mapped, pending, accepted, rejected.",
    )
    add_duckdb(p)
    add_json(p, "the summary")
    p.set_defaults(func=reconcile_main)

    r = subparsers.add_parser("runs", help="run history", description="The latest runs recorded in people_sync.runs.")
    add_duckdb(r)
    r.add_argument("--limit", metavar="N", type=int, default=20, help="how many runs, newest first (default 20)")
    add_json(r, "the runs")
    r.set_defaults(func=runs_main)


def open_db(path: str | Path, *, refresh_views: bool = True) -> Any:
    """Open the DuckDB file read-only (the analysts' copy while a run holds it).

    The reconciliation views are created by every run; ``refresh_views`` is kept for callers
    and ignored: a read-only command writes nothing.
    """
    con, _opened = open_readonly(path)
    return con


def reconcile_main(args: argparse.Namespace) -> int:
    """Print the reconciliation summary (and People error codes)."""
    from bc2people.pipelines.lane.report import format_lane, lane_report
    from bc2people.pipelines.output import format_pairs, format_table
    from bc2people.pipelines.reconcile import (
        missing_tables,
        people_errors,
        reconcile_overall,
        reconcile_summary,
    )

    con = open_db(args.duckdb)
    try:
        missing = missing_tables(con)
        if missing:
            raise NoDatabase(f"{args.duckdb} has nothing to reconcile yet (missing {', '.join(missing)})")
        lane = lane_report(args.duckdb)
        if args.json:
            doc = {"overall": reconcile_overall(con), "people_errors": people_errors(con)}
            if lane is not None:
                doc["lane"] = lane
            print(json.dumps(doc, default=str, indent=2))
            return 0
        print(format_pairs(reconcile_summary(con), title=f"Reconciliation of {args.duckdb}"))
        if lane is not None:
            print("\n" + format_lane(lane))
        errors = people_errors(con)
        if errors:
            print()
            rows = [[e["error_code"], e["customers"], _short(e["example_message"])] for e in errors]
            print(format_table(["People error", "customers", "example"], rows))
        print("\nDrill in: duckdb " + str(args.duckdb) + ' "FROM people_sync.customers_pending"')
        return 0
    finally:
        con.close()


def runs_main(args: argparse.Namespace) -> int:
    """Print the run history, newest first."""
    from bc2people.pipelines.lane.report import format_lane, lane_report
    from bc2people.pipelines.output import COMPACT_RUNS_COLUMNS, format_runs
    from bc2people.pipelines.reconcile import run_history

    con = open_db(args.duckdb, refresh_views=False)
    try:
        runs = run_history(con, args.limit)
    finally:
        con.close()
    if args.json:
        print(json.dumps(runs, default=str, indent=2))  # a list, as always (the lane: `reconcile --json`)
        return 0
    lane = lane_report(args.duckdb)
    if not runs:
        print(f"no runs recorded in {args.duckdb}", file=sys.stderr)
    else:
        table = format_runs(runs)
        if max(len(line) for line in table.splitlines()) > shutil.get_terminal_size((200, 24)).columns:
            table = format_runs(runs, COMPACT_RUNS_COLUMNS)  # narrow terminal: the essential columns
        print(table)
    if lane is not None:
        print(("\n" if runs else "") + format_lane(lane))
    return 0


def _short(text: Any, width: int = 70) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= width else s[: width - 1] + "…"
