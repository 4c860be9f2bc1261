"""BigCommerce functions for Infobip Answers chatbots, the cart-converted webhook and an HTTP adapter.

Depends only on `requests` (Starlette/uvicorn for `answers.http`, the optional `http` extra)
and on nothing else in bc2people. Typical use::

    from bc2people.answers import AnswersConfig, BigCommerceClient, find_customer_by_email, select
    client = BigCommerceClient(AnswersConfig.from_env())
    customer = find_customer_by_email(client, "ana@example.com")
    select(customer, "addresses.0.city")

Names are imported lazily so ``bc2people --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AnswersConfig": "bc2people.answers.config",
    "BigCommerceClient": "bc2people.answers.client",
    "AnswersError": "bc2people.answers.errors",
    "BigCommerceError": "bc2people.answers.errors",
    "InvalidParameter": "bc2people.answers.errors",
    "ConfigError": "bc2people.answers.errors",
    "find_customer_by_email": "bc2people.answers.customers",
    "get_orders_by_customer_id": "bc2people.answers.orders",
    "list_product_categories": "bc2people.answers.catalog",
    "get_products_in_category": "bc2people.answers.catalog",
    "search_products_by_name": "bc2people.answers.catalog",
    "get_product_by_id": "bc2people.answers.catalog",
    "create_cart": "bc2people.answers.carts",
    "get_cart": "bc2people.answers.carts",
    "add_item_to_cart": "bc2people.answers.carts",
    "add_consignment": "bc2people.answers.checkouts",
    "select_shipping_option": "bc2people.answers.checkouts",
    "add_billing_address": "bc2people.answers.checkouts",
    "create_order": "bc2people.answers.checkouts",
    "get_redirect_urls": "bc2people.answers.redirects",
    "select": "bc2people.answers.paths",
    "PathError": "bc2people.answers.paths",
    "parse_cart_converted": "bc2people.answers.webhook",
    "handle_cart_converted": "bc2people.answers.webhook",
    "register_cart_converted_hook": "bc2people.answers.webhook",
    "LRUDeduper": "bc2people.answers.webhook",
    "WebhookError": "bc2people.answers.webhook",
    "REGISTRY": "bc2people.answers.registry",
    "get_function": "bc2people.answers.registry",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bc2people.answers' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
