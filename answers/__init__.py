"""BigCommerce functions for Infobip Answers chatbots, the cart-converted webhook and an HTTP adapter.

Depends only on `requests` (Starlette/uvicorn for `answers.http`, the optional `http` extra)
and on nothing else in bc2people. Typical use::

    from answers import AnswersConfig, BigCommerceClient, find_customer_by_email, select
    client = BigCommerceClient(AnswersConfig.from_env())
    customer = find_customer_by_email(client, "ana@example.com")
    select(customer, "addresses.0.city")

Names are imported lazily so ``bc2people --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AnswersConfig": "answers.config",
    "BigCommerceClient": "answers.client",
    "AnswersError": "answers.errors",
    "BigCommerceError": "answers.errors",
    "InvalidParameter": "answers.errors",
    "ConfigError": "answers.errors",
    "find_customer_by_email": "answers.customers",
    "get_orders_by_customer_id": "answers.orders",
    "list_product_categories": "answers.catalog",
    "get_products_in_category": "answers.catalog",
    "search_products_by_name": "answers.catalog",
    "get_product_by_id": "answers.catalog",
    "create_cart": "answers.carts",
    "get_cart": "answers.carts",
    "add_item_to_cart": "answers.carts",
    "add_consignment": "answers.checkouts",
    "select_shipping_option": "answers.checkouts",
    "add_billing_address": "answers.checkouts",
    "create_order": "answers.checkouts",
    "get_redirect_urls": "answers.redirects",
    "select": "answers.paths",
    "PathError": "answers.paths",
    "parse_cart_converted": "answers.webhook",
    "handle_cart_converted": "answers.webhook",
    "register_cart_converted_hook": "answers.webhook",
    "LRUDeduper": "answers.webhook",
    "WebhookError": "answers.webhook",
    "REGISTRY": "answers.registry",
    "get_function": "answers.registry",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'answers' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
