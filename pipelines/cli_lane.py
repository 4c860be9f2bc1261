"""The near-real-time lane: ``bc2people listen``, ``bc2people drain``, ``bc2people hooks ensure|status``,
``bc2people lane`` (backlog and lag). See `pipelines.lane`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any

from bc2people.pipelines.cli_common import add_mapping, mapping_path
from bc2people.pipelines.paths import DEFAULT_DUCKDB

LANE_EPILOG = """configuration (environment variables, or .dlt/config.toml / .dlt/secrets.toml):
  SOURCES__BIGCOMMERCE__CLIENT_SECRET   the app's client secret: verifies Standard Webhooks signatures
  LANE__SHARED_HEADER_NAME / LANE__SHARED_HEADER_VALUE   a custom header on the hooks, accepted instead
  LANE__DESTINATION                     the public https URL (port 443) of `bc2people listen`
plus the job's settings (store, token, People) for drain and hooks.

intake: an append-only SQLite journal (WAL) beside the DuckDB file, x.duckdb -> x.intake.sqlite.
The receiver only appends; the drain holds the run lock per micro-batch, so the nightly run and
the drain never use the ledger at once (a nightly run waits for the batch in hand)."""

SCOPES_CUSTOMERS = ["store/customer/*", "store/customer/address/*"]
SCOPE_ORDERS = "store/order/*"


def register(subparsers: Any) -> None:
    """Add ``listen``, ``drain``, ``hooks`` and ``lane``."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser("listen", help="receive BigCommerce webhooks into the intake", epilog=LANE_EPILOG,
                              formatter_class=fmt, description="Verify and durably store webhook deliveries.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--duckdb", default=DEFAULT_DUCKDB)
    p.add_argument("--drain", action="store_true", help="also run the drain in this process")
    add_mapping(p)
    p.set_defaults(func=listen_main)

    d = subparsers.add_parser("drain", help="apply intake entries: re-fetch, stage, push", epilog=LANE_EPILOG,
                              formatter_class=fmt, description="Drain the webhook intake into People.")
    d.add_argument("--duckdb", default=DEFAULT_DUCKDB)
    add_mapping(d)
    d.add_argument("--until-idle", action="store_true", help="stop once nothing is pending")
    d.add_argument("--max-entries", type=int, default=5000, help="entries per micro-batch (default 5000)")
    d.set_defaults(func=drain_main)

    h = subparsers.add_parser("hooks", help="register or inspect the store's webhooks", epilog=LANE_EPILOG,
                              formatter_class=fmt)
    h.add_argument("action", choices=("ensure", "status"))
    add_mapping(h)
    h.add_argument("--duckdb", default=DEFAULT_DUCKDB)
    h.add_argument("--destination", default=None, help="public https URL (default LANE__DESTINATION)")
    h.add_argument("--json", action="store_true")
    h.set_defaults(func=hooks_main)

    s = subparsers.add_parser("lane", help="the lane's backlog and lag (the intake)", epilog=LANE_EPILOG,
                              formatter_class=fmt)
    s.add_argument("--duckdb", default=DEFAULT_DUCKDB)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=lane_main)


def scopes_for(mapping: Any) -> list[str]:
    """The hook scopes a mapping needs: customers and their addresses; orders when it has traits."""
    return SCOPES_CUSTOMERS + ([SCOPE_ORDERS] if getattr(mapping, "traits", None) is not None else [])


def _setup() -> tuple[Any, Any]:
    from bc2people.pipelines.config import ConfigError
    from bc2people.pipelines.lane.settings import resolve_lane_settings
    from bc2people.pipelines.output import install_redaction

    install_redaction()
    try:
        lane = resolve_lane_settings(need_auth=True)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    install_redaction(lane.secrets())
    return lane, None


def listen_main(args: argparse.Namespace) -> int:
    """Serve the receiver (and, with --drain, the drain in a thread)."""
    from bc2people.pipelines.lane.intake import Intake, intake_path_for
    from bc2people.pipelines.lane.receiver import create_app, serve
    from bc2people.pipelines.lane.verify import Verifier

    lane, _ = _setup()
    path = intake_path_for(args.duckdb)
    Intake(path).close()  # create it now: a bad path fails before serving
    verifier = Verifier(lane.client_secret, lane.shared_header_name, lane.shared_header_value)
    stop = threading.Event()
    worker = None
    if args.drain:
        drainer = _drainer(args)
        worker = threading.Thread(target=drainer.run, kwargs={"stop": stop}, name="lane-drain", daemon=True)
        worker.start()
    try:
        serve(create_app(path, verifier), args.host, args.port)
    finally:
        stop.set()
        if worker is not None:
            worker.join(30)
    return 0


