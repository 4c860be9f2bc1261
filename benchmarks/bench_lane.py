"""The near-real-time lane: latency change → People, receiver ack rate, a 50,000-change burst, kills.

Real processes as deployed: ``bc2people listen`` and ``bc2people drain`` against the two
sandboxes (default latencies), the store sending signed webhooks itself.

1. latency: one customer change every 0.1 s (10/s) for 30 s; each change's time from the
   store write to the person showing the new value in People (polled every 20 ms): p50/p95.
2. ack rate: 500 signed deliveries/s for 10 s straight at the receiver while the drain
   drains them; per-request latency p50/p99 and the rate reached. The load comes from its
   own process (`benchmarks.lane_ackload`: asyncio, keep-alive), not from threads sharing a
   GIL with the in-process sandboxes.
3. burst: a bulk import of 50,000 customers fires 50,000 ``store/customer/created``; once
   they are in the intake (none refused), the drain's rate against the binding bound (the
   drain is running and warmed up, held with SIGSTOP during the import, then let go).
   Standard plan quota (150 requests / 30 s): 5 requests/s × 250 ids per request = 1,250
   customers/s re-fetched; People: 5 requests/s × 1,000 persons = 5,000/s. BigCommerce binds.
4. kills: 20 SIGKILLs of the receiver or the drain under a steady stream (tests/lane_kills.py).

``BENCH_QUICK=1``: 8 s of latency, 3 s of acks, a 5,000 burst, 4 kills.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
MAPPING = str(REPO / "mappings" / "customers_to_people.yaml")
SECRET = "bench-lane-secret-4Zt"
DEST = "https://lane-bench.example.com/webhooks/bigcommerce"


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class Lane:
    """Sandboxes + a nightly run + listen and drain processes."""

    def __init__(self, workdir: Path, customers: int, *, quota: tuple[int, float] | None = None,
                 sender_workers: int = 4) -> None:
        from bc2people.sandbox.run import env_for, start_sandboxes
        from tests.lane_kills import _bc2people, free_port

        self.bc, self.people = start_sandboxes(customers, seed=5, orders=False)
        self.bc.commerce.webhooks.client_secret = SECRET
        self.bc.commerce.webhooks.workers = sender_workers
        self.db = workdir / "bench.duckdb"
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhooks/bigcommerce"
        self.bc.commerce.destination_overrides[DEST] = self.url
        self.env = {**os.environ, **env_for(self.bc, self.people), "SOURCES__BIGCOMMERCE__CLIENT_SECRET": SECRET}
        self.cli = _bc2people()
        out = subprocess.run([*self.cli, "sync", "--duckdb", str(self.db), "--mapping", MAPPING, "--no-progress"],
                             cwd=workdir, env=self.env, capture_output=True, timeout=900)
        assert out.returncode == 0, out.stderr.decode()[-2000:]
        if quota is not None:
            self.bc.set_quota(*quota)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def hooks(self) -> None:
        from bc2people.sources.bigcommerce.hooks import HooksClient, ensure_hooks

        ensure_hooks(HooksClient(self.bc.base_url, self.bc.store_hash, self.bc.access_token), DEST,
                     ["store/customer/*", "store/customer/address/*"])

    def start(self, name: str) -> None:
        args = (["listen", "--port", str(self.port), "--duckdb", str(self.db)] if name == "listen"
                else ["drain", "--duckdb", str(self.db), "--mapping", MAPPING])
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen([*self.cli, *args], cwd=self.workdir, env=self.env, stdout=log,
                                            stderr=log)
        if name == "listen":
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                    return
                except requests.RequestException:
                    time.sleep(0.1)
            raise RuntimeError("receiver did not start")

    def intake(self) -> dict[str, Any]:
        from bc2people.pipelines.lane.intake import Intake, intake_path_for

        i = Intake(intake_path_for(self.db))
        try:
            return i.stats()
        finally:
            i.close()

    def drain_stats(self) -> dict[str, Any]:
        """The drain's totals (its last JSON line, printed as it stops): cycles, seconds per phase."""
        import json

        try:
            lines = (self.workdir / "drain.log").read_text(errors="replace").splitlines()
        except OSError:
            return {}
        for line in reversed(lines):
            if line.startswith("{"):
                st = json.loads(line)
                keep = ("cycles", "entries", "collapsed", "merged_batches", "fetch_s", "stage_s", "push_s")
                return {k: round(v, 2) if isinstance(v, float) else v for k, v in st.items() if k in keep}
        return {}

    def close(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if name == "drain" else signal.SIGINT)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.bc.commerce.webhooks.stop()
        self.bc.stop()
        self.people.stop()


