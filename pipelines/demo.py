"""``bc2people demo``: the whole job against local sandboxes, no credentials, under a minute.

1. start the BigCommerce and People sandboxes in-process on free ports, with N generated
   customers (default 5,000), and point the job's settings at them;
2. full sync;
3. in the store: change 50 customers, delete 5, add 20 -- 3 of which share a phone number
   with a person People already holds, which People refuses (409100, identifiers of two
   different persons) and the mapping cannot know in advance;
4. incremental sync with ``--sweep-deletions``;
5. 30 new orders for 30 customers: an incremental sync re-sends only the customers whose
   order traits changed (lifetime value, order count, RFM segment, ...);
6. print the run summaries and the reconciliation table (traits included), leave the DuckDB
   file, and say how to query it.

The store's clock is advanced between the runs instead of sleeping, so the incremental
window (store clock minus lag, from the last cursor minus lookback) covers the changes.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bc2people.pipelines.cli_common import add_mapping, mapping_path
from bc2people.pipelines.paths import pipelines_dir_for

DEFAULT_CUSTOMERS = 5000
DEFAULT_DB_NAME = "bc2people-demo.duckdb"
DEMO_SEED = 7
CHANGED, DELETED, ADDED, CONFLICTING = 50, 5, 20, 3
NEW_ORDERS = 30
RULE = "─" * 72


def register(subparsers: Any) -> None:
    """Add the ``demo`` command."""
    p = subparsers.add_parser(
        "demo",
        help="run the whole job against local sandboxes (no credentials needed)",
        description=(
            "Start local BigCommerce and People sandboxes, run a full sync, change the store "
            "(50 changed, 5 deleted, 20 new, 3 of which People rejects), run an incremental sync "
            "with --sweep-deletions, add 30 orders and sync again (only their customers' traits "
            "travel), and print the run summaries and the reconciliation."
        ),
    )
    p.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS, help=f"store size (default {DEFAULT_CUSTOMERS:,})")
    p.add_argument("--dir", metavar="PATH", default=".", help=f"where to leave {DEFAULT_DB_NAME} (default: here)")
    add_mapping(p)
    p.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None, help="live progress (default: on a terminal)"
    )
    p.add_argument("--json", action="store_true",
                   help="no narration: one JSON document at the end (each run's summary, the reconciliation)")
    p.set_defaults(func=main)


_NARRATE = [True]  # --json turns the story off; the JSON document is printed at the end instead
_RUNS: list[dict[str, Any]] = []


def say(text: str = "") -> None:
    if _NARRATE[0]:
        print(text, flush=True)


def reset_database(duckdb_path: Path) -> None:
    """Remove a previous demo's DuckDB file, its WAL and dlt's pipelines directory beside it."""
    for p in (duckdb_path, duckdb_path.with_name(duckdb_path.name + ".wal")):
        p.unlink(missing_ok=True)
    shutil.rmtree(pipelines_dir_for(duckdb_path), ignore_errors=True)


def main(args: argparse.Namespace) -> int:
    """Run the demo; exit 0 when both runs finished (a run over the reject threshold included)."""
    if args.customers < 100:
        raise SystemExit("bc2people demo: --customers must be at least 100")
    from bc2people.pipelines.output import install_redaction, setup_logging

    started = time.monotonic()
    _NARRATE[0] = not getattr(args, "json", False)
    _RUNS.clear()
    install_redaction()
    setup_logging("text", level=30)  # the demo narrates; only warnings from the job's log
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

    out_dir = Path(args.dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    duckdb_path = out_dir / DEFAULT_DB_NAME
    reset_database(duckdb_path)
    live = sys.stderr.isatty() if args.progress is None else bool(args.progress)

    say("bc2people demo · BigCommerce customers → DuckDB staging → Infobip People")
    say(RULE)
    from bc2people.sandbox.run import env_for, start_sandboxes

    t0 = time.monotonic()
    bc, people = start_sandboxes(args.customers, DEMO_SEED)
    try:
        env = env_for(bc, people)
        os.environ.update(env)
        install_redaction([env.get("SOURCES__BIGCOMMERCE__ACCESS_TOKEN", ""), env.get("DESTINATION__PEOPLE__API_KEY", "")])
        say(f"BigCommerce sandbox  {bc.base_url}  store {env.get('SOURCES__BIGCOMMERCE__STORE_HASH', '?')}, "
            f"{args.customers:,} customers")
        say(f"People sandbox       {people.base_url}  (5 requests/s, like the real API)")
        say(f"DuckDB file          {duckdb_path}")
        say(f"                     sandboxes ready in {time.monotonic() - t0:.1f} s")
        return _story(args, bc, people, duckdb_path, live, started)
    finally:
        for sb in (bc, people):
            stop = getattr(sb, "stop", None)
            if callable(stop):
                stop()


def _story(args: argparse.Namespace, bc: Any, people: Any, duckdb_path: Path, live: bool, started: float) -> int:
    from bc2people.pipelines.demo_events import demo_orders, events_line
    from bc2people.pipelines.output import Progress, format_run_summary
    from bc2people.pipelines.sync import run_sync

    def run(title: str, **flags: Any) -> Any:
        say()
        say(title)
        result = run_sync(mapping_path(args), duckdb_path, progress=Progress(live=live and _NARRATE[0]), **flags)
        say(format_run_summary(result.as_dict(), title="  run"))
        _RUNS.append({"step": title, **result.as_dict()})
        return result

    first = run("① Full sync: the whole store is new to People")
    if first.exit_code in (1, 2):
        say(f"\nThe first run failed: {first.error}")
        return 1
    if first.counts.get("rejected_by_people"):
        say(f"  → People refused {first.counts['rejected_by_people']} generated customers; they are recorded with "
            "the reason (see ④), not dropped.")

    say()
    say(f"② Meanwhile in the store: {CHANGED} customers change, {DELETED} are deleted, {ADDED} sign up")
    bc.clock.advance(120)
    changes = change_store(bc, people) + demo_orders(bc)  # the orders make People events (pipelines/demo_events.py)
    for line in changes:
        say(f"   {line}")
    bc.clock.advance(600)  # the next window ends at the store clock minus its lag

    second = run("③ Incremental sync with --sweep-deletions: only the changes travel", sweep_deletions=True)
    if second.exit_code in (1, 2):
        say(f"\nThe second run failed: {second.error}")
        return 1
    say(events_line(second))
    if second.exit_code == 3:
        say("  → a scheduler would see exit code 3. The rejected persons are recorded with People's reason")
        say("    (people_sync.customers_rejected_by_people) and sent again once their data changes.")

    say()
    say(f"④ Meanwhile in the store: {NEW_ORDERS} new orders from {NEW_ORDERS} customers")
    bc.clock.advance(120)
    buyers = add_orders(bc, people)
    bc.clock.advance(600)
    third = run("⑤ Incremental sync: the orders change those customers' traits, and only they travel")
    if third.exit_code in (1, 2):
        say(f"\nThe third run failed: {third.error}")
        return 1
    say(f"  → {third.counts.get('orders_extracted', 0)} orders read, {third.counts.get('mapped', 0)} customers "
        f"re-mapped for their new traits (RFM quintiles can move a few neighbours), "
        f"{third.counts.get('sent', 0)} sent; the other customers were not even mapped.")
    _show_traits(people, buyers[0])

    say()
    _print_reconciliation(duckdb_path, people)
    say()
    say(RULE)
    say(f"Done in {time.monotonic() - started:.1f} s. The DuckDB file stays for you to explore:")
    db, exe = str(duckdb_path), _command_name()
    say(f"  {exe} reconcile --duckdb {db}")
    say(f"  {exe} runs --duckdb {db}")
    say(f'  duckdb {db} "FROM people_sync.customers_rejected_by_people"      # the duckdb CLI')
    say(f'  duckdb {db} "SELECT metric, customers FROM people_sync.reconcile_summary"')
    if not _NARRATE[0]:
        _print_json(duckdb_path, started)
    return 0


def _print_json(duckdb_path: Path, started: float) -> None:
    """The ``--json`` document: every run's summary and the reconciliation summary."""
    import json

    import duckdb

    from bc2people.pipelines.reconcile import reconcile_summary

    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        summary = [{"metric": m.strip(), "customers": n} for m, n in reconcile_summary(con)]
    finally:
        con.close()
    print(json.dumps({"duckdb": str(duckdb_path), "seconds": round(time.monotonic() - started, 1), "runs": _RUNS,
                      "reconciliation": summary}, ensure_ascii=False, default=str))


