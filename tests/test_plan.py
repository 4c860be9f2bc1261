"""``plan`` and ``bc2people plan``: counts and field-level diffs, nothing sent or written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bc2people.pipelines.cli import main as cli_main
from bc2people.pipelines.plan import plan, render_json, render_text
from bc2people.pipelines.push import push_persons
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from tests.fixtures_push import HandMapping, ledger_rows, stage_real

STORE = "sandbox1"
BASE = {"bad_email_ids": [3, 5], "reject_ids": [7]}


def test_plan_before_and_after_a_push(push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox) -> None:
    ps, db = push_env["people"], push_env["db"]
    stage_real(bc_sandbox, db)
    mapping = HandMapping(**BASE)
    first = plan(db, mapping, store_hash=STORE, sample=3)
    assert first.counts == {
        "staged": 120, "creates": 119, "updates": 0, "unchanged": 0, "rejected_by_mapping": 1,
        "still_rejected_by_people": 0, "delete_actions": 0,
    }
    assert len(first.sample_diffs) == 3 and first.sample_diffs[0]["kind"] == "create"
    assert sum(ps.requests_served.values()) == 0
    assert ledger_rows(db, "SELECT count(*) FROM people_sync.person_state") == [(0,)]

    push_persons(str(db), mapping, "r1", store_hash=STORE)
    after = plan(db, mapping, store_hash=STORE)
    assert (after.counts["creates"], after.counts["updates"], after.counts["unchanged"]) == (0, 0, 120 - 0)
    assert after.sample_diffs == []

    changed = HandMapping(**BASE, suffix="-v2", only_ids_changed=[1, 2])
    before_rows = ledger_rows(db, "SELECT count(*), max(last_attempt_at) FROM people_sync.person_state")
    served = sum(ps.requests_served.values())
    p = plan(db, changed, store_hash=STORE)
    assert (p.counts["updates"], p.counts["creates"], p.counts["still_rejected_by_people"]) == (2, 0, 2)
    assert p.counts["unchanged"] == 117 - 2 + 2  # 115 live unchanged + 2 still rejected
    diff = {d["external_id"]: d for d in p.sample_diffs}[f"bc-{STORE}-1"]
    assert diff["changes"][0]["field"] == "lastName" and diff["changes"][0]["after"].endswith("-v2")
    assert ledger_rows(db, "SELECT count(*), max(last_attempt_at) FROM people_sync.person_state") == before_rows
    assert sum(ps.requests_served.values()) == served

    text = render_text(p)
    assert "updates" in text and "lastName" in text and "→" in text
    doc = json.loads(render_json(p))
    assert doc["counts"]["updates"] == 2 and doc["sample_diffs"][0]["changes"]


def test_cli_plan_with_the_shipped_mapping(
    push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = push_env["db"]
    stage_real(bc_sandbox, db)
    monkeypatch.setenv("SOURCES__BIGCOMMERCE__STORE_HASH", STORE)
    rc = cli_main(["plan", "--duckdb", str(db), "--json", "--sample", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    doc = json.loads(out)
    c = doc["counts"]
    assert c["staged"] == 120 and c["creates"] + c["rejected_by_mapping"] == 120
    assert len(doc["sample_diffs"]) == 2
    assert doc["sample_diffs"][0]["changes"][0]["before"] is None
    rc = cli_main(["plan", "--duckdb", str(db)])
    assert rc == 0 and "creates" in capsys.readouterr().out


def test_cli_plan_without_store_hash_exits_2(
    push_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    monkeypatch.delenv("SOURCES__BIGCOMMERCE__STORE_HASH", raising=False)
    monkeypatch.chdir(tmp_path)
    repo_mapping = __import__("pathlib").Path(__file__).resolve().parents[1] / "mappings/customers_to_people.yaml"
    rc = cli_main(["plan", "--mapping", str(repo_mapping), "--duckdb", str(push_env["db"])])
    assert rc == 2
    assert "SOURCES__BIGCOMMERCE__STORE_HASH" in capsys.readouterr().err


def test_mapping_rejection_reason_names_its_field_once(push_env: dict[str, Any], customers_factory: Any) -> None:
    from bc2people.pipelines.mapping import load_mapping
    from tests.fixtures_push import stage

    db = push_env["db"]
    customers = customers_factory(3)
    customers[0]["store_credit_amounts"] = [{"amount": 1e308}]  # beyond People's DECIMAL range
    stage(db, customers)
    mapping = load_mapping("mappings/customers_to_people.yaml")
    res = push_persons(str(db), mapping, "r1", store_hash=STORE)
    assert res.counts["rejected_by_mapping"] == 1
    [(status, message)] = ledger_rows(
        db, "SELECT last_status, error_message FROM people_sync.person_state WHERE customer_id = ?",
        [customers[0]["id"]],
    )
    field = "customAttributes.bc_store_credit"
    assert status == "REJECTED_BY_MAPPING"
    assert message.startswith(f"{field}: ") and message.count(field) == 1, message
