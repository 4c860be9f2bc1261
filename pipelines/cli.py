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

from bc2people.pipelines.cli_common import EXIT_CODES_EPILOG

# (module, attribute) pairs; each registers one or more sub-commands.
COMMAND_MODULES: tuple[str, ...] = (
    "bc2people.pipelines.cli_sync",
    "bc2people.pipelines.cli_check",
    "bc2people.pipelines.cli_plan",
    "bc2people.pipelines.cli_mapping",
    "bc2people.pipelines.cli_reconcile",
    "bc2people.pipelines.cli_lane",
    "bc2people.pipelines.demo",
    "bc2people.sandbox.cli",
    "bc2people.answers.cli",
)

def version() -> str:
    """The installed version of bc2people (``unknown`` when run from an uninstalled tree)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("bc2people")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, assembled from the command modules that exist."""
    parser = argparse.ArgumentParser(
        prog="bc2people",
        description="Sync BigCommerce customers into Infobip People; BigCommerce functions for Answers.",
        epilog=EXIT_CODES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bc2people {version()}")
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
    # Arrow's C++ side reads its allocator from the environment once, at its first allocation
    # (see `pipelines.memory.use_system_allocator`).
    from bc2people.pipelines.memory import arrow_allocator_choice

    arrow_allocator_choice()
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code = int(func(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the CLI is the last line; exit codes matter
        if os.environ.get("BC2PEOPLE_DEBUG"):
            raise
        code = getattr(exc, "exit_code", 1)
        print(f"bc2people: error: {exc}", file=sys.stderr)
        return code if isinstance(code, int) else 1


def _closed_pipe() -> int:
    """The reader went away (``| head``): stop quietly, as other command-line tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
