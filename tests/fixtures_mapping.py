"""Fixtures for the mapping tests: the default mapping, a mapping-from-text factory, a
realistic customer, and a DuckDB file with customers staged by a real dlt pipeline."""

from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bc2people.destinations.people.rules import FORBIDDEN_NAME_CHARS, is_valid_email
from bc2people.pipelines.mapping import Mapping, load_mapping

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MAPPING_PATH = REPO / "mappings" / "customers_to_people.yaml"
CTX = {"store_hash": "abc123"}

# A customer shaped like GET /v3/customers?include=addresses,storecredit,attributes,formfields.
CUSTOMER: dict[str, Any] = {
    "id": 42,
    "email": "  Jane.Doe@Example.COM ",
    "first_name": "Jane",
    "last_name": "O'Neil (Sales)",
    "company": "ACME Ltd",
    "phone": "(415) 555-2671",
    "registration_ip_address": "",
    "notes": "",
    "tax_exempt_category": "",
    "customer_group_id": 3,
    "date_created": "2020-02-06T17:46:33Z",
    "date_modified": "2024-05-01T08:00:00Z",
    "authentication": {"force_password_reset": False},
    "accepts_product_review_abandoned_cart_emails": True,
    "origin_channel_id": 1,
    "channel_ids": [1, 2],
    "addresses": [
        {"id": 7, "customer_id": 42, "first_name": "Jane", "last_name": "Doe", "company": "",
         "address1": "1 Main St", "address2": "", "city": "San Francisco", "state_or_province": "California",
         "postal_code": "94103", "country_code": "US", "country": "United States", "phone": "+1 415 555 2671",
         "address_type": "residential"},
    ],
    "attributes": [{"id": 1, "attribute_id": 3, "attribute_value": "42", "customer_id": 42}],
    "form_fields": [{"name": "newsletter", "value": "Yes", "customer_id": 42}],
    "store_credit_amounts": [{"amount": 10.5}, {"amount": 2.25}],
}


@pytest.fixture(scope="session")
def default_mapping() -> Mapping:
    """The shipped default mapping, compiled once."""
    return load_mapping(DEFAULT_MAPPING_PATH)


@pytest.fixture
def customer() -> dict[str, Any]:
    """A fresh deep copy of a realistic customer."""
    return copy.deepcopy(CUSTOMER)


@pytest.fixture
def mapping_text(tmp_path: Path) -> Callable[..., Mapping]:
    """Compile a mapping from YAML text (dedented); ``fields`` text is appended under an
    externalId field unless ``raw=True``."""
    counter = iter(range(10_000))

    def make(text: str, raw: bool = False) -> Mapping:
        body = textwrap.dedent(text)
        if not raw:
            body = (
                "version: 1\nfields:\n  - to: externalId\n    template: 'bc-{store_hash}-{$.id}'\n"
                + textwrap.indent(body, "  ")
            )
        path = tmp_path / f"m{next(counter)}.yaml"
        path.write_text(body, encoding="utf-8")
        return load_mapping(path)

    return make


def write_mapping(tmp_path: Path, text: str, name: str = "mapping.yaml") -> Path:
    """Write dedented YAML to ``tmp_path/name`` and return the path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def stage_with_dlt(duckdb_path: Path, customers: list[dict[str, Any]]) -> None:
    """Stage customers the way the sync does: dataset bigcommerce, table customers, merge on
    id, nested values kept as JSON (max_table_nesting=0)."""
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name="test_mapping_stage",
        pipelines_dir=str(duckdb_path.parent / "mapping_stage.dlt"),
        destination=dlt.destinations.duckdb(str(duckdb_path)),
        dataset_name="bigcommerce",
    )
    resource = dlt.resource(customers, name="customers", write_disposition="merge", primary_key="id",
                            max_table_nesting=0)
    pipeline.run(resource)


@pytest.fixture(scope="module")
def staged_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file with generator customers 1..30, the realistic customer 42 replaced by
    ours, and a few nasty ones (ids 900..), staged by a real dlt pipeline."""
    from bc2people.sandbox.generator import generate_customers, nasty_customers

    customers = [c for c in generate_customers(30, seed=11) if c["id"] != 42]
    customers.append(copy.deepcopy(CUSTOMER))
    customers.extend(nasty_customers(5, seed=11, start_id=900))
    path = tmp_path_factory.mktemp("mapping_stage") / "bc2people.duckdb"
    stage_with_dlt(path, customers)
    return path


def assert_people_valid(payload: dict[str, Any]) -> None:
    """What People checks, verified independently of the engine's own code path."""
    limits = {"firstName": 255, "lastName": 255, "middleName": 50, "nickName": 50, "address": 256, "city": 50,
              "country": 50, "externalId": 256}
    for key, limit in limits.items():
        if key in payload:
            assert isinstance(payload[key], str) and 0 < len(payload[key]) <= limit, key
    for key in ("firstName", "lastName"):
        if key in payload:
            assert not set(payload[key]) & FORBIDDEN_NAME_CHARS, payload[key]
    for c in payload.get("contactInformation", []):
        if c["type"] == "EMAIL":
            assert is_valid_email(c["identifier"])
        else:
            assert c["identifier"].isdigit() and 7 <= len(c["identifier"]) <= 15
    assert payload.get("tags", []) == sorted(set(payload.get("tags", [])))
    json.dumps(payload, allow_nan=False, ensure_ascii=False).encode("utf-8")  # sendable as UTF-8 JSON
