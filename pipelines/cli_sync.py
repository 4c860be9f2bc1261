"""``bc2people sync``: run the nightly job once (see ``pipelines.sync.run_sync``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
from typing import Any

from bc2people.pipelines.cli_common import add_mapping, mapping_path, settings_epilog
from bc2people.pipelines.paths import DEFAULT_DUCKDB

DESCRIPTION = """Pull changed BigCommerce customers into DuckDB staging, map them with the YAML
mapping, and upsert into Infobip People only the persons whose mapped payload changed.
One run id from start to end; counts go to people_sync.runs and the reconciliation views."""

SYNC_EXIT_CODES = """exit codes:
  0  success (also a finished --dry-run)
  1  failure: the run is recorded as failed; nothing half-recorded, the next run picks up
     where this one stopped (also: interrupted, another run holds the file)
  2  configuration or mapping error, or a pre-flight check that failed (wrong store hash,
     token or key, a host name that does not resolve, an attribute type People has otherwise),
     found before anything is extracted; also credentials refused during the run
  3  finished, but records rejected (by the mapping + by People) exceeded --max-rejected-pct
     of the records the mapping processed in this run (and --max-rejected records); rejected
     events count too, against the events checked or sent in this run
"""


def register(subparsers: Any) -> None:
    """Add the ``sync`` command.

    Also installs the output redaction safety net for the whole CLI (the parser is built
    before any command runs, so every command's output and the dispatcher's error printing
    have the secrets from the environment masked); commands add dlt-resolved secrets later.
    """
    from bc2people.pipelines.output import install_redaction

    install_redaction(from_dlt=False)
    p = subparsers.add_parser(
        "sync",
        help="run the sync once: BigCommerce → DuckDB → People",
        description=DESCRIPTION,
        epilog=settings_epilog() + "\n" + SYNC_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_sync_arguments(p)
    p.set_defaults(func=main)


def add_sync_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``sync`` (shared with anything that wraps a run)."""
    add_mapping(p)
    p.add_argument("--duckdb", metavar="PATH", default=DEFAULT_DUCKDB, help=f"DuckDB file (default {DEFAULT_DUCKDB})")
    p.add_argument("--dry-run", action="store_true", help="stage and map, show what would be sent, send nothing")
    p.add_argument(
        "--full-refresh",
        action="store_true",
        help="re-read the whole store (the diff still sends only changed persons)",
    )
    p.add_argument(
        "--recheck-addresses",
        action="store_true",
        help="re-read every customer (orders stay incremental): address edits may not change a customer's "
        "date_modified; the diff still sends only changed persons. Schedule it, e.g. weekly",
    )
    p.add_argument(
        "--sweep-deletions",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="find customers deleted in the store (default on): counts per date_created range, listing only the "
        "ranges that changed; --no-sweep-deletions skips it",
    )
    p.add_argument(
        "--retry-rejected", action="store_true", help="re-send persons People rejected even if their payload is unchanged"
    )
    p.add_argument(
        "--backfill-events",
        metavar="DAYS",
        type=int,
        default=None,
        help="also send, for orders changed in the last DAYS days (at most 30), the events of event definitions "
        "that never sent any (a definition just added to the mapping); past events are never sent twice",
    )
    p.add_argument(
        "--max-rejected-pct",
        metavar="P",
        type=float,
        default=1.0,
        help="exit 3 when rejected records exceed P%% of the records the mapping processed in this run (default 1)",
    )
    p.add_argument(
        "--max-rejected",
        metavar="N",
        type=int,
        default=0,
        help="exit 3 only when more than N records were rejected as well (default 0): 3 of 70 on a quiet "
        "night need not be an alert",
    )
    p.add_argument("--no-check", action="store_true", help="skip the pre-flight checks (bc2people check) before extracting")
    p.add_argument(
        "--lock-wait",
        metavar="SECONDS",
        type=float,
        default=120.0,
        help="wait at most this long while another process holds the DuckDB file (default 120)",
    )
    p.add_argument(
        "--no-analysts-copy",
        action="store_true",
        help="do not publish the read-only analysts' copy (<duckdb>-analysts.duckdb) at the end",
    )
    p.add_argument("--json", action="store_true", help="the same as --log-format json: JSON log lines and summary")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="live progress line (default: on when stderr is a terminal)",
    )
    p.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log lines on stderr as text or JSON (default text)"
    )


def main(args: argparse.Namespace) -> int:
    """Run one sync and print its summary; returns the exit code."""
    from bc2people.pipelines.output import (
        Progress,
        event,
        format_diffs,
        format_run_summary,
        install_redaction,
        setup_logging,
    )
    from bc2people.pipelines.sync import SetupError, run_sync

    if getattr(args, "json", False):
        args.log_format = "json"
    install_redaction()
    setup_logging(args.log_format)
    _stop_on_sigterm()
    tty = sys.stderr.isatty() and args.log_format == "text"
    progress = Progress(live=tty if args.progress is None else bool(args.progress))
    try:
        result = run_sync(
            mapping_path(args),
            args.duckdb,
            dry_run=args.dry_run,
            full_refresh=args.full_refresh,
            sweep_deletions=args.sweep_deletions,
            recheck_addresses=args.recheck_addresses,
            retry_rejected=args.retry_rejected,
            max_rejected_pct=args.max_rejected_pct,
            progress=progress,
            backfill_events=args.backfill_events,
            max_rejected=args.max_rejected,
            check=not args.no_check,
            lock_wait_s=args.lock_wait,
            analysts_copy=not args.no_analysts_copy,
        )
    except SetupError as exc:
        if args.log_format == "json":
            event("run not started", level=logging.ERROR, error=str(exc), exit_code=exc.exit_code)
        else:
            print(f"bc2people: error: {exc}", file=sys.stderr)
        return exc.exit_code
    progress.done()
    summary = result.as_dict()
    if args.log_format == "json":
        print(json.dumps(summary, default=str))
    else:
        print(format_run_summary(summary, title="Dry run" if args.dry_run else "Run"))
        if args.dry_run and result.sample_diffs:
            print(format_diffs(result.sample_diffs))
    return result.exit_code


def _stop_on_sigterm() -> None:
    """Treat SIGTERM (cron timeouts, Airflow, systemd) like Ctrl-C: the run is recorded as failed.

    While dlt runs a step it intercepts the signal itself and stops at the next safe point;
    either way the run ends ``failed`` with "interrupted" instead of staying ``running``.
    """

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not in the main thread: leave signals alone
        signal.signal(signal.SIGTERM, interrupt)