def latency(seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        lane = Lane(Path(tmp), 200)
        try:
            lane.hooks()
            lane.start("listen")
            lane.start("drain")
            ids = [c["id"] for c in lane.bc.customers()]
            waiting: dict[str, tuple[str, float]] = {}
            seen: list[float] = []
            lock = threading.Lock()
            done = threading.Event()

            def poll() -> None:
                while not done.is_set() or waiting:
                    with lock:
                        items = list(waiting.items())
                    for key, (want, t0) in items:
                        p = lane.people.person_by_external_id(key)
                        if p is not None and p.get("firstName") == want:
                            with lock:
                                waiting.pop(key, None)
                            seen.append(time.monotonic() - t0)
                    time.sleep(0.02)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            time.sleep(2.0)  # the drain process is up
            n, start = 0, time.monotonic()
            while time.monotonic() - start < seconds:
                cid = ids[n % len(ids)]
                key = f"bc-{lane.bc.store_hash}-{cid}"
                want = f"L{n:06d}"
                with lock:
                    waiting[key] = (want, time.monotonic())
                lane.bc.update_customer(cid, first_name=want)
                n += 1
                time.sleep(max(0.0, start + n * 0.1 - time.monotonic()))
            done.set()
            poller.join(60)
            result: dict[str, Any] = {"changes": n, "seen": len(seen), "p50_s": round(_pct(seen, 50), 3),
                      "p95_s": round(_pct(seen, 95), 3), "max_s": round(max(seen or [0]), 3)}
        finally:
            lane.close()
        result["drain"] = lane.drain_stats()
        return result


def ack_rate(seconds: float, rate: int = 500) -> dict[str, Any]:
    import json
    import sys

    from tests.fixtures_lane import post_signed, thin_payload

    with tempfile.TemporaryDirectory() as tmp:
        lane = Lane(Path(tmp), 1000)
        try:
            lane.start("listen")
            lane.start("drain")
            ids = [c["id"] for c in lane.bc.customers()]
            # the drain is up (it has applied a first delivery) before the load starts
            post_signed(lane.url, thin_payload("store/customer/updated", {"type": "customer", "id": ids[0]}),
                        secret=SECRET)
            deadline = time.monotonic() + 120
            while lane.intake()["done"] < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            done_before = lane.intake()["done"]
            # the load generator runs in its own process (benchmarks/lane_ackload.py)
            out = subprocess.run([sys.executable, "-m", "benchmarks.lane_ackload", lane.url, SECRET, str(rate),
                                  str(seconds), ",".join(map(str, ids))], cwd=REPO, capture_output=True,
                                 timeout=seconds + 120)
            assert out.returncode == 0, out.stderr.decode()[-2000:]
            got = json.loads(out.stdout)
            lat = [x / 1000 for x in got["latencies_ms"]]
            st = lane.intake()
            result: dict[str, Any] = {"sent": got["sent"], "rate_per_s": got["rate_per_s"], "codes": got["codes"],
                      "p50_ms": round(1000 * _pct(lat, 50), 2), "p99_ms": round(1000 * _pct(lat, 99), 2),
                      "max_ms": round(1000 * max(lat or [0]), 2), "drained_meanwhile": st["done"] - done_before}
        finally:
            lane.close()
        result["drain"] = lane.drain_stats()
        return result


def burst(n: int) -> dict[str, Any]:
    from bc2people.sandbox.generator import generate_customers
    from tests.fixtures_lane import post_signed, thin_payload

    with tempfile.TemporaryDirectory() as tmp:
        lane = Lane(Path(tmp), 100, quota=(150, 30.0), sender_workers=16)
        try:
            lane.hooks()
            lane.start("listen")
            # The drain is a running service when a bulk import lands: started and warmed up on
            # one delivery, then held (SIGSTOP) while the burst fills the intake, so the figure
            # is its draining rate, not its start-up (imports, first dlt run: seconds).
            lane.start("drain")
            post_signed(lane.url, thin_payload("store/customer/updated",
                                               {"type": "customer", "id": lane.bc.customers()[0]["id"]}),
                        secret=SECRET)
            deadline = time.monotonic() + 120
            while lane.intake()["done"] < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            lane.procs["drain"].send_signal(signal.SIGSTOP)
            t0 = time.monotonic()
            lane.bc.add_customers(generate_customers(n, seed=9, start_id=100_000))
            while lane.intake()["received"] < n + 1:
                time.sleep(0.2)
                if time.monotonic() - t0 > 900:
                    break
            ingest_s = time.monotonic() - t0
            attempts = list(lane.bc.commerce.webhooks.attempts)
            refused = sum(1 for a in attempts if not a["ok"])
            lane.bc.set_quota(150, 30.0)  # a fresh window as the drain starts
            t1 = time.monotonic()
            lane.procs["drain"].send_signal(signal.SIGCONT)
            while lane.intake()["pending"] > 0 and time.monotonic() - t1 < 1800:
                time.sleep(0.2)
            drain_s = time.monotonic() - t1
            bound = 150 / 30.0 * 250  # customers/s the quota lets a re-fetch read
            got = lane.people.requests_served
            persons = len(lane.people.persons())
            result: dict[str, Any] = {"changes": n, "ingest_s": round(ingest_s, 1), "ingest_per_s": round(n / ingest_s, 1),
                      "deliveries_refused": refused, "drain_s": round(drain_s, 1),
                      "drain_per_s": round(n / drain_s, 1), "bound_per_s": bound,
                      "share_of_bound": round(n / drain_s / bound, 3), "persons_in_people": persons,
                      "bc_requests": sum(lane.bc.requests_served.values()),
                      "people_upserts": got["PATCH /people/3/persons/upsert"]}
        finally:
            lane.close()
        result["drain"] = lane.drain_stats()
        return result


def kills(k: int) -> dict[str, Any]:
    from tests.lane_kills import run_kill_soak

    with tempfile.TemporaryDirectory() as tmp:
        r = run_kill_soak(Path(tmp), kills=k, rate=8.0, seed=21, customers=30, kill_every_s=1.0)
        return {"kills": r.kills, "changes": r.changes, "lost": len(r.mismatched),
                "accepted_twice": len(r.accepted_over), "without_fate": r.not_done, "seconds": round(r.seconds, 1)}


def main(quick: bool = False) -> None:
    print("latency change -> People at 10 changes/s:", latency(8 if quick else 30), flush=True)
    print("receiver acks at 500/s while draining:", ack_rate(3 if quick else 10), flush=True)
    print("burst:", burst(5000 if quick else 50_000), flush=True)
    print("SIGKILL soak:", kills(4 if quick else 20), flush=True)


if __name__ == "__main__":
    import sys

    only = sys.argv[1:]
    quick = os.environ.get("BENCH_QUICK") == "1"
    parts = {"latency": lambda: latency(8 if quick else 30), "ack": lambda: ack_rate(3 if quick else 10),
             "burst": lambda: burst(5000 if quick else 50_000), "kills": lambda: kills(4 if quick else 20)}
    for name, fn in parts.items():
        if not only or name in only:
            print(name, fn(), flush=True)