def _command_name() -> str:
    """How the user can call this program again: ``bc2people`` when it is on PATH."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    on_path = shutil.which("bc2people")
    if on_path and (not argv0 or os.path.realpath(on_path) == os.path.realpath(argv0)):
        return "bc2people"
    if argv0.endswith("bc2people"):
        rel = os.path.relpath(argv0)
        return rel if not rel.startswith("..") else argv0
    return "bc2people"


def change_store(bc: Any, people: Any) -> list[str]:
    """Change, delete and add customers in the BigCommerce sandbox; returns what was done."""
    rng = random.Random(DEMO_SEED)
    customers = sorted(bc.store.all(), key=lambda c: c["id"]) if hasattr(bc, "store") else []
    ids = [c["id"] for c in customers]
    if len(ids) < CHANGED + DELETED:
        raise RuntimeError("the store is too small for the demo")
    picked = rng.sample(ids, CHANGED + DELETED)
    changed, deleted = picked[:CHANGED], picked[CHANGED:]
    for n, cid in enumerate(changed):
        if n % 2:
            bc.update_customer(cid, company=f"Demo Retail {n:02d} Ltd")
        else:
            bc.update_customer(cid, last_name=f"Newname{n:02d}")
    for cid in deleted:
        bc.delete_customer(cid)

    phones = _people_phones(people, CONFLICTING)
    for n in range(ADDED):
        fields: dict[str, Any] = {
            "email": f"demo.signup{n:02d}@example.com",
            "first_name": "Demo",
            "last_name": f"Signup{n:02d}",
        }
        if n < len(phones):
            fields["phone"] = "+" + phones[n]
        bc.create_customer(**fields)
    return [
        f"changed  {CHANGED:>3}  (half a new company, half a new last name)",
        f"deleted  {DELETED:>3}  (found by the deletion sweep; the default mapping tags them bc-deleted in People)",
        f"added    {ADDED:>3}  ({len(phones)} of them give the phone number of a person People already holds:",
        "               People refuses them with 409100, the mapping cannot know that in advance)",
    ]


def add_orders(bc: Any, people: Any) -> list[int]:
    """One new order each for ``NEW_ORDERS`` customers People holds as persons (a few of them
    first-time buyers): the run after them shows traits travelling, not a refused person
    refused again."""
    rng = random.Random(DEMO_SEED + 1)
    held = {p.get("externalId") for p in people.persons()}
    ids = sorted(c["id"] for c in bc.store.all() if f"bc-{_store_hash()}-{c['id']}" in held)
    buyers = rng.sample(ids, NEW_ORDERS)
    for n, cid in enumerate(buyers):
        bc.commerce.create_order_for(cid, round(20 + 7.5 * n, 2))
    return buyers


def _show_traits(people: Any, customer_id: int) -> None:
    person = people.person_by_external_id(f"bc-{_store_hash()}-{customer_id}") or {}
    attrs = {k: v for k, v in (person.get("customAttributes") or {}).items()
             if k in ("bc_order_count", "bc_lifetime_value", "bc_last_order_at", "bc_rfm_segment")}
    if attrs:
        say(f"  → customer {customer_id} in People now: " + ", ".join(f"{k}={v}" for k, v in attrs.items()))


def _store_hash() -> str:
    return os.environ.get("SOURCES__BIGCOMMERCE__STORE_HASH", "sandbox1")


def _people_phones(people: Any, n: int) -> list[str]:
    """Phone numbers (E.164 digits) already held by People persons."""
    found: list[str] = []
    for person in people.persons():
        for c in person.get("contactInformation") or []:
            if isinstance(c, dict) and c.get("type") == "PHONE" and c.get("identifier"):
                found.append(str(c["identifier"]).lstrip("+"))
                break
        if len(found) >= n:
            break
    return found


def _print_reconciliation(duckdb_path: Path, people: Any) -> None:
    import duckdb

    from bc2people.pipelines.output import COMPACT_RUNS_COLUMNS, format_pairs, format_runs, format_table
    from bc2people.pipelines.reconcile import (
        ensure_reconciliation_views,
        people_errors,
        reconcile_summary,
        run_history,
    )

    con = duckdb.connect(str(duckdb_path))
    try:
        ensure_reconciliation_views(con)
        say("⑥ Reconciliation (people_sync.reconcile_summary)")
        say(format_pairs(reconcile_summary(con)))
        traits = con.execute("SELECT state, customers FROM people_sync.traits_summary ORDER BY state").fetchall()
        if traits:
            say("   Traits as computed vs in People (people_sync.traits_summary): "
                + ", ".join(f"{state} {n:,}" for state, n in traits))
        errors = people_errors(con)
        if errors:
            say()
            rows = [[e["error_code"], e["customers"], _short(e["example_message"])] for e in errors]
            say(_indent(format_table(["People error", "customers", "message"], rows)))
        say()
        say("   Run history (people_sync.runs)")
        say(_indent(format_runs(run_history(con, 5), COMPACT_RUNS_COLUMNS)))
    finally:
        con.close()
    say()
    say(f"   People sandbox now holds {len(people.persons()):,} persons.")


def _short(text: Any, width: int = 60) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= width else s[: width - 1] + "…"


def _indent(text: str, n: int = 3) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())
