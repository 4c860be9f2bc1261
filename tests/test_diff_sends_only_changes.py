"""The diff, not only the selector, keeps unchanged persons at home: a ``--full-refresh`` run
re-stages every customer (so all of them are selected and mapped again), yet sends nobody
whose mapped payload People already accepted -- and sends exactly the one that changed."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures_sync import started_sync_world


def test_full_refresh_resends_only_changed_payloads(tmp_path: Path) -> None:
    with started_sync_world(tmp_path, customers=30) as w:
        first = w.sync("--max-rejected-pct", "100", "--log-format", "json")
        assert first.returncode == 0, first
        accepted = sum(first.summary["counts"][k] for k in ("created", "updated", "not_modified"))
        assert accepted > 0
        upserts = sum(n for k, n in w.people.requests_served.items() if k.endswith("/persons/upsert"))

        again = w.sync("--full-refresh", "--max-rejected-pct", "100", "--log-format", "json")
        assert again.returncode == 0, again
        c = again.summary["counts"]
        assert c["extracted"] == len(w.bc.store.all()), c  # everything re-read and re-mapped
        assert c["sent"] == 0 and c["unchanged"] >= accepted, c
        assert sum(n for k, n in w.people.requests_served.items() if k.endswith("/persons/upsert")) == upserts

        cid = sorted(x["id"] for x in w.bc.store.all())[3]
        w.bc.clock.advance(5)
        w.bc.update_customer(cid, company="Diff Check Co")
        w.bc.clock.advance(600)
        third = w.sync("--full-refresh", "--max-rejected-pct", "100", "--log-format", "json")
        assert third.returncode == 0, third
        assert (third.summary["counts"]["sent"], third.summary["counts"]["updated"]) == (1, 1), third.summary
