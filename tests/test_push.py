"""push_persons end to end: real staging (BigCommerce sandbox), real dlt, People sandbox over HTTP."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from bc2people.destinations.people.client import PeopleClient
from bc2people.pipelines.ledger import start_run
from bc2people.pipelines.push import PIPELINE_NAME, push_persons
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.people import PeopleSandbox
from tests.fixtures_push import (
    HandMapping,
    assert_person_matches,
    expected_persons,
    ledger_rows,
    stage_real,
)

STORE = "sandbox1"
UPSERT = "PATCH /people/3/persons/upsert"
BASE = {"bad_email_ids": [3, 5], "reject_ids": [7]}


def served(ps: PeopleSandbox) -> int:
    return sum(ps.requests_served.values())


def states(db: Path) -> dict[str, tuple[Any, ...]]:
    rows = ledger_rows(
        db,
        "SELECT external_id, last_status, payload_hash, accepted_hash, people_id, error_code "
        "FROM people_sync.person_state",
    )
    return {r[0]: r[1:] for r in rows}


@pytest.fixture
def first_push(push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox) -> dict[str, Any]:
    db = push_env["db"]
    stage_real(bc_sandbox, db)
    mapping = HandMapping(**BASE)
    res = push_persons(str(db), mapping, "run-1", store_hash=STORE)
    return {**push_env, "bc": bc_sandbox, "mapping": mapping, "first": res}


def test_first_push_records_every_customer(first_push: dict[str, Any]) -> None:
    db, ps, res = first_push["db"], first_push["people"], first_push["first"]
    c = res.counts
    assert (c["mapped"], c["rejected_by_mapping"], c["sent"]) == (119, 1, 119)
    assert (c["created"], c["rejected_by_people"], c["failed"], c["unchanged"]) == (117, 2, 0, 0)
    assert ps.requests_served[UPSERT] == 1
    st = states(db)
    assert len(st) == 120
    assert st[f"bc-{STORE}-7"][0] == "REJECTED_BY_MAPPING"
    assert st[f"bc-{STORE}-3"][0] == "REJECTED_BY_PEOPLE" and st[f"bc-{STORE}-3"][4] == "400100"
    assert st[f"bc-{STORE}-3"][2] is None  # never accepted
    ok = st[f"bc-{STORE}-1"]
    assert ok[0] == "CREATED" and ok[1] == ok[2] and ok[3] == ps.person_by_external_id(f"bc-{STORE}-1")["id"]
    outcomes = ledger_rows(db, "SELECT status, count(*) FROM people_sync.outcomes GROUP BY 1")
    assert dict(outcomes) == {"CREATED": 117, "REJECTED_BY_PEOPLE": 2, "REJECTED_BY_MAPPING": 1}
    expected = expected_persons(db, first_push["mapping"], STORE)
    stored = {p["externalId"]: p for p in ps.persons()}
    assert set(stored) == set(expected) - {f"bc-{STORE}-3", f"bc-{STORE}-5"}
    for ext, person in stored.items():
        assert_person_matches(person, expected[ext])
    assert res.sample_diffs and res.sample_diffs[0]["kind"] == "create"


def test_unchanged_second_run_sends_nothing(first_push: dict[str, Any]) -> None:
    ps, db = first_push["people"], first_push["db"]
    before = served(ps)
    res = push_persons(str(db), first_push["mapping"], "run-2", store_hash=STORE)
    assert served(ps) == before
    assert res.counts["sent"] == 0 and res.counts["mapped"] == 0
    assert res.sample_diffs == []


def test_rejected_are_not_resent_unless_asked(first_push: dict[str, Any]) -> None:
    ps, db, mapping = first_push["people"], first_push["db"], first_push["mapping"]
    # a staged change elsewhere does not drag the rejected persons along
    first_push["bc"].update_customer(20, first_name="Zed")
    first_push["bc"].clock.advance(120)  # past the source's settle lag
    assert stage_real(first_push["bc"], db).extracted == 1
    before = ps.requests_served[UPSERT]
    res = push_persons(str(db), mapping, "run-2", store_hash=STORE)
    assert res.counts["sent"] == 1 and res.counts["updated"] == 1
    assert ps.requests_served[UPSERT] == before + 1
    res = push_persons(str(db), mapping, "run-3", store_hash=STORE, retry_rejected=True)
    assert res.counts["sent"] == 2 and res.counts["rejected_by_people"] == 2
    assert res.counts["rejected_by_mapping"] == 1
    attempts = ledger_rows(
        db, "SELECT count(*) FROM people_sync.outcomes WHERE external_id = ? AND status = 'REJECTED_BY_PEOPLE'",
        [f"bc-{STORE}-3"],
    )
    assert attempts == [(2,)]


def test_fixing_the_data_resends_a_rejected_person(first_push: dict[str, Any]) -> None:
    ps, db = first_push["people"], first_push["db"]
    fixed = HandMapping(bad_email_ids=[5], reject_ids=[7])  # customer 3's email is now valid
    res = push_persons(str(db), fixed, "run-2", store_hash=STORE)
    assert (res.counts["sent"], res.counts["created"], res.counts["unchanged"]) == (1, 1, 118)
    assert states(db)[f"bc-{STORE}-3"][0] == "CREATED"
    assert ps.person_by_external_id(f"bc-{STORE}-3") is not None


def test_mapping_change_resends_exactly_the_changed_persons(first_push: dict[str, Any]) -> None:
    ps, db = first_push["people"], first_push["db"]
    changed = HandMapping(**BASE, suffix="-x", only_ids_changed=[10, 11, 12])
    res = push_persons(str(db), changed, "run-2", store_hash=STORE)
    c = res.counts
    assert (c["mapped"], c["sent"], c["updated"], c["unchanged"]) == (119, 3, 3, 116)
    assert {d["external_id"] for d in res.sample_diffs} == {f"bc-{STORE}-{i}" for i in (10, 11, 12)}
    diff = res.sample_diffs[0]
    assert diff["kind"] == "update" and [ch["field"] for ch in diff["changes"]] == ["lastName"]
    assert diff["changes"][0]["after"].endswith("-x")
    assert ps.person_by_external_id(f"bc-{STORE}-10")["lastName"].endswith("-x")
    before = served(ps)
    assert push_persons(str(db), changed, "run-3", store_hash=STORE).counts["sent"] == 0
    assert served(ps) == before


def test_deleted_customers_get_tagged_once(push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox) -> None:
    ps, db = push_env["people"], push_env["db"]
    stage_real(bc_sandbox, db)
    mapping = HandMapping(on_deleted={"action": "tag", "tag": "deleted-in-store"})
    push_persons(str(db), mapping, "run-1", store_hash=STORE)
    bc_sandbox.delete_customer(30)
    bc_sandbox.delete_customer(31)
    stage_real(bc_sandbox, db, sweep_deletions=True)
    res = push_persons(str(db), mapping, "run-2", store_hash=STORE)
    assert res.counts["delete_actions"] == 2 and res.counts["sent"] == 0
    assert ps.requests_served["PATCH /people/2/tags/deleted-in-store/persons"] == 1
    assert "deleted-in-store" in ps.person_by_external_id(f"bc-{STORE}-30")["tags"]
    assert "deleted-in-store" not in (ps.person_by_external_id(f"bc-{STORE}-32").get("tags") or [])
    rows = ledger_rows(db, "SELECT deleted_action FROM people_sync.person_state WHERE customer_id IN (30, 31)")
    assert rows == [("tagged",), ("tagged",)]
    before = served(ps)
    assert push_persons(str(db), mapping, "run-3", store_hash=STORE).counts["delete_actions"] == 0
    assert served(ps) == before


def test_deleted_customers_get_deleted_once(push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox) -> None:
    ps, db = push_env["people"], push_env["db"]
    stage_real(bc_sandbox, db)
    mapping = HandMapping(on_deleted={"action": "delete", "tag": None})
    push_persons(str(db), mapping, "run-1", store_hash=STORE)
    ps.store.delete("EXTERNAL_ID", f"bc-{STORE}-41")  # already gone from People: 404 counts as done
    for cid in (40, 41):
        bc_sandbox.delete_customer(cid)
    stage_real(bc_sandbox, db, sweep_deletions=True)
    res = push_persons(str(db), mapping, "run-2", store_hash=STORE)
    assert res.counts["delete_actions"] == 2
    assert ps.person_by_external_id(f"bc-{STORE}-40") is None
    assert len(ps.persons()) == 118
    st = states(db)
    assert st[f"bc-{STORE}-40"][0] == "DELETED" and st[f"bc-{STORE}-40"][2] is None
    before = served(ps)
    again = push_persons(str(db), mapping, "run-3", store_hash=STORE)
    assert again.counts["delete_actions"] == 0 and served(ps) == before


def test_deleted_customers_with_action_none_are_left_alone(
    push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox
) -> None:
    ps, db = push_env["people"], push_env["db"]
    stage_real(bc_sandbox, db)
    mapping = HandMapping()
    push_persons(str(db), mapping, "run-1", store_hash=STORE)
    bc_sandbox.delete_customer(50)
    stage_real(bc_sandbox, db, sweep_deletions=True)
    before = served(ps)
    res = push_persons(str(db), mapping, "run-2", store_hash=STORE)
    assert res.counts["delete_actions"] == 0 and served(ps) == before
    assert ps.person_by_external_id(f"bc-{STORE}-50") is not None


def test_dry_run_sends_and_writes_nothing(push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox) -> None:
    ps, db = push_env["people"], push_env["db"]
    stage_real(bc_sandbox, db)
    res = push_persons(str(db), HandMapping(**BASE), "run-1", store_hash=STORE, dry_run=True)
    assert res.counts["sent"] == 119 and res.counts["rejected_by_mapping"] == 1
    assert served(ps) == 0
    assert ledger_rows(db, "SELECT count(*) FROM people_sync.person_state") == [(0,)]
    assert ledger_rows(db, "SELECT count(*) FROM people_sync.outcomes") == [(0,)]


def test_multi_batch_push_stays_under_the_rate_limit(
    push_env: dict[str, Any], customers_factory: Any
) -> None:
    ps, db = push_env["people"], push_env["db"]
    ps.rate_limit = 5
    with BigCommerceSandbox(store_hash=STORE, access_token="sandbox-token") as bc:
        bc.add_customers(customers_factory(1050, seed=2))
        stage_real(bc, db)
    # 11 batches from 4 parallel workers: unspaced, they would put >5 requests in one second
    res = push_persons(str(db), HandMapping(group_attr="customer_group", fixed_tags=["bigcommerce"]), "r1",
                       store_hash=STORE, batch_size=100, workers=4)
    assert res.counts["created"] == 1050
    assert ps.requests_served[UPSERT] == 11
    assert ps.limiter.refused == 0
    assert ps.custom_attributes() == {"customer_group": "INTEGER"} and "bigcommerce" in ps.tags()


def test_faults_during_push_leave_exactly_the_expected_persons(
    push_env: dict[str, Any], customers_factory: Any
) -> None:
    from bc2people.destinations.people.client import PeopleClient

    ps, db = push_env["people"], push_env["db"]
    with BigCommerceSandbox(store_hash=STORE, access_token="sandbox-token") as bc:
        bc.add_customers(customers_factory(400, seed=3))
        stage_real(bc, db)
    client = PeopleClient(ps.base_url, ps.api_key, backoff_base=0.01, backoff_cap=0.05, rate=1000, timeout=5)
    ps.faults.configure(rate=0.4, kinds=["500", "502", "reset", "truncate", "429"], seed=1)
    mapping = HandMapping()
    try:
        res = push_persons(str(db), mapping, "r1", store_hash=STORE, client=client, batch_size=50)
    finally:
        ps.faults.configure(rate=0.0)
    assert sum(ps.faults.injected.values()) > 0
    assert res.counts["created"] + res.counts["not_modified"] + res.counts["updated"] == 400
    expected = expected_persons(db, mapping, STORE)
    stored = {p["externalId"]: p for p in ps.persons()}
    assert len(ps.persons()) == len(stored) == 400 and set(stored) == set(expected)
    accepted = ledger_rows(db, "SELECT count(*) FROM people_sync.person_state WHERE accepted_hash = payload_hash")
    assert accepted == [(400,)]


def test_persistent_outage_fails_then_next_run_finishes_the_pending_batches(
    push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bc2people.destinations.people.client import PeopleClient
    from bc2people.destinations.people.errors import PeopleTransientError

    ps, db = push_env["people"], push_env["db"]
    stage_real(bc_sandbox, db)
    client = PeopleClient(ps.base_url, ps.api_key, backoff_base=0.01, backoff_cap=0.02, rate=1000,
                          max_transient_retries=1)
    mapping = HandMapping()
    monkeypatch.setenv("LOAD__RAISE_ON_MAX_RETRIES", "1")  # dlt gives up on the job sooner
    ps.faults.configure(rate=1.0, kinds=["503"], seed=1)
    try:
        with pytest.raises(PeopleTransientError) as info:
            push_persons(str(db), mapping, "r1", store_hash=STORE, client=client)
    finally:
        ps.faults.configure(rate=0.0)
    assert info.value.exit_code == 1 and ps.api_key not in str(info.value)
    assert ps.persons() == []
    res = push_persons(str(db), mapping, "r2", store_hash=STORE, client=client)
    assert res.counts["resumed"] == 120 and res.counts["created"] == 120 and res.counts["sent"] == 0
    assert len(ps.persons()) == 120


def test_wrong_key_stops_with_exit_2_and_no_secret_anywhere(
    push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bc2people.destinations.people.errors import PeopleAuthError

    db = push_env["db"]
    stage_real(bc_sandbox, db)
    secret = "a-very-secret-people-key-42"
    monkeypatch.setenv("DESTINATION__PEOPLE__API_KEY", secret)
    with pytest.raises(PeopleAuthError) as info:
        push_persons(str(db), HandMapping(), "r1", store_hash=STORE)
    assert info.value.exit_code == 2 and secret not in str(info.value)
    files = [f for f in [db, *Path(str(db).replace(".duckdb", ".dlt")).rglob("*")] if f.is_file()]
    assert any(PIPELINE_NAME in str(f) for f in files)  # the push pipeline's state was written
    for f in files:
        data = f.read_bytes()
        if f.suffix == ".gz" or data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        assert secret.encode() not in data, f


def test_start_and_finish_run_mark_interrupted_runs(push_env: dict[str, Any]) -> None:
    import duckdb

    from bc2people.pipelines.ledger import finish_run

    con = duckdb.connect(str(push_env["db"]))
    start_run(con, "a", "m.yaml", "h1", {"dry_run": False})
    start_run(con, "b", "m.yaml", "h1", {})
    finish_run(con, "b", "success", {"sent": 3, "created": 2, "not_a_count": 9})
    rows = con.execute("SELECT run_id, status, error, sent, created FROM people_sync.runs ORDER BY run_id").fetchall()
    con.close()
    assert rows == [("a", "failed", "interrupted", None, None), ("b", "success", None, 3, 2)]


def test_push_with_the_shipped_mapping(push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox) -> None:
    from bc2people.pipelines.mapping import load_mapping

    ps, db = push_env["people"], push_env["db"]
    stage_real(bc_sandbox, db)
    mapping = load_mapping(str(Path(__file__).resolve().parents[1] / "mappings/customers_to_people.yaml"))
    fast = PeopleClient(ps.base_url, ps.api_key, rate=1000)  # the sandbox here has no limit
    res = push_persons(str(db), mapping, "r1", store_hash=STORE, client=fast)
    c = res.counts
    assert c["mapped"] + c["rejected_by_mapping"] == 120
    assert c["created"] + c["rejected_by_people"] == c["sent"] == c["mapped"]
    for name, data_type in mapping.custom_attributes.items():
        assert ps.custom_attributes()[name] == data_type
    expected = expected_persons(db, mapping, STORE)
    stored = {p["externalId"]: p for p in ps.persons()}
    accepted = {r[0] for r in ledger_rows(db, "SELECT external_id FROM people_sync.person_state "
                                              "WHERE last_status = 'CREATED'")}
    assert set(stored) == accepted
    for ext in accepted:
        assert_person_matches(stored[ext], expected[ext])
    before = served(ps)
    assert push_persons(str(db), mapping, "r2", store_hash=STORE).counts["sent"] == 0
    assert served(ps) == before


def test_hostile_customers_are_all_accounted_for(push_env: dict[str, Any]) -> None:
    from bc2people.pipelines.mapping import load_mapping
    from bc2people.sandbox.generator import generate_customers, nasty_customers

    ps, db = push_env["people"], push_env["db"]
    with BigCommerceSandbox(store_hash=STORE, access_token="sandbox-token") as bc:
        bc.add_customers(generate_customers(20, seed=9) + nasty_customers(40, seed=9, start_id=1000))
        stage_real(bc, db)
    mapping = load_mapping(str(Path(__file__).resolve().parents[1] / "mappings/customers_to_people.yaml"))
    fast = PeopleClient(ps.base_url, ps.api_key, rate=1000)  # the sandbox here has no limit
    res = push_persons(str(db), mapping, "r1", store_hash=STORE, client=fast)
    c = res.counts
    assert c["mapped"] + c["rejected_by_mapping"] == 60
    assert c["created"] + c["rejected_by_people"] + c["failed"] == c["sent"] == c["mapped"]
    rows = ledger_rows(db, "SELECT last_status, count(*) FROM people_sync.person_state GROUP BY 1")
    assert sum(n for _, n in rows) == 60
    reasons = ledger_rows(
        db, "SELECT error_message FROM people_sync.person_state WHERE last_status LIKE 'REJECTED%'"
    )
    assert all(r[0] for r in reasons)  # every rejection says why
    assert len(ps.persons()) == c["created"]


@pytest.mark.parametrize("ahead", [False, True], ids=["at-the-first-package", "provisioned-ahead"])
def test_attribute_type_mismatch_stops_before_any_person_is_sent(
    push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox, ahead: bool
) -> None:
    """Found when the first package is due, or by provisioning ahead (an overlapped first
    sync's `PushSession.provision_ahead`), whose error the first package raises."""
    from bc2people.destinations.people.errors import ProvisioningError
    from bc2people.pipelines.push import PushSession

    ps, db = push_env["people"], push_env["db"]
    stage_real(bc_sandbox, db)
    ps.define_custom_attribute("customer_group", "STRING")
    fast = PeopleClient(ps.base_url, ps.api_key, rate=1000)
    mapping = HandMapping(group_attr="customer_group")
    with pytest.raises(ProvisioningError) as info:
        if ahead:
            with PushSession(str(db), mapping, "r1", store_hash=STORE, client=fast) as session:
                session.provision_ahead()
                session.push_all(None)
        else:
            push_persons(str(db), mapping, "r1", store_hash=STORE, client=fast)
    assert info.value.exit_code == 2
    assert "customer_group" in str(info.value) and "INTEGER" in str(info.value) and "STRING" in str(info.value)
    assert ps.requests_served[UPSERT] == 0 and ps.persons() == []


class _BrokenEnvelopeClient(PeopleClient):
    """Sends an upsert body without ``persons``: People answers a whole-request 400104."""

    def upsert_json(self, persons_json):  # type: ignore[no-untyped-def]
        return self.send_upsert({"people": []}, len(persons_json))


def test_whole_request_400_stops_without_retries_and_loses_nothing(
    push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox
) -> None:
    from bc2people.destinations.people.errors import PeopleRequestError

    ps, db = push_env["people"], push_env["db"]
    stage_real(bc_sandbox, db)
    broken = _BrokenEnvelopeClient(ps.base_url, ps.api_key, rate=1000)
    with pytest.raises(PeopleRequestError) as info:
        push_persons(str(db), HandMapping(), "r1", store_hash=STORE, client=broken, batch_size=50, workers=1)
    assert info.value.exit_code == 1 and "400104" in str(info.value)
    assert ps.requests_served[UPSERT] == 1  # terminal: the job is not retried
    fixed = PeopleClient(ps.base_url, ps.api_key, rate=1000)
    res = push_persons(str(db), HandMapping(), "r2", store_hash=STORE, client=fixed)
    assert res.counts["created"] == 120 and len(ps.persons()) == 120
