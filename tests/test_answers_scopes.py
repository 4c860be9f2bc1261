"""Issue 14, item 12: Answers' own token, the scopes each function needs, a 403 that names the scope."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from bc2people.answers import carts, catalog, checkouts, customers, orders, redirects
from bc2people.answers.client import BigCommerceClient
from bc2people.answers.config import AnswersConfig
from bc2people.answers.errors import BigCommerceError
from bc2people.answers.http import create_app
from bc2people.answers.registry import REGISTRY
from bc2people.answers.scopes import FUNCTION_SCOPES
from tests.fixtures_answers import ANSWERS_STORE, ANSWERS_TOKEN

_tokens = itertools.count(1)
ADDRESS: dict[str, Any] = {"email": "ana@example.com", "country_code": "HR", "first_name": "Ana", "last_name": "Kovac",
                           "address1": "Ilica 1", "city": "Zagreb", "postal_code": "10000"}


def scoped_client(sandbox: Any, *scopes: str) -> BigCommerceClient:
    """A client whose token holds exactly `scopes` in the sandbox."""
    token = f"scoped-token-{next(_tokens)}-" + "-".join(sorted(scopes))
    sandbox.scoped_tokens[token] = frozenset(scopes)
    return BigCommerceClient(AnswersConfig(ANSWERS_STORE, token, sandbox.base_url, timeout=5.0))


def for_function(sandbox: Any, name: str) -> BigCommerceClient:
    return scoped_client(sandbox, *FUNCTION_SCOPES[name])


def test_answers_token_setting_falls_back_to_the_syncs() -> None:
    base = {"SOURCES__BIGCOMMERCE__STORE_HASH": "abc123", "SOURCES__BIGCOMMERCE__ACCESS_TOKEN": "sync-token"}
    assert AnswersConfig.from_env(base).access_token == "sync-token"
    assert AnswersConfig.from_env({**base, "ANSWERS__ACCESS_TOKEN": "bot-token"}).access_token == "bot-token"
    only_answers = {"SOURCES__BIGCOMMERCE__STORE_HASH": "abc123", "ANSWERS__ACCESS_TOKEN": "bot-token"}
    assert AnswersConfig.from_env(only_answers).access_token == "bot-token"
    with pytest.raises(Exception, match="ANSWERS__ACCESS_TOKEN.*SOURCES__BIGCOMMERCE__ACCESS_TOKEN"):
        AnswersConfig.from_env({"SOURCES__BIGCOMMERCE__STORE_HASH": "abc123"})


def test_a_customers_only_token_gets_a_403_naming_the_missing_scope(commerce_sandbox: Any,
                                                                    answers_customer: dict[str, Any]) -> None:
    client = scoped_client(commerce_sandbox, "store_v2_customers_read_only")  # what the sync's README asked for
    assert customers.find_customer_by_email(client, answers_customer["email"])["found"] is True
    with pytest.raises(BigCommerceError) as err:
        carts.create_cart(client, answers_customer["id"], 80)
    assert err.value.status == 403 and err.value.errors["missing_scope"] == "store_cart"
    assert "store_cart" in err.value.title and "Carts: modify" in err.value.title
    assert err.value.errors["bigcommerce_title"].startswith("Missing scope")
    with pytest.raises(BigCommerceError) as orders_err:
        orders.get_orders_by_customer_id(client, answers_customer["id"])
    assert orders_err.value.errors["missing_scope"] == "store_v2_orders_read_only"
    assert client.config.access_token not in str(err.value) + str(orders_err.value)


def test_read_only_is_not_modify_in_the_sandbox(commerce_sandbox: Any, answers_customer: dict[str, Any]) -> None:
    cart = carts.create_cart(for_function(commerce_sandbox, "create_cart"), answers_customer["id"], 80)
    reader = scoped_client(commerce_sandbox, "store_cart_read_only")
    assert carts.get_cart(reader, cart["cart_id"])["found"] is True
    with pytest.raises(BigCommerceError) as err:
        carts.add_item_to_cart(reader, cart["cart_id"], 81)
    assert err.value.status == 403 and err.value.errors["missing_scope"] == "store_cart"


def test_the_adapter_says_which_scope_is_missing(commerce_sandbox: Any) -> None:
    client = scoped_client(commerce_sandbox, "store_v2_customers_read_only")
    key = "bot-api-key-0123456789abcdef"
    with TestClient(create_app(client.config, key)) as app:
        r = app.post("/functions/GetProductByID", json={"product_id": 80}, headers={"X-Api-Key": key})
    body = r.json()
    assert r.status_code == 502 and body["errors"]["missing_scope"] == "store_v2_products_read_only"
    assert "store_v2_products_read_only" in body["title"] and client.config.access_token not in r.text


def test_each_function_works_with_exactly_the_scopes_listed(commerce_sandbox: Any,
                                                            answers_customer: dict[str, Any]) -> None:
    sb, cid = commerce_sandbox, answers_customer["id"]
    assert set(FUNCTION_SCOPES) == set(REGISTRY)
    assert customers.find_customer_by_email(for_function(sb, "find_customer_by_email"), answers_customer["email"])["found"]
    assert catalog.list_product_categories(for_function(sb, "list_product_categories"))["count"] >= 6
    assert catalog.get_products_in_category(for_function(sb, "get_products_in_category"), 23, limit=2)["count"] == 2
    assert catalog.search_products_by_name(for_function(sb, "search_products_by_name"), "chemex")["count"] >= 1
    assert catalog.get_product_by_id(for_function(sb, "get_product_by_id"), 80)["found"]
    with pytest.raises(BigCommerceError) as needs_variant:  # the 422 explanation reads the catalog too
        carts.create_cart(for_function(sb, "create_cart"), cid, 77)
    assert needs_variant.value.status == 422 and "variant_id" in needs_variant.value.errors
    cart = carts.create_cart(for_function(sb, "create_cart"), cid, 80)
    checkout_id = cart["cart_id"]
    assert carts.add_item_to_cart(for_function(sb, "add_item_to_cart"), checkout_id, 81)["item_count"] == 2
    assert carts.get_cart(for_function(sb, "get_cart"), checkout_id)["found"]
    assert redirects.get_redirect_urls(for_function(sb, "get_redirect_urls"), checkout_id)["found"]
    shipped = checkouts.add_consignment(for_function(sb, "add_consignment"), checkout_id, **ADDRESS)
    checkouts.select_shipping_option(for_function(sb, "select_shipping_option"), checkout_id,
                                     shipped["consignment_id"], shipped["cheapest_shipping_option_id"])
    checkouts.add_billing_address(for_function(sb, "add_billing_address"), checkout_id, **ADDRESS)
    order = checkouts.create_order(for_function(sb, "create_order"), checkout_id, 11)
    assert order["status_id"] == 11
    assert orders.get_orders_by_customer_id(for_function(sb, "get_orders_by_customer_id"), cid)["count"] >= 1


def test_the_readme_lists_the_scopes_of_every_function() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name, scopes in FUNCTION_SCOPES.items():
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{name}`")), None)
        assert row is not None, name
        assert sorted(re.findall(r"`(store_[a-z0-9_]+)`", row)) == sorted(scopes), row
    assert "ANSWERS__ACCESS_TOKEN" in readme
    assert ANSWERS_TOKEN not in readme
