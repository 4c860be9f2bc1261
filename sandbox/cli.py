"""``bc2people sandbox``: run the BigCommerce and People sandboxes until interrupted."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from typing import Any


def parse_quota(text: str) -> tuple[int, float] | None:
    """``"150/30"`` → (150, 30.0); ``"unlimited"`` → None; anything else → ArgumentTypeError."""
    t = text.strip().lower()
    if t in ("unlimited", "none"):
        return None
    try:
        n, w = t.split("/")
        quota, window = int(n), float(w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"quota must look like 150/30 (requests/seconds) or unlimited, not {text!r}") from None
    if quota < 1 or window <= 0:
        raise argparse.ArgumentTypeError("quota needs at least 1 request per a positive number of seconds")
    return quota, window


def _rate(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"fault rate must be a number between 0 and 1, not {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError("fault rate must be between 0 and 1")
    return v


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return v


def register(subparsers: Any) -> None:
    """Add the ``sandbox`` command."""
    p = subparsers.add_parser(
        "sandbox",
        help="run local BigCommerce and People sandboxes until interrupted",
        description="Start both sandboxes, print `export NAME=value` lines that point `bc2people sync` "
        "at them, and serve until Ctrl-C / SIGTERM.",
    )
    p.add_argument("--customers", type=_nonneg_int, default=1000, help="generated customers (default 1000)")
    p.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    p.add_argument("--bc-port", type=_nonneg_int, default=0, help="BigCommerce port (default: any free port)")
    p.add_argument("--people-port", type=_nonneg_int, default=0, help="People port (default: any free port)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request, both sandboxes")
    p.add_argument("--quota", type=parse_quota, default=None,
                   help="BigCommerce quota as REQUESTS/SECONDS (150/30 Standard, 450/30 Pro) or unlimited (default)")
    p.add_argument("--fault-rate", type=_rate, default=0.0, help="share of requests answered with an injected fault")
    p.add_argument("--json", action="store_true", help="print the environment as one JSON line instead of exports")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start, print the environment, wait for SIGINT/SIGTERM, stop; exit 0."""
    from bc2people.sandbox.run import env_for, start_sandboxes

    if args.latency_ms < 0:
        print("bc2people: error: --latency-ms must be 0 or more", file=sys.stderr)
        return 2
    bc, people = start_sandboxes(
        args.customers, args.seed, latency_ms=args.latency_ms, quota=args.quota,
        fault_rate=args.fault_rate, bc_port=args.bc_port, people_port=args.people_port,
    )
    stop = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    # The printout exists to show these values: write past the CLI's secret-redaction safety net,
    # which would mask them when the shell already holds a previous sandbox's exports.
    out = getattr(sys.stdout, "unredacted", sys.stdout)
    try:
        env = env_for(bc, people)
        quota = "unlimited" if args.quota is None else f"{args.quota[0]}/{args.quota[1]:g}s"
        if getattr(args, "json", False):
            print(json.dumps({"env": env, "bigcommerce": bc.base_url, "people": people.base_url}), file=out, flush=True)
        else:
            for name, value in env.items():
                print(f"export {name}={shlex.quote(value)}", file=out)
            print(
                f"# BigCommerce sandbox {bc.base_url} (store {bc.store_hash}, {len(bc.store)} customers, "
                f"quota {quota}); People sandbox {people.base_url}. Ctrl-C to stop.",
                file=out,
                flush=True,
            )
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        bc.stop()
        people.stop()
    print("# sandboxes stopped", file=sys.stderr)
    return 0
