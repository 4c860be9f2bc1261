"""Fixtures for the push/ledger/destination/plan tests (loaded by tests/conftest.py).

``HandMapping`` is a small, explicit stand-in for a compiled mapping (same attributes and
``map`` signature as `pipelines.mapping.Mapping`), so these tests pin the delivery logic
without depending on a YAML file's details. ``stage`` loads generator customers into
``bigcommerce.customers`` with a real dlt pipeline (DuckDB, merge on id, API shape kept).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bc2people.destinations.people.client import PeopleClient
from bc2people.pipelines.mapping import MappedRecord
from bc2people.sandbox.generator import generate_customers
from bc2people.sandbox.people import PeopleSandbox

FORBIDDEN = re.compile(r'[&<>"/\\:(){}=;#\r\n]')


class HandMapping:
    """Maps a generator customer to a People v3 person (externalId bc-<store>-<id>).

    ``bad_email_ids`` get an address People rejects; ``reject_ids`` are rejected by the
    mapping; ``suffix`` changes every lastName (a mapping change that alters all persons);
    ``group_attr`` adds customAttributes.customer_group (INTEGER).
    """

    def __init__(
        self,
        *,
        suffix: str = "",
        bad_email_ids: Iterable[int] = (),
        reject_ids: Iterable[int] = (),
        group_attr: str | None = None,
        group_type: str = "INTEGER",
        fixed_tags: Iterable[str] = (),
        on_deleted: dict[str, Any] | None = None,
        only_ids_changed: Iterable[int] = (),
    ) -> None:
        self.suffix = suffix
        self.bad_email_ids = set(bad_email_ids)
        self.reject_ids = set(reject_ids)
        self.group_attr = group_attr
        self.custom_attributes = {group_attr: group_type} if group_attr else {}
        self.fixed_tags = list(fixed_tags)
        self.traits = None  # no traits SQL
        self.removed_attributes = "leave"
        self.on_deleted = on_deleted or {"action": "none", "tag": None}
        self.only_ids_changed = set(only_ids_changed)
        self.path = "hand-mapping"
        self.version = 1
        spec = [suffix, sorted(self.bad_email_ids), sorted(self.reject_ids), group_attr, group_type,
                self.fixed_tags, self.on_deleted, sorted(self.only_ids_changed)]
        self.sha256 = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def map(self, customer: dict[str, Any], context: dict[str, Any] | None = None) -> MappedRecord:
        store = (context or {}).get("store_hash", "store")
        cid = customer["id"]
        ext = f"bc-{store}-{cid}"
        if cid in self.reject_ids:
            return MappedRecord(cid, ext, None, "email is not a valid address", "email")
        last = FORBIDDEN.sub("", customer.get("last_name") or "")[:200]
        if self.suffix and (not self.only_ids_changed or cid in self.only_ids_changed):
            last += self.suffix
        email = "not-an-email" if cid in self.bad_email_ids else f"customer{cid}@example.com"
        person: dict[str, Any] = {
            "externalId": ext,
            "firstName": FORBIDDEN.sub("", customer.get("first_name") or "")[:200],
            "lastName": last,
            "contactInformation": [{"type": "EMAIL", "identifier": email}],
        }
        if self.group_attr:
            person["customAttributes"] = {self.group_attr: customer.get("customer_group_id") or 0}
        if self.fixed_tags:
            person["tags"] = list(self.fixed_tags)
        return MappedRecord(cid, ext, person, None, None)


def stage(duckdb_path: Path, customers: list[dict[str, Any]]) -> None:
    """Merge customers into bigcommerce.customers (a real dlt pipeline into DuckDB)."""
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name="test_staging",
        pipelines_dir=str(Path(duckdb_path).parent / "staging.dlt"),
        destination=dlt.destinations.duckdb(str(duckdb_path)),
        dataset_name="bigcommerce",
    )
    resource = dlt.resource(customers, name="customers", write_disposition="merge", primary_key="id",
                            max_table_nesting=0)
    pipeline.run(resource)


def mark_deleted(duckdb_path: Path, ids: Iterable[int]) -> None:
    """What the deletion sweep does: set ``_deleted_at`` on staged rows."""
    import duckdb

    con = duckdb.connect(str(duckdb_path))
    try:
        con.execute("ALTER TABLE bigcommerce.customers ADD COLUMN IF NOT EXISTS _deleted_at TIMESTAMP")
        con.execute(
            "UPDATE bigcommerce.customers SET _deleted_at = now()::TIMESTAMP WHERE id IN (SELECT unnest($ids))",
            {"ids": list(ids)},
        )
    finally:
        con.close()


def ledger_rows(duckdb_path: Path, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    import duckdb

    con = duckdb.connect(str(duckdb_path))
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture
def customers_factory() -> Any:
    """generate_customers, cached per (n, seed)."""
    cache: dict[tuple[int, int], list[dict[str, Any]]] = {}

    def make(n: int, seed: int = 7) -> list[dict[str, Any]]:
        if (n, seed) not in cache:
            cache[(n, seed)] = generate_customers(n, seed=seed)
        return [dict(c) for c in cache[(n, seed)]]

    return make


@pytest.fixture
def push_env(people_sandbox: PeopleSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A clean People sandbox, a DuckDB path in tmp and the People settings in the env."""
    monkeypatch.setenv("DESTINATION__PEOPLE__BASE_URL", people_sandbox.base_url)
    monkeypatch.setenv("DESTINATION__PEOPLE__API_KEY", people_sandbox.api_key)
    yield {"people": people_sandbox, "db": tmp_path / "sync.duckdb", "tmp": tmp_path}


@pytest.fixture
def people_client(people_sandbox: PeopleSandbox) -> PeopleClient:
    """A client for the sandbox with short backoffs (tests stay fast)."""
    return PeopleClient(
        people_sandbox.base_url, people_sandbox.api_key, timeout=5.0, backoff_base=0.02, backoff_cap=0.2,
        rate=1000.0,
    )


def stage_real(bc: Any, duckdb_path: Path, **kwargs: Any) -> Any:
    """Stage from a BigCommerce sandbox with the real `stage_customers` (incremental)."""
    from bc2people.pipelines.staging import stage_customers

    return stage_customers(
        str(duckdb_path), store_hash=bc.store_hash, access_token="sandbox-token", api_base_url=bc.base_url, **kwargs
    )


def expected_persons(duckdb_path: Path, mapping: Any, store_hash: str) -> dict[str, dict[str, Any]]:
    """externalId -> payload the mapping produces for every live staged customer it accepts."""
    import duckdb

    from bc2people.pipelines.staging import iter_staged_customers

    con = duckdb.connect(str(duckdb_path))
    try:
        out = {}
        for c in iter_staged_customers(con):
            if c.get("_deleted_at"):
                continue
            rec = mapping.map(c, context={"store_hash": store_hash})
            if rec.payload is not None:
                out[rec.external_id] = rec.payload
        return out
    finally:
        con.close()


def assert_person_matches(stored: dict[str, Any] | None, payload: dict[str, Any]) -> None:
    """Every field the payload sets is stored as sent (contacts and tags as sets)."""
    assert stored is not None, payload.get("externalId")
    for key, value in payload.items():
        if key == "contactInformation":
            got = {(c["type"], c["identifier"]) for c in stored.get(key) or []}
            assert got == {(c["type"], c["identifier"]) for c in value}, key
        elif key == "tags":
            assert set(value) <= set(stored.get("tags") or []), key
        elif key == "customAttributes":
            for k, v in value.items():
                assert stored.get(key, {}).get(k) == v, k
        else:
            assert stored.get(key) == value, key
