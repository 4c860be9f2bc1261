"""The OAuth scopes each BigCommerce API family needs, and each Answers function.

From the specs' security sections: Customers `store_v2_customers[_read_only]`, Products
(catalog) `store_v2_products[_read_only]`, Carts `store_cart[_read_only]`, Checkouts
`store_checkouts[_read_only]`, Orders `store_v2_orders[_read_only]`; webhooks (`/v3/hooks`)
need none beyond the account's default scope. A modify scope also allows reading.
"""

from __future__ import annotations

from collections.abc import Sequence

# family -> (modify scope, read-only scope, name in the control panel)
FAMILIES: dict[str, tuple[str, str, str]] = {
    "customers": ("store_v2_customers", "store_v2_customers_read_only", "Customers"),
    "products": ("store_v2_products", "store_v2_products_read_only", "Products"),
    "carts": ("store_cart", "store_cart_read_only", "Carts"),
    "checkouts": ("store_checkouts", "store_checkouts_read_only", "Checkouts"),
    "orders": ("store_v2_orders", "store_v2_orders_read_only", "Orders"),
}
READ_METHODS = frozenset({"GET", "HEAD"})

# function -> scopes it needs (the README's table is this table)
FUNCTION_SCOPES: dict[str, tuple[str, ...]] = {
    "find_customer_by_email": ("store_v2_customers_read_only",),
    "get_orders_by_customer_id": ("store_v2_orders_read_only",),
    "list_product_categories": ("store_v2_products_read_only",),
    "get_products_in_category": ("store_v2_products_read_only",),
    "search_products_by_name": ("store_v2_products_read_only",),
    "get_product_by_id": ("store_v2_products_read_only",),
    "create_cart": ("store_cart", "store_v2_products_read_only"),
    "get_cart": ("store_cart_read_only",),
    "add_item_to_cart": ("store_cart", "store_v2_products_read_only"),
    "add_consignment": ("store_checkouts",),
    "select_shipping_option": ("store_checkouts",),
    "add_billing_address": ("store_checkouts",),
    "create_order": ("store_checkouts", "store_v2_orders"),
    "get_redirect_urls": ("store_cart",),
}


def family(version: str, segments: Sequence[object]) -> str | None:
    """The API family of a request path (None for paths no listed scope covers, e.g. hooks)."""
    first = str(segments[0]) if segments else ""
    if version == "v2":
        return "orders" if first in ("orders", "order_statuses") else None
    return {"customers": "customers", "catalog": "products", "carts": "carts", "checkouts": "checkouts"}.get(first)


def required_scope(method: str, version: str, segments: Sequence[object]) -> str | None:
    """The least scope a request needs: read-only for GET, modify otherwise (None: default scope)."""
    fam = family(version, segments)
    if fam is None:
        return None
    modify, read_only, _ = FAMILIES[fam]
    return read_only if method.upper() in READ_METHODS else modify


def describe(scope: str) -> str:
    """`store_cart` -> "Carts: modify" (the control panel's words for a scope)."""
    for modify, read_only, ui in FAMILIES.values():
        if scope == modify:
            return f"{ui}: modify"
        if scope == read_only:
            return f"{ui}: read-only"
    return scope
