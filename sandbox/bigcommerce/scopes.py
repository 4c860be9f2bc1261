"""Per-token OAuth scopes for the BigCommerce sandbox: a token without the scope gets a 403.

The specs list the scopes per API family (security sections of customers, catalog, carts,
checkouts and orders); `/v3/hooks` needs none beyond the default scope. A modify scope
allows reading too. The 403 says what the specs say ("Missing scope"), not which one.
"""

from __future__ import annotations

import re

# path pattern under /stores/{hash} -> (modify, read-only)
_FAMILIES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"^/v3/customers(/|$)"), "store_v2_customers", "store_v2_customers_read_only"),
    (re.compile(r"^/v3/catalog(/|$)"), "store_v2_products", "store_v2_products_read_only"),
    (re.compile(r"^/v3/carts(/|$)"), "store_cart", "store_cart_read_only"),
    (re.compile(r"^/v3/checkouts(/|$)"), "store_checkouts", "store_checkouts_read_only"),
    (re.compile(r"^/v2/(orders|order_statuses)(/|$)"), "store_v2_orders", "store_v2_orders_read_only"),
)
MISSING_SCOPE_TITLE = ("Missing scope - the v3 Auth token is valid but does not have proper permissions "
                       "to access this endpoint.")


def allowed(method: str, api_path: str, scopes: frozenset[str]) -> bool:
    """True when a token with `scopes` may send `method` to `api_path` (the path after the store)."""
    for pattern, modify, read_only in _FAMILIES:
        if pattern.match(api_path):
            if modify in scopes:
                return True
            return method.upper() in ("GET", "HEAD") and read_only in scopes
    return True
