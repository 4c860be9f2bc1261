"""The Answers BigCommerce client: every error shape becomes one BigCommerceError; no secret leaks."""

from __future__ import annotations

import traceback
from typing import Any

import pytest

from bc2people.answers import carts, catalog, checkouts, orders
from bc2people.answers.client import BigCommerceClient, parse_error, segment
from bc2people.answers.config import AnswersConfig
from bc2people.answers.errors import BigCommerceError, ConfigError, InvalidParameter
from tests.fixtures_answers import ANSWERS_STORE, ANSWERS_TOKEN


@pytest.mark.parametrize(("body", "title", "errors"), [
    ({"status": 422, "title": "Invalid", "type": "t", "errors": {"email": "bad"}}, "Invalid", {"email": "bad"}),
    ({"status": 404, "title": "Product not found", "type": "t", "instance": "/x"}, "Product not found", {}),
    ({"errors": {"status": 422, "title": "Tree error", "type": "t", "errors": {"limit": "x"}}, "meta": {}},
     "Tree error", {"limit": "x"}),
    ({"errors": [{"status": 404, "title": "Checkout not found", "type": "t", "detail": "gone"}]},
     "Checkout not found", {"detail": "gone"}),
    ([{"status": 413, "message": "The specified limit exceeds the maximum allowed.", "details": {"max_limit": 250}}],
     "The specified limit exceeds the maximum allowed.", {"max_limit": "250"}),
    (None, "Bad Gateway", {}),
])
def test_parse_error_shapes(body: Any, title: str, errors: dict[str, str]) -> None:
    assert parse_error(418, body, "Bad Gateway") == (418, title, errors)


def test_real_error_shapes_over_http(answers_client: BigCommerceClient) -> None:
    with pytest.raises(BigCommerceError) as v2:  # V2 array
        answers_client.get("v2", "orders", params={"limit": 999})
    assert v2.value.status == 413 and v2.value.errors["max_limit"] == "250"
    with pytest.raises(BigCommerceError) as co:  # checkout {errors:[...]}
        answers_client.get("v3", "checkouts", "00000000-0000-4000-8000-000000000000")
    assert co.value.status == 404 and co.value.title == "Checkout not found"
    with pytest.raises(BigCommerceError) as tree:  # category tree {errors:{...}, meta}
        answers_client.get("v3", "catalog", "trees", "categories", params={"limit": "x"})
    assert tree.value.status == 422 and "limit" in tree.value.errors


def test_secrets_never_in_errors_or_reprs(answers_config: AnswersConfig, commerce_sandbox: Any) -> None:
    wrong = AnswersConfig(ANSWERS_STORE, "wrong-" + ANSWERS_TOKEN, commerce_sandbox.base_url, timeout=5)
    client = BigCommerceClient(wrong)
    with pytest.raises(BigCommerceError) as err:
        catalog.list_product_categories(client)
    assert err.value.status == 401
    text = str(err.value) + repr(err.value) + "".join(traceback.format_exception(err.value)) + str(err.value.to_dict())
    assert ANSWERS_TOKEN not in text
    assert ANSWERS_TOKEN not in repr(answers_config) + str(answers_config) + repr(BigCommerceClient(answers_config))


def test_timeout_and_unreachable_become_504_and_502(answers_config: AnswersConfig, commerce_sandbox: Any) -> None:
    slow = AnswersConfig(ANSWERS_STORE, ANSWERS_TOKEN, commerce_sandbox.base_url, timeout=0.2)
    commerce_sandbox.latency_ms = 600
    try:
        with pytest.raises(BigCommerceError) as err:
            orders.get_orders_by_customer_id(BigCommerceClient(slow), 1)
    finally:
        commerce_sandbox.latency_ms = 0
    assert err.value.status == 504 and "0.2 s" in err.value.title
    dead = AnswersConfig(ANSWERS_STORE, ANSWERS_TOKEN, "http://127.0.0.1:9", timeout=1)
    with pytest.raises(BigCommerceError) as gone:
        catalog.get_product_by_id(BigCommerceClient(dead), 1)
    assert gone.value.status == 502 and ANSWERS_TOKEN not in str(gone.value)


def test_server_faults_become_errors_not_soup(answers_client: BigCommerceClient, commerce_sandbox: Any) -> None:
    commerce_sandbox.faults.configure(rate=1.0, kinds=["503"], seed=1)
    try:
        with pytest.raises(BigCommerceError) as err:
            carts.get_cart(answers_client, "00000000-0000-4000-8000-000000000000")
    finally:
        commerce_sandbox.faults.configure(rate=0.0)
    assert err.value.status == 503


def test_short_429_is_retried_once(answers_client: BigCommerceClient, commerce_sandbox: Any) -> None:
    commerce_sandbox.set_quota(1, 0.5)
    try:
        catalog.get_product_by_id(answers_client, 80)
        before = answers_client.requests_sent
        again = catalog.get_product_by_id(answers_client, 80)
    finally:
        commerce_sandbox.set_quota(None)
    assert again["found"] is True and answers_client.requests_sent - before == 2


def test_path_segments_cannot_escape(answers_client: BigCommerceClient, commerce_sandbox: Any) -> None:
    assert segment("a/../b?x#y") == "a%2F..%2Fb%3Fx%23y"
    with pytest.raises(ValueError):
        segment("..")
    url = answers_client.url("v3", "carts", "x/../../customers")
    assert url.endswith(f"/stores/{ANSWERS_STORE}/v3/carts/x%2F..%2F..%2Fcustomers")
    sent, served = answers_client.requests_sent, sum(commerce_sandbox.requests_served.values())
    with pytest.raises(InvalidParameter, match="checkout_id"):  # refused before any request: nothing sent
        checkouts.add_billing_address(answers_client, "x/../../v2/orders", "a@example.com", "HR", "A", "B", "c", "d")
    assert answers_client.requests_sent == sent
    assert sum(commerce_sandbox.requests_served.values()) == served


def test_config_from_env_and_validation() -> None:
    env = {"SOURCES__BIGCOMMERCE__STORE_HASH": "abc123", "SOURCES__BIGCOMMERCE__ACCESS_TOKEN": "t0k"}
    cfg = AnswersConfig.from_env(env)
    assert cfg.api_base_url == "https://api.bigcommerce.com" and cfg.timeout == 8.0
    assert cfg.store_url == "https://api.bigcommerce.com/stores/abc123"
    with pytest.raises(ConfigError, match="SOURCES__BIGCOMMERCE__ACCESS_TOKEN"):
        AnswersConfig.from_env({"SOURCES__BIGCOMMERCE__STORE_HASH": "abc"})
    for bad in ({"store_hash": "a/b"}, {"api_base_url": "ftp://x"}, {"api_base_url": "https://x/?q=1"},
                {"timeout": 0}):
        with pytest.raises(ConfigError):
            AnswersConfig(**{"store_hash": "abc", "access_token": "t", **bad})  # type: ignore[arg-type]


def test_answers_imports_nothing_from_the_sync_job() -> None:
    import subprocess
    import sys

    code = ("import sys, bc2people.answers.registry, bc2people.answers.webhook, bc2people.answers.paths, "
            "bc2people.answers.cli, bc2people.answers.http; "
            "bad = sorted(m for m in sys.modules if m.removeprefix('bc2people.').split('.')[0] in "
            "('pipelines', 'sources', 'destinations', 'sandbox', 'dlt', 'duckdb')); print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
