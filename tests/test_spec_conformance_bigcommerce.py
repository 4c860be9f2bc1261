"""Real sandbox responses validated against BigCommerce's official OpenAPI documents.

The specs live outside the repo (``../shared/specs/bigcommerce``); they are read, patched in
memory only to point ``servers`` at the sandbox, and never copied. One documented deviation
is allowed and checked precisely: the spec's ``customerChannelIds`` is a non-nullable array,
while BigCommerce's docs (store-operations/customers/channel-specific-customers) say
``channel_ids`` is ``null`` for customers with global login; the sandbox follows the docs, so
``test_only_deviation_is_null_channel_ids`` proves that null is the *only* disagreement.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers, nasty_customers
from tests.fixtures_bigcommerce import BC_TOKEN, bc_url

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SPECS = SHARED / "specs" / "bigcommerce"
pytestmark = pytest.mark.skipif(
    not (SPECS / "customers.v3.yml").is_file(), reason=f"official specs not present at {SPECS} (../shared is absent)"
)
ALL_INCLUDES = "addresses,storecredit,attributes,formfields,shopper_profile_id,segment_ids"
AUTH = {"X-Auth-Token": BC_TOKEN, "Accept": "application/json"}


def _load(name: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(SPECS / name, encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)  # noqa: S506 - a safe loader


@pytest.fixture(scope="module")
def specs() -> dict[str, dict[str, Any]]:
    return {"customers": _load("customers.v3.yml"), "store": _load("store_information.v2.yml")}


@pytest.fixture(scope="module")
def sb() -> Iterator[BigCommerceSandbox]:
    with BigCommerceSandbox() as sandbox:
        sandbox.add_customers(generate_customers(300, seed=11))
        yield sandbox


def _api(spec: dict[str, Any], sb: BigCommerceSandbox, version: str, *, nullable_channels: bool) -> Any:
    from openapi_core import OpenAPI

    spec = copy.deepcopy(spec)
    spec["servers"] = [{"url": f"{sb.base_url}/stores/{{store_hash}}/{version}",
                        "variables": {"store_hash": {"default": sb.store_hash}}}]
    if nullable_channels:
        spec["components"]["schemas"]["customerChannelIds"]["nullable"] = True
    return OpenAPI.from_dict(spec)


@pytest.fixture(scope="module")
def customers_api(specs: dict[str, Any], sb: BigCommerceSandbox) -> Any:
    return _api(specs["customers"], sb, "v3", nullable_channels=True)


@pytest.fixture(scope="module")
def strict_customers_api(specs: dict[str, Any], sb: BigCommerceSandbox) -> Any:
    return _api(specs["customers"], sb, "v3", nullable_channels=False)


def schema_errors(api: Any, r: requests.Response) -> list[tuple[tuple[Any, ...], str]]:
    """Every schema error openapi-core finds in a real response (empty = valid)."""
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    try:
        api.validate_response(RequestsOpenAPIRequest(r.request), RequestsOpenAPIResponse(r))
    except Exception as exc:  # noqa: BLE001 - turn the validator's verdict into data
        cause = exc.__cause__
        errs = getattr(cause, "schema_errors", None)
        if not errs:
            return [((), f"{type(exc).__name__}: {exc}"[:500])]
        return [(tuple(e.absolute_path), e.message[:200]) for e in errs]
    return []


def assert_valid(api: Any, r: requests.Response, status: int) -> None:
    """The response has the status the test expects and a body the spec documents for it."""
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text[:300])
    errors = schema_errors(api, r)
    assert errors == [], errors[:5]


def get(sb: BigCommerceSandbox, **params: Any) -> requests.Response:
    return requests.get(bc_url(sb, "/v3/customers"), headers=AUTH, params=params, timeout=30)


def test_first_page_with_every_include(customers_api: Any, sb: BigCommerceSandbox) -> None:
    r = get(sb, include=ALL_INCLUDES, limit=250)
    assert r.status_code == 200 and {"pagination", "cursor_pagination"} <= set(r.json()["meta"])
    assert any(c["addresses"] for c in r.json()["data"])
    assert_valid(customers_api, r, 200)


def test_later_page_cursor_page_and_empty_page(customers_api: Any, sb: BigCommerceSandbox) -> None:
    page2 = get(sb, include=ALL_INCLUDES, limit=100, page=2, sort="date_modified:desc")
    assert set(page2.json()["meta"]) == {"pagination"}
    assert_valid(customers_api, page2, 200)
    first = get(sb, limit=100).json()["meta"]["cursor_pagination"]
    after = get(sb, include=ALL_INCLUDES, limit=100, after=first["end_cursor"])
    assert set(after.json()["meta"]) == {"cursor_pagination"}
    assert_valid(customers_api, after, 200)
    before = get(sb, limit=10, before=after.json()["meta"]["cursor_pagination"]["start_cursor"])
    assert_valid(customers_api, before, 200)
    assert_valid(customers_api, get(sb, **{"id:in": "999999"}), 200)


@pytest.mark.parametrize(
    "params", [{"date_modified:min": "soon"}, {"limit": 1000}, {"sort": "nope"}, {"include": "orders"}]
)
def test_v3_errors(customers_api: Any, sb: BigCommerceSandbox, params: dict[str, Any]) -> None:
    r = get(sb, **params)
    assert_valid(customers_api, r, 422)


def test_writes(customers_api: Any, sb: BigCommerceSandbox) -> None:
    url = bc_url(sb, "/v3/customers")
    created = requests.post(url, headers=AUTH, timeout=30, json=[{
        "email": "spec@example.com", "first_name": "Spec", "last_name": "Check", "channel_ids": [1],
        "addresses": [{"first_name": "S", "last_name": "C", "address1": "1 Road", "city": "Zagreb",
                       "country_code": "HR", "state_or_province": "Grad Zagreb", "postal_code": "10000"}],
        "attributes": [{"attribute_id": 1, "attribute_value": "gold"}],
        "form_fields": [{"name": "newsletter", "value": "yes"}],
    }])
    assert_valid(customers_api, created, 200)
    cid = created.json()["data"][0]["id"]
    updated = requests.put(url, headers=AUTH, timeout=30, json=[{"id": cid, "company": "Spec Ltd"}])
    assert_valid(customers_api, updated, 200)
    dup = requests.post(url, headers=AUTH, timeout=30, json=[{"email": "SPEC@example.com", "first_name": "a", "last_name": "b"}])
    assert_valid(customers_api, dup, 422)
    gone = requests.delete(url, headers=AUTH, params={"id:in": str(cid)}, timeout=30)
    assert_valid(customers_api, gone, 204)


def test_only_deviation_is_null_channel_ids(strict_customers_api: Any, sb: BigCommerceSandbox) -> None:
    r = get(sb, include=ALL_INCLUDES, limit=250)
    errors = schema_errors(strict_customers_api, r)
    nulls = {i for i, c in enumerate(r.json()["data"]) if c["channel_ids"] is None}
    assert nulls, "the sample should hold global-login customers"
    assert errors and all(path[-1] == "channel_ids" and path[1] in nulls for path, _ in errors), errors[:5]


def test_store_time(specs: dict[str, Any], sb: BigCommerceSandbox) -> None:
    api = _api(specs["store"], sb, "v2", nullable_channels=False)
    r = requests.get(bc_url(sb, "/v2/time"), headers=AUTH, timeout=30)
    assert_valid(api, r, 200)


def test_hostile_data_keeps_the_response_shape() -> None:
    with BigCommerceSandbox() as hostile:
        good = [c for c in nasty_customers(8, seed=2, start_id=1) if isinstance(c["last_name"], str)]
        hostile.add_customers(good)
        r = requests.get(bc_url(hostile, "/v3/customers"), headers=AUTH, timeout=30)
        body = r.json()
        assert r.status_code == 200 and len(body["data"]) == len(good)
        assert set(body["meta"]["pagination"]) == {"total", "count", "per_page", "current_page", "total_pages", "links"}
