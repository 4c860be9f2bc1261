"""THE crash test: SIGKILL a real push subprocess mid-delivery, run again, nothing lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import duckdb

from bc2people.pipelines.ledger import start_run
from bc2people.pipelines.push import push_persons
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from tests.fixtures_push import HandMapping, assert_person_matches, expected_persons, ledger_rows, stage_real

STORE = "sandbox1"
UPSERT = "PATCH /people/3/persons/upsert"
REPO = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import sys, duckdb
    from bc2people.pipelines.ledger import start_run
    from bc2people.pipelines.push import push_persons
    from tests.fixtures_push import HandMapping
    db = sys.argv[1]
    con = duckdb.connect(db); start_run(con, "crash-run", "hand", "h", {}); con.close()
    push_persons(db, HandMapping(bad_email_ids=[4]), "crash-run", store_hash="sandbox1", batch_size=50, workers=2)
    print("FINISHED")
    """
)


def test_sigkill_mid_push_then_rerun_converges(push_env: dict[str, Any], customers_factory: Any) -> None:
    ps, db = push_env["people"], push_env["db"]
    with BigCommerceSandbox(store_hash=STORE, access_token="sandbox-token") as bc:
        bc.add_customers(customers_factory(700, seed=4))
        stage_real(bc, db)
    ps.latency_ms = 150
    ps.rate_limit = 5
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while ps.requests_served[UPSERT] < 4:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the push never started sending"
            time.sleep(0.02)
        time.sleep(0.1)  # land mid-batch: some requests in flight
        child.send_signal(signal.SIGKILL)
    finally:
        out, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL and b"FINISHED" not in out, err.decode()[-2000:]
    sent_before = ps.requests_served[UPSERT]
    assert 4 <= sent_before < 14  # 14 batches of 50: killed part-way
    partial = len(ps.persons())
    assert 0 < partial < 699

    ps.latency_ms = 0
    mapping = HandMapping(bad_email_ids=[4])
    con = duckdb.connect(str(db))
    start_run(con, "run-2", "hand", "h", {})
    con.close()
    res = push_persons(str(db), mapping, "run-2", store_hash=STORE, batch_size=50, workers=2)
    assert res.counts.get("resumed", 0) > 0  # the killed run's package was finished first

    expected = expected_persons(db, mapping, STORE)
    del expected[f"bc-{STORE}-4"]  # People rejects its email
    stored = ps.persons()
    by_ext = {p["externalId"]: p for p in stored}
    assert len(stored) == len(by_ext) == len(expected) == 699  # none missing, none duplicated
    for ext, payload in expected.items():
        assert_person_matches(by_ext.get(ext), payload)

    rows = ledger_rows(
        db, "SELECT external_id, last_status, people_id, accepted_hash = payload_hash FROM people_sync.person_state"
    )
    state = {r[0]: r[1:] for r in rows}
    assert len(state) == 700
    assert state[f"bc-{STORE}-4"][0] == "REJECTED_BY_PEOPLE"
    for ext, person in by_ext.items():
        status, people_id, accepted = state[ext]
        assert status in ("CREATED", "UPDATED", "NOT_MODIFIED") and accepted, ext
        assert people_id == person["id"], ext
    runs = dict(ledger_rows(db, "SELECT run_id, error FROM people_sync.runs"))
    assert runs["crash-run"] == "interrupted"

    before = sum(ps.requests_served.values())
    again = push_persons(str(db), mapping, "run-3", store_hash=STORE)
    assert again.counts["sent"] == 0 and sum(ps.requests_served.values()) == before