def _drainer(args: argparse.Namespace) -> Any:
    from bc2people.pipelines.config import ConfigError, resolve_settings
    from bc2people.pipelines.lane.drain import Drainer
    from bc2people.pipelines.mapping import MappingError, load_mapping
    from bc2people.pipelines.output import install_redaction
    from bc2people.sources.bigcommerce import make_client

    try:
        mapping = load_mapping(mapping_path(args))
        settings = resolve_settings(need_destination=True)
    except (ConfigError, MappingError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    install_redaction([settings.access_token, settings.people_api_key or ""])
    client = make_client(settings.store_hash, settings.access_token, settings.api_base_url, pool_size=8)
    return Drainer(args.duckdb, mapping, store_hash=settings.store_hash, client=client,
                   max_entries=getattr(args, "max_entries", 5000))


def drain_main(args: argparse.Namespace) -> int:
    """Drain until interrupted (or idle, with --until-idle); prints the totals as JSON."""
    drainer = _drainer(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stats = drainer.run(until_idle=args.until_idle, stop=stop)
    except KeyboardInterrupt:
        stop.set()
        stats = drainer.stats
    print(json.dumps(stats.as_dict()))
    return 0


def hooks_main(args: argparse.Namespace) -> int:
    """``ensure``: register the hooks the mapping needs; ``status``: report them."""
    from bc2people.pipelines.config import ConfigError, resolve_settings
    from bc2people.pipelines.lane.intake import Intake, intake_path_for, last_by_scope
    from bc2people.pipelines.lane.settings import resolve_lane_settings
    from bc2people.pipelines.mapping import load_mapping
    from bc2people.pipelines.output import install_redaction
    from bc2people.sources.bigcommerce.hooks import HooksClient, ensure_hooks, hooks_status

    install_redaction()
    try:
        settings = resolve_settings(need_destination=False)
        lane = resolve_lane_settings(need_auth=False)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    install_redaction([settings.access_token, *lane.secrets()])
    destination = args.destination or lane.destination
    scopes = scopes_for(load_mapping(mapping_path(args)))
    client = HooksClient(settings.api_base_url, settings.store_hash, settings.access_token)
    if args.action == "ensure":
        if not destination:
            print("error: give --destination or set LANE__DESTINATION", file=sys.stderr)
            return 2
        headers = ({lane.shared_header_name: lane.shared_header_value}
                   if lane.shared_header_name and lane.shared_header_value else None)
        changes = ensure_hooks(client, destination, scopes, headers)
        out: dict[str, Any] = {"destination": destination, "hooks": [c.__dict__ for c in changes]}
    else:
        out = hooks_status(client, destination, scopes)
        intake = Intake(intake_path_for(args.duckdb))
        try:
            last = last_by_scope(intake)
        finally:
            intake.close()
        for row in out["scopes"]:
            prefix = row["scope"].rstrip("*")
            seen = [t for s, t in last.items() if s.startswith(prefix) and "/" not in s[len(prefix):]]
            row["last_delivery_at"] = _iso(max(seen)) if seen else None
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        for row in out.get("hooks") or out.get("scopes") or []:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
        for b in out.get("blocked_domains") or []:
            print(f"BLOCKLISTED {b.get('destination')} for {b.get('time_left')} s more")
    return 0


def lane_main(args: argparse.Namespace) -> int:
    """Print the intake's backlog, lag and fates."""
    from bc2people.pipelines.lane.intake import Intake, intake_path_for

    intake = Intake(intake_path_for(args.duckdb))
    try:
        stats = intake.stats()
    finally:
        intake.close()
    if args.json:
        print(json.dumps(stats, indent=2, default=str))
    else:
        for k, v in stats.items():
            print(f"{k:24} {_iso(v) if k == 'last_processed_at' and v else v}")
    return 0


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
