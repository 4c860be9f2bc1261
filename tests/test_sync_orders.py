"""Orders beside customers, end to end: staged orders become traits in People, a changed order
re-sends only its customer, and a token without the Orders scope keeps the customers sync going."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from bc2people.pipelines.sync import run_sync
from bc2people.sandbox.run import env_for, start_sandboxes

MAPPING = Path(__file__).resolve().parents[1] / "mappings" / "customers_to_people.yaml"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    bc, people = start_sandboxes(150, seed=11, orders=True)
    people.rate_limit = None
    for key, value in env_for(bc, people).items():
        monkeypatch.setenv(key, value)
    try:
        yield bc, people, tmp_path / "o.duckdb"
    finally:
        bc.stop()
        people.stop()


def _traits(db: Path, customer_id: int) -> dict:  # type: ignore[type-arg]
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT traits FROM people_sync.customer_traits WHERE customer_id = ?",
                          [customer_id]).fetchone()
    finally:
        con.close()
    import json

    assert row is not None
    return dict(json.loads(row[0]))


def _all_traits(db: Path) -> dict[int, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(con.execute("SELECT customer_id, traits_hash FROM people_sync.customer_traits").fetchall())
    finally:
        con.close()


def test_order_traits_reach_people_and_a_changed_order_resends_only_its_customer(world) -> None:  # type: ignore[no-untyped-def]
    bc, people, db = world
    first = run_sync(MAPPING, db, max_rejected_pct=100)
    assert first.exit_code == 0, first.error
    assert first.counts["orders_extracted"] > 0 and first.counts["orders_staged"] == first.counts["orders_extracted"]
    buyers = [p for p in people.persons() if (p.get("customAttributes") or {}).get("bc_order_count")]
    assert buyers, "no person carries an order count"
    sample = buyers[0]
    cid = int(sample["externalId"].rsplit("-", 1)[1])
    traits = _traits(db, cid)
    assert sample["customAttributes"]["bc_order_count"] == traits["order_count"]
    assert sample["customAttributes"]["bc_rfm_segment"] == traits["rfm_segment"]

    # one new order for a customer with none, one refund: only those two persons are re-sent
    con = duckdb.connect(str(db), read_only=True)
    try:
        no_orders = con.execute("SELECT min(id) FROM bigcommerce.customers WHERE id NOT IN "
                                "(SELECT customer_id FROM bigcommerce.orders)").fetchone()[0]
        refundable = con.execute("SELECT id, customer_id FROM bigcommerce.orders WHERE customer_id > 0 AND "
                                 "status_id IN (10, 11) AND NOT is_deleted AND customer_id <> ? ORDER BY id LIMIT 1",
                                 [no_orders]).fetchone()
    finally:
        con.close()
    bc.clock.advance(120)
    bc.commerce.create_order_for(no_orders, 80.0)
    bc.commerce.refund_order(refundable[0], 5.0)
    bc.clock.advance(120)
    served = people.requests_served.copy()
    before = _all_traits(db)
    second = run_sync(MAPPING, db, max_rejected_pct=100)
    assert second.exit_code == 0, second.error
    assert (second.counts["extracted"], second.counts["orders_extracted"]) == (0, 2)
    after = _all_traits(db)
    # the two customers' traits changed; RFM quintiles may move a few others with them
    changed = {c for c in after if after[c] != before.get(c)}
    assert {no_orders, refundable[1]} <= changed and len(changed) < 20
    # exactly those are re-mapped; those whose mapped attributes moved are sent (an unmapped
    # trait such as rfm_score can change alone)
    assert second.counts["mapped"] == len(changed)
    assert 2 <= second.counts["sent"] == second.counts["updated"] <= len(changed)
    assert sum((people.requests_served - served).values()) >= 1
    got = people.person_by_external_id(f"bc-sandbox1-{no_orders}")
    assert got is not None and got["customAttributes"]["bc_order_count"] == 1
    assert got["customAttributes"]["bc_lifetime_value"] == pytest.approx(80.0)

    third = run_sync(MAPPING, db, max_rejected_pct=100)  # the lookback may read the 2 orders again
    assert third.counts["sent"] == 0 and third.counts["mapped"] == 0

    con = duckdb.connect(str(db), read_only=True)
    try:
        states = dict(con.execute("SELECT state, customers FROM people_sync.traits_summary").fetchall())
        per_customer = con.execute("SELECT orders_staged FROM people_sync.customer_orders WHERE customer_id = ?",
                                   [no_orders]).fetchone()
    finally:
        con.close()
    assert states.get("pending", 0) == 0 and states["in_people"] > 0
    assert per_customer == (1,)


def test_a_token_without_the_orders_scope_still_syncs_customers(world) -> None:  # type: ignore[no-untyped-def]
    bc, people, db = world
    bc.scoped_tokens["customers-only-token"] = frozenset({"store_v2_customers_read_only"})
    import os

    os.environ["SOURCES__BIGCOMMERCE__ACCESS_TOKEN"] = "customers-only-token"
    result = run_sync(MAPPING, db, max_rejected_pct=100)
    assert result.exit_code == 0 and result.status == "success"
    assert result.counts["orders_extracted"] == 0 and result.counts["mapped"] == 150
    assert result.error is not None and "Orders" in result.error and "customers-only-token" not in result.error
    assert len(people.persons()) > 100


def test_a_traits_sql_error_stops_the_run_before_any_request(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from bc2people.pipelines.sync import SetupError

    bc, people, db = world
    mappings = tmp_path / "mappings"
    shutil.copytree(MAPPING.parent, mappings)
    sql = mappings / "customer_traits.sql"
    lines = sql.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if "FROM bigcommerce.orders" in line)
    lines[at] = lines[at].replace("bigcommerce.orders", "bigcommerce.orderz")
    sql.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bc_before, people_before = sum(bc.requests_served.values()), sum(people.requests_served.values())
    with pytest.raises(SetupError) as err:
        run_sync(mappings / "customers_to_people.yaml", db)
    assert err.value.exit_code == 2
    assert f"customer_traits.sql:{at + 1}:" in str(err.value) and "orderz" in str(err.value)
    assert (sum(bc.requests_served.values()), sum(people.requests_served.values())) == (bc_before, people_before)
    assert not db.exists()


def test_a_new_day_re_maps_only_when_a_mapped_trait_moves(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """days_since_last_order moves for every buyer every day: unmapped (the default), it re-maps
    nobody; mapped, it re-maps and re-sends every buyer."""
    bc, people, db = world
    first = run_sync(MAPPING, db, max_rejected_pct=100)
    assert first.exit_code == 0, first.error
    buyers = {c for c, t in _all_traits_json(db).items() if t["order_count"]}
    assert buyers
    before = _all_traits_json(db)
    bc.clock.advance(2 * 86400)
    second = run_sync(MAPPING, db, max_rejected_pct=100)
    assert second.exit_code == 0, second.error
    after = _all_traits_json(db)
    assert all(after[c]["days_since_last_order"] == before[c]["days_since_last_order"] + 2 for c in buyers)
    assert second.counts["mapped"] == 0 and second.counts["sent"] == 0

    # the same store and ledger, with the day count mapped: every buyer is re-mapped and re-sent once
    mapped_days = tmp_path / "with_days"
    mapped_days.mkdir()
    for f in MAPPING.parent.glob("*.sql"):
        (mapped_days / f.name).write_text(f.read_text())
    text = MAPPING.read_text()
    old = ("  # - to: customAttributes.bc_days_since_last_order\n  #   type: INTEGER\n"
           "  #   from: $.traits.days_since_last_order\n")
    assert old in text
    (mapped_days / MAPPING.name).write_text(text.replace(old, old.replace("  # ", "  ").replace("  #   ", "    ")))
    third = run_sync(mapped_days / MAPPING.name, db, max_rejected_pct=100)  # a new mapping: all re-mapped
    assert third.exit_code == 0, third.error
    assert third.counts["sent"] == len(buyers)
    bc.clock.advance(86400)
    fourth = run_sync(mapped_days / MAPPING.name, db, max_rejected_pct=100)
    assert fourth.exit_code == 0, fourth.error
    assert fourth.counts["mapped"] == fourth.counts["sent"] == len(buyers)
    got = people.person_by_external_id(f"bc-sandbox1-{min(buyers)}")
    assert got is not None
    assert got["customAttributes"]["bc_days_since_last_order"] == after[min(buyers)]["days_since_last_order"] + 1


def _all_traits_json(db: Path) -> dict[int, dict]:  # type: ignore[type-arg]
    import json

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {c: json.loads(t) for c, t in con.execute("SELECT customer_id, traits FROM people_sync.customer_traits").fetchall()}
    finally:
        con.close()
