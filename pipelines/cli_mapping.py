"""``bc2people mapping check|preview``: validate a mapping file, or try it on staged customers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bc2people.pipelines.cli_common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    NoDatabase,
    add_duckdb,
    add_json,
    add_mapping,
    mapping_path,
    open_readonly,
)

EXIT_FAILURE, EXIT_MAPPING = EXIT_FAILED, EXIT_CONFIG
DEFAULT_STORE_HASH = "store"


def register(subparsers: Any) -> None:
    """Add ``mapping check`` and ``mapping preview``."""
    p = subparsers.add_parser("mapping", help="check a mapping file, or preview it on staged customers",
                              description="Work with the YAML files that map BigCommerce customers to People persons.")
    sub = p.add_subparsers(dest="mapping_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), EXIT_MAPPING)[1])

    check = sub.add_parser("check", help="validate a mapping file (exit 0, or 2 with every error as file:line:col)",
                           description="Validate a mapping file without touching any record. Exit 0 when it is "
                                       "usable, 2 with every problem listed as file:line:col: field: message (hint).")
    add_mapping(check, legacy_positional=True)
    add_json(check, "the result")
    check.set_defaults(func=run_check)

    preview = sub.add_parser(
        "preview", help="map staged customers and show the source values and the People payload (or rejection)",
        description="Run a mapping over customers staged in DuckDB (dataset bigcommerce, table customers) and "
                    "show, per customer, the source values used and the People person produced, or why the "
                    "mapping rejected it. Nothing is sent anywhere.")
    add_mapping(preview, legacy_positional=True)
    preview.add_argument("--limit", type=int, default=10, metavar="N", help="show at most N customers (0 = all; default 10)")
    preview.add_argument("--customer-id", type=int, action="append", metavar="ID", dest="customer_ids",
                         help="only this customer id (repeatable)")
    add_json(preview, "one document with every record")
    add_duckdb(preview)
    preview.set_defaults(func=run_preview)


def _load(path: str) -> Any:
    """The compiled mapping, or None after printing every problem to stderr."""
    from bc2people.pipelines.mapping import MappingError, load_mapping

    try:
        return load_mapping(path)
    except FileNotFoundError:
        print(f"bc2people: error: mapping file not found: {path}", file=sys.stderr)
        return None
    except MappingError as exc:
        for issue in exc.issues:
            print(str(issue), file=sys.stderr)
        n = len(exc.issues)
        print(f"{path}: {n} error{'s' if n != 1 else ''}, mapping not usable", file=sys.stderr)
        return None


def run_check(args: argparse.Namespace) -> int:
    """``mapping check``: exit 0 with a short summary, or 2 with the errors."""
    path = mapping_path(args)
    mapping = _load(path)
    if mapping is None:
        return EXIT_MAPPING
    if args.json:
        print(json.dumps({"mapping": path, "ok": True, "version": mapping.version, "sha256": mapping.sha256,
                          "fields": len(mapping.plans), "targets": mapping.targets,
                          "custom_attributes": mapping.custom_attributes, "fixed_tags": mapping.fixed_tags,
                          "on_deleted": mapping.on_deleted}, default=str))
        return EXIT_OK
    attrs = ", ".join(f"{k} ({v})" for k, v in mapping.custom_attributes.items()) or "none"
    deleted = mapping.on_deleted["action"] + (f" {mapping.on_deleted['tag']}" if mapping.on_deleted["tag"] else "")
    print(f"OK {path}: version {mapping.version}, {len(mapping.plans)} fields -> "
          f"{len(mapping.targets)} People fields")
    print(f"  custom attributes: {attrs}")
    print(f"  fixed tags: {', '.join(mapping.fixed_tags) or 'none'}; on_deleted: {deleted}")
    events = mapping.events.definitions if mapping.events else []
    print(f"  events: {', '.join(f'{e.name} ({e.on}, {len(e.properties)} properties)' for e in events) or 'none'}")
    print(f"  sha256 {mapping.sha256}")
    return EXIT_OK


def store_hash_setting() -> tuple[str, bool]:
    """(store hash, whether it came from configuration) -- ``store`` when it is not set."""
    from bc2people.pipelines.config import STORE_HASH, lookup

    value = lookup(STORE_HASH)
    return (value, True) if value else (DEFAULT_STORE_HASH, False)


def run_preview(args: argparse.Namespace) -> int:
    """``mapping preview``: map staged customers and print what People would receive."""
    path = mapping_path(args)
    mapping = _load(path)
    if mapping is None:
        return EXIT_MAPPING
    if args.limit < 0:
        print("bc2people: error: --limit must be 0 (all) or more", file=sys.stderr)
        return EXIT_MAPPING
    db = Path(args.duckdb)
    if not db.exists():
        raise NoDatabase(f"no DuckDB file at {db}; stage customers first (bc2people sync --dry-run)")
    from bc2people.pipelines.staging import iter_staged_customers

    store_hash, configured = store_hash_setting()
    context = {"store_hash": store_hash}
    records = []
    con, _opened = open_readonly(db)
    try:
        for customer in iter_staged_customers(con, customer_ids=args.customer_ids):
            records.append(mapping.map(customer, context))
            if args.limit and len(records) >= args.limit:
                break
    finally:
        con.close()
    cut = bool(args.limit) and len(records) >= args.limit
    unknown = [] if cut else sorted(set(args.customer_ids or ()) - {r.customer_id for r in records})
    if unknown:
        ids = ", ".join(map(str, unknown))
        print(f"note: no staged customer with id {ids} in {db}", file=sys.stderr)
    if args.json:
        doc = {
            "mapping": path,
            "unknown_customer_ids": unknown,
            "mapping_sha256": mapping.sha256,
            "store_hash": store_hash,
            "store_hash_configured": configured,
            "records": [
                {"customer_id": r.customer_id, "external_id": r.external_id, "payload": r.payload,
                 "rejection": r.rejection, "rejection_field": r.rejection_field, "sources": r.sources,
                 "dropped": [{"field": f, "reason": why} for f, why in r.dropped]}
                for r in records
            ],
        }
        json.dump(doc, sys.stdout, ensure_ascii=False, indent=2, default=str)
        sys.stdout.write("\n")
        return EXIT_OK
    if not configured:
        print(f"note: store_hash is not configured (SOURCES__BIGCOMMERCE__STORE_HASH); using {store_hash!r}")
    if not records:
        which = f" with id {', '.join(map(str, args.customer_ids))}" if args.customer_ids else ""
        print(f"no staged customers{which} in {db} (dataset bigcommerce, table customers)")
        return EXIT_OK
    for r in records:
        print(format_record(mapping, r))
    rejected = sum(1 for r in records if r.rejection)
    dropped = sum(len(r.dropped) for r in records)
    print(f"{len(records)} customers: {len(records) - rejected} mapped, {rejected} rejected by the mapping"
          + (f", {dropped} values dropped (on_invalid: drop)" if dropped else ""))
    return EXIT_OK


def _show(value: Any, limit: int = 70) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_record(mapping: Any, record: Any) -> str:
    """One customer for a terminal: status line, source values by field, then the payload."""
    head = f"customer {record.customer_id} -> {record.external_id or '(no externalId)'}"
    lines = [("REJECTED  " if record.rejection else "OK        ") + head]
    if record.rejection:
        lines.append(f"  reason: {record.rejection}")
    for fld, why in getattr(record, "dropped", ()):
        lines.append(f"  dropped {fld}: {why}")
    sources = {p.label: p.source_text for p in mapping.plans}
    width = max((len(k) for k in record.sources), default=10)
    lines.append("  source values:")
    for label, value in record.sources.items():
        lines.append(f"    {label:<{width}}  {sources.get(label, '')} = {_show(value)}")
    if record.payload is not None:
        lines.append("  People payload:")
        body = json.dumps(record.payload, ensure_ascii=False, indent=2)
        lines.extend("    " + line for line in body.splitlines())
    return "\n".join(lines) + "\n"
