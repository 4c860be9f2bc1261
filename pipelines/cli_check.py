"""``bc2people check``: the pre-flight checks of `pipelines.check`, on their own."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bc2people.pipelines.cli_common import (
    EXIT_CODES_EPILOG,
    add_json,
    add_mapping,
    mapping_path,
    settings_epilog,
)

DESCRIPTION = """Check, in seconds and before any extract, everything a run needs: the mapping,
the settings, both hosts (a name that does not resolve fails at once, naming it), the store
hash (404: wrong hash), the BigCommerce token and its scopes, the People key and its scope,
and that each custom attribute the mapping declares has the same type in People.
`bc2people sync` runs the same checks first."""


def register(subparsers: Any) -> None:
    """Add the ``check`` command."""
    p = subparsers.add_parser(
        "check",
        help="pre-flight: credentials, store hash, People key, mapping and attribute types",
        description=DESCRIPTION,
        epilog=settings_epilog() + "\n" + EXIT_CODES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_mapping(p)
    p.add_argument("--no-people", action="store_true", help="check only the BigCommerce side (as a --dry-run needs)")
    add_json(p, "the checks")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the checks and print them; the exit code is the worst failure's."""
    from bc2people.pipelines.check import preflight, render_text
    from bc2people.pipelines.output import install_redaction

    install_redaction()
    report = preflight(mapping_path(args), need_destination=not args.no_people)
    print(json.dumps(report.as_dict()) if args.json else render_text(report))
    return report.exit_code
