"""People sandbox: identity invariants under random upsert sequences (hypothesis, in-process store).

Whatever PATCH/PUT batches arrive, no identifier may ever name two persons, every identifier a
person holds must find that person, and re-sending an accepted item is NOT_MODIFIED.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bc2people.sandbox.people.store import PeopleStore, contact_key
from bc2people.sandbox.people.validation import validate_person

EXT_IDS = st.sampled_from(["a", "A", "b", "c", ""])
EMAILS = st.sampled_from(["x@example.com", "X@Example.com", "y@example.com", "z@example.com"])
PHONES = st.sampled_from(["41790000001", "+41790000001", "41790000002"])

contact = st.one_of(
    st.builds(lambda e: {"type": "EMAIL", "identifier": e}, EMAILS),
    st.builds(lambda p: {"type": "PHONE", "identifier": p}, PHONES),
)
person = st.fixed_dictionaries(
    {},
    optional={
        "externalId": EXT_IDS,
        "firstName": st.sampled_from(["Ann", "Bob", None]),
        "tags": st.lists(st.sampled_from(["t1", "T1", "t2"]), max_size=2, unique_by=str.lower),
        "contactInformation": st.lists(contact, max_size=3),
    },
)
batches = st.lists(st.tuples(st.booleans(), st.lists(person, min_size=1, max_size=4)), min_size=1, max_size=6)


def _apply(store: PeopleStore, items: list[dict[str, Any]], replace: bool) -> tuple[list[Any], list[Any]]:
    valid = []
    for i, raw in enumerate(items):
        out, _ = validate_person(raw, i, {}, None)
        if out is not None:
            valid.append((i, out))
    return store.upsert(valid, replace=replace)


def _check_invariants(store: PeopleStore) -> None:
    persons = store.all_persons()
    seen: dict[tuple[str, str], int] = {}
    for p in persons:
        keys = [("EXT", p["externalId"])] if p.get("externalId") else []
        keys += [contact_key(c) for c in p["contactInformation"]]
        for key in keys:
            assert key not in seen, f"{key} held by persons {seen[key]} and {p['id']}"
            seen[key] = p["id"]
        if p.get("externalId"):
            assert store.find("EXTERNAL_ID", p["externalId"])["id"] == p["id"]  # type: ignore[index]
        for c in p["contactInformation"]:
            found = store.find(
                c["type"], c["identifier"].upper() if c["type"] == "EMAIL" else c["identifier"]
            )
            assert found is not None and found["id"] == p["id"]
    # nothing points at a deleted or wrong person
    assert len(store._by_ext) == sum(1 for p in persons if p.get("externalId"))
    assert len(store._by_email) + len(store._by_phone) == sum(len(p["contactInformation"]) for p in persons)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_identifiers_never_name_two_persons(sequence):
    store = PeopleStore()
    for replace, items in sequence:
        results, errors = _apply(store, items, replace)
        assert all(e["code"] == 409100 for e in errors)
        _check_invariants(store)


@settings(max_examples=100, deadline=None)
@given(batches, person, st.booleans())
def test_resending_an_accepted_item_is_not_modified(sequence, item, replace):
    store = PeopleStore()
    for r, items in sequence:
        _apply(store, items, r)
    results, _ = _apply(store, [item], replace)
    if results:
        again, errors = _apply(store, [item], replace)
        assert errors == []
        assert again == [{"id": results[0]["id"], "index": 0, "status": "NOT_MODIFIED"}]
