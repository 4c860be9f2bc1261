"""SIGKILL during event delivery, then re-run: every event is in People exactly once.

A backlog of PENDING events is delivered by a child process (batches of 100, two workers, the
client's 5 requests/s). The child is killed with SIGKILL at a random moment after People
accepted a batch, three times; a last run finishes. People (the sandbox) then holds each
event once; what was sent twice (a batch accepted just before the kill, not yet marked in
the ledger) is bounded by the batches in flight, and the ledger shows each such event with
``attempts > 1``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from tests.test_events_delivery import add_facts, fact, make_ledger

REPO = Path(__file__).resolve().parents[1]
N_EVENTS, BATCH, WORKERS, KILLS = 2000, 100, 2, 3
CHILD = """
import sys
from pathlib import Path
from bc2people.pipelines.events import push_events
from bc2people.pipelines.mapping import load_mapping
m = load_mapping(Path(sys.argv[2]))
r = push_events(sys.argv[1], m, sys.argv[3], workers=int(sys.argv[4]), max_items=int(sys.argv[5]))
print(r.counts)
"""


def child(db: Path, people: Any, run_id: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    env.update(PYTHONPATH=str(REPO), DESTINATION__PEOPLE__BASE_URL=people.base_url,
               DESTINATION__PEOPLE__API_KEY=people.api_key, RUNTIME__DLTHUB_TELEMETRY="false")
    return subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(REPO / "mappings" / "customers_to_people.yaml"),
                             run_id, str(WORKERS), str(BATCH)], env=env, cwd=db.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_during_delivery_then_rerun_leaves_each_event_in_people_once(tmp_path: Path,
                                                                            people_sandbox: Any) -> None:
    people_sandbox.latency_ms = 40
    db = tmp_path / "k.duckdb"
    make_ledger(db, accepted=range(1, 301))
    facts = [fact(i) for i in range(1, N_EVENTS + 1)]
    add_facts(db, [replace(f, entity_id=(f.entity_id or 0) % 300 + 1) for f in facts])  # 10 events per person
    rng = random.Random(12)
    kills = 0
    for attempt in range(KILLS):
        accepted = people_sandbox.events.batches["accepted"]
        proc = child(db, people_sandbox, f"run-{attempt}")
        deadline = time.monotonic() + 30
        while people_sandbox.events.batches["accepted"] == accepted and proc.poll() is None:
            assert time.monotonic() < deadline, "the child never sent a batch"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.8))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, (attempt, out, err[-2000:], dict(people_sandbox.events.batches))
    assert kills == KILLS  # every attempt died mid-delivery
    assert people_sandbox.events.batches["accepted"] * BATCH < N_EVENTS  # and left work for the last run

    final = child(db, people_sandbox, "run-final")
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err[-2000:]

    stored = [e["eventId"] for e in people_sandbox.events.all_events()]
    expected = {f"evOrderPlaced{i}" for i in range(1, N_EVENTS + 1)}
    assert len(stored) == len(set(stored)) and set(stored) == expected  # each event in People once
    con = duckdb.connect(str(db), read_only=True)
    try:
        status = dict(con.execute("SELECT status, count(*) FROM people_sync.events GROUP BY 1").fetchall())
        resent = {r[0] for r in con.execute("SELECT event_id FROM people_sync.events WHERE attempts > 1").fetchall()}
    finally:
        con.close()
    assert status == {"SENT": N_EVENTS}
    twice = {eid for eid, n in people_sandbox.events.receipts.items() if n > 1}
    assert len(twice) <= KILLS * WORKERS * BATCH  # only batches in flight at a kill went out again
    assert twice <= resent  # and the ledger shows every one of them
    print(f"kills {kills}, sent twice {len(twice)}, attempts>1 in the ledger {len(resent)}")
