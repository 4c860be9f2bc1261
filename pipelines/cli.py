"""The ``bc2people`` command line: a thin dispatcher over per-command modules.

Each command module exposes ``register(subparsers)`` and sets ``func(args) -> int`` on its
parsers; heavy imports (dlt, duckdb) happen inside those functions so ``--help`` stays fast.

Exit codes: 0 success; 1 failure; 2 configuration or mapping error; 3 finished but too many
records were rejected. An exception that carries an integer ``exit_code`` attribute ends
the process with that code and its message, never a traceback (set ``BC2PEOPLE_DEBUG=1``
to see one).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# (module, attribute) pairs; each registers one or more sub-commands.
COMMAND_MODULES: tuple[str, ...] = (
    "pipelines.cli_sync",
    "pipelines.cli_plan",
    "pipelines.cli_mapping",
    "pipelines.cli_reconcile",
    "pipelines.cli_lane",
    "pipelines.demo",
    "sandbox.cli",
    "answers.cli",
)

EPILOG = """exit codes:
  0  success
  1  failure (nothing half-recorded: the next run picks up where this one stopped)
  2  configuration or mapping error (found before any request is sent)
  3  finished, but rejected records exceeded --max-rejected-pct
"""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, assembled from the command modules that exist."""
    parser = argparse.ArgumentParser(
        prog="bc2people",
        description="Sync BigCommerce customers into Infobip People; BigCommerce functions for Answers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # command not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the CLI is the last line; exit codes matter
        if os.environ.get("BC2PEOPLE_DEBUG"):
            raise
        code = getattr(exc, "exit_code", 1)
        print(f"bc2people: error: {exc}", file=sys.stderr)
        return code if isinstance(code, int) else 1


if __name__ == "__main__":
    sys.exit(main())
