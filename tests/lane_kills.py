"""SIGKILL the lane's receiver or drain at random points under a steady stream of store changes.

Shared by `tests/test_lane_reliability.py` (6 kills) and `benchmarks/bench_lane.py` (20 kills).
Receiver and drain are real ``bc2people listen`` / ``bc2people drain`` processes; the store
is the BigCommerce sandbox delivering signed webhooks with its retry schedule compressed, so
a delivery refused while the receiver is down comes back a second later.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

REPO = Path(__file__).resolve().parents[1]
SECRET = "bc-client-secret-Kill7q"
DESTINATION = "https://lane-kill.example.com/webhooks/bigcommerce"


def _bc2people() -> list[str]:
    import sys

    exe = Path(sys.executable).with_name("bc2people")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "bc2people.pipelines.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class KillReport:
    kills: dict[str, int] = field(default_factory=lambda: {"listen": 0, "drain": 0})
    changes: int = 0
    customers: int = 0
    mismatched: list[str] = field(default_factory=list)
    accepted_over: list[str] = field(default_factory=list)
    not_done: int = 0
    deliveries: int = 0
    seconds: float = 0.0


def run_kill_soak(workdir: Path, *, kills: int, rate: float = 5.0, seed: int = 7, customers: int = 30,
                  kill_every_s: float = 1.2) -> KillReport:
    """Stream changes at ``rate``/s while killing a random lane process every ``kill_every_s``,
    ``kills`` times; then let the lane finish and check People, the ledger and the intake."""
    from bc2people.sandbox.run import env_for, start_sandboxes
    from bc2people.sources.bigcommerce.hooks import HooksClient, ensure_hooks

    rng = random.Random(seed)
    report = KillReport(customers=customers)
    started = time.monotonic()
    bc, people = start_sandboxes(customers, seed=seed, orders=False)
    bc.commerce.webhooks.client_secret = SECRET
    bc.commerce.webhooks.time_factor = 300.0  # retries after 0.2 s, 0.6 s, 1 s, 2 s, ...
    env = {**os.environ, **env_for(bc, people), "SOURCES__BIGCOMMERCE__CLIENT_SECRET": SECRET}
    db = workdir / "kill.duckdb"
    port = free_port()
    bc.commerce.destination_overrides[DESTINATION] = f"http://127.0.0.1:{port}/webhooks/bigcommerce"
    procs: dict[str, subprocess.Popen[bytes] | None] = {"listen": None, "drain": None}
    logs = {name: open(workdir / f"{name}.log", "ab") for name in procs}  # noqa: SIM115

    def spawn(name: str) -> None:
        args = (["listen", "--port", str(port), "--duckdb", str(db)] if name == "listen"
                else ["drain", "--duckdb", str(db), "--mapping", str(REPO / "mappings/customers_to_people.yaml")])
        procs[name] = subprocess.Popen([*_bc2people(), *args], cwd=workdir, env=env, stdout=logs[name],
                                       stderr=logs[name])

    try:
        sync = subprocess.run([*_bc2people(), "sync", "--duckdb", str(db), "--no-progress",
                               "--mapping", str(REPO / "mappings/customers_to_people.yaml")], cwd=workdir, env=env,
                              capture_output=True, timeout=120)
        assert sync.returncode == 0, sync.stderr.decode()[-2000:]
        ensure_hooks(HooksClient(bc.base_url, bc.store_hash, bc.access_token), DESTINATION,
                     ["store/customer/*", "store/customer/address/*"])
        spawn("listen")
        spawn("drain")
        ids = [c["id"] for c in bc.customers()]
        last: dict[int, str] = {}
        changed: dict[int, int] = {}
        stop = threading.Event()

        def stream() -> None:
            n = 0
            while not stop.is_set():
                cid = ids[n % len(ids)] if n % 3 else rng.choice(ids)
                name = f"K{n:05d}"
                bc.update_customer(cid, first_name=name)
                last[cid], changed[cid] = name, changed.get(cid, 0) + 1
                n += 1
                report.changes = n
                stop.wait(1.0 / rate)

        streamer = threading.Thread(target=stream, daemon=True)
        streamer.start()
        for _ in range(kills):
            time.sleep(kill_every_s * rng.uniform(0.5, 1.5))
            name = rng.choice(["listen", "drain"])
            proc = procs[name]
            assert proc is not None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            report.kills[name] += 1
            spawn(name)
        stop.set()
        streamer.join()
        _wait_settled(bc, db, people, last, timeout=90)
        for name, proc in procs.items():
            if proc is not None:
                proc.send_signal(signal.SIGTERM if name == "drain" else signal.SIGINT)
                proc.wait(30)
        report.mismatched = [f"{cid}: {want} != {_first_name(people, bc, cid)}" for cid, want in last.items()
                             if _first_name(people, bc, cid) != want]
        accepted = _accepted(db)
        report.accepted_over = [f"{cid}: {accepted.get(_key(bc, cid), 0)} accepted for {n} changes"
                                for cid, n in changed.items() if accepted.get(_key(bc, cid), 0) > n + 1]
        report.not_done, report.deliveries = _intake_state(db)
    finally:
        for proc in procs.values():
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        for fh in logs.values():
            fh.close()
        bc.commerce.webhooks.stop()
        bc.stop()
        people.stop()
    report.seconds = time.monotonic() - started
    return report


def _key(bc: Any, cid: int) -> str:
    return f"bc-{bc.store_hash}-{cid}"


def _first_name(people: Any, bc: Any, cid: int) -> str | None:
    p = people.person_by_external_id(_key(bc, cid))
    return None if p is None else p.get("firstName")


def _intake_state(db: Path) -> tuple[int, int]:
    from bc2people.pipelines.lane.intake import Intake, intake_path_for

    intake = Intake(intake_path_for(db))
    try:
        s = intake.stats()
        return s["pending"], s["received"]
    finally:
        intake.close()


def _accepted(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(con.execute("SELECT key, count(*) FROM people_sync.sync_outcomes WHERE status IN "
                                "('CREATED', 'UPDATED') GROUP BY key").fetchall())
    finally:
        con.close()


def _wait_settled(bc: Any, db: Path, people: Any, last: dict[int, str], timeout: float) -> None:
    """Until every change is in People (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_first_name(people, bc, cid) == want for cid, want in last.items()) and _intake_state(db)[0] == 0:
            return
        time.sleep(0.25)


def main() -> None:  # pragma: no cover - a manual run
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run_kill_soak(Path(tmp), kills=20).__dict__, indent=2))
