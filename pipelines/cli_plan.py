"""``bc2people plan``: show what the next sync would send to People, sending nothing."""

from __future__ import annotations

import argparse
from typing import Any

from bc2people.pipelines.cli_common import EXIT_REJECTED, add_duckdb, add_json, add_mapping, mapping_path

DESCRIPTION = """Map the staged customers that changed, diff them against the last payloads
sent to People, and show counts of creates / updates / unchanged / rejects with a sample of
field-level diffs. Reads the DuckDB file only: no request is sent, nothing is written.
(`bc2people sync --dry-run` also stages first.) With --match it also asks People's match
endpoint (read-only) how many customers would attach to a person People already has (same
email/phone, no externalId of ours), would conflict (409100), or would be new.)"""


def register(subparsers: Any) -> None:
    """Add the ``plan`` command."""
    p = subparsers.add_parser(
        "plan",
        help="dry run: what the next push would send (nothing is sent)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_mapping(p)
    add_duckdb(p)
    add_json(p, "the plan")
    p.add_argument("--max-rejected-pct", metavar="P", type=float, default=1.0,
                   help="exit 3, as the run would, when the mapping would reject more than P%% of the records "
                        "it maps (default 1)")
    p.add_argument("--max-rejected", metavar="N", type=int, default=0,
                   help="... and more than N records (default 0)")
    p.add_argument("--sample", metavar="N", type=int, default=10, help="how many diffs to show (default 10)")
    p.add_argument("--match", action="store_true",
                   help="also ask People (match endpoint, read-only) how many customers would attach to an "
                        "existing person, conflict (409100) or be new; needs the People settings")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the plan and print it; exit 2 on a bad mapping or missing store hash."""
    from bc2people.pipelines.config import STORE_HASH, ConfigError, lookup
    from bc2people.pipelines.mapping import load_mapping
    from bc2people.pipelines.plan import plan, render_json, render_text

    if args.sample < 0:
        raise ConfigError("--sample must be 0 or more")
    if args.max_rejected_pct < 0 or args.max_rejected < 0:
        raise ConfigError("--max-rejected-pct and --max-rejected must be 0 or more")
    mapping = load_mapping(mapping_path(args))
    store_hash = lookup(STORE_HASH)
    if not store_hash:
        raise ConfigError(f"{STORE_HASH.label} is not set: {STORE_HASH.how_to_set()}")
    result = plan(args.duckdb, mapping, store_hash=store_hash, sample=args.sample)
    if getattr(args, "match", False):
        from bc2people.destinations.people.destination import load_people_config
        from bc2people.pipelines.plan_match import match_report

        client = load_people_config().client()
        result.match = match_report(args.duckdb, mapping, store_hash=store_hash, client=client,
                                    sample=args.sample).as_dict()
    from bc2people.pipelines.sync import threshold_breach

    result.threshold = threshold_breach(result.processed, args.max_rejected_pct, args.max_rejected)
    print(render_json(result) if args.json else render_text(result))
    return EXIT_REJECTED if result.threshold else 0
