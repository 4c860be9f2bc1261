"""Catalog, orders, carts, checkouts and hooks for the BigCommerce sandbox (what Answers touches).

`install(sandbox)` is called by the BigCommerce sandbox constructor: it attaches a
`CommerceState` as ``sandbox.commerce`` (seeded with a sample catalog and the order
statuses) and adds the routes to ``sandbox.router``; the sandbox applies auth, quota,
latency and faults to them like to every other API route.

Python controls: ``sandbox.commerce.add_product(...)``, ``.add_category(...)``,
``.webhook_payloads`` (every `store/cart/converted` produced), ``.destination_overrides``
(registered destination -> local URL to actually POST to), ``.deliveries``.
Admin routes: ``GET /__sandbox__/commerce/webhooks`` (the payloads) and the storefront page
``GET /__sandbox__/storefront/cart.php`` that redirect URLs point at.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from sandbox.bigcommerce import (
    commerce_carts,
    commerce_catalog,
    commerce_checkouts,
    commerce_hooks,
    commerce_orders,
)
from sandbox.bigcommerce.commerce_state import CommerceState
from sandbox.http import Request, Response, Router


class Commerce(CommerceState):
    """The commerce state with its Python controls."""

    def add_product(self, **kwargs: Any) -> dict[str, Any]:
        """See `commerce_catalog.add_product`; returns the stored product (API shape + private keys)."""
        return commerce_catalog.add_product(self, **kwargs)

    def add_category(self, category_id: int, parent_id: int, name: str, description: str = "") -> dict[str, Any]:
        return commerce_catalog.add_category(self, category_id, parent_id, name, description)

    def mark_paid(self, order_id: int, status_id: int = 11) -> dict[str, Any]:
        """Move an order to a paid status as a payment would; returns the webhook payload."""
        with self.lock:
            order = self.orders[order_id]
            order["status_id"] = status_id
            order["modified"] = self.now()
            return commerce_hooks.cart_converted(self, order)


def _customer_lookup(sandbox: Any) -> Any:
    """A callable id -> customer dict from the sandbox's customer store (resolved at call time)."""

    def lookup(customer_id: int) -> dict[str, Any] | None:
        store = getattr(sandbox, "store", None)
        fn = getattr(store, "get", None)
        if not callable(fn):
            raise LookupError("this sandbox has no customer store")
        return fn(customer_id)

    return lookup


def install(sandbox: Any) -> Commerce:
    """Attach `sandbox.commerce` and add the commerce routes to `sandbox.router`."""
    store_hash = getattr(sandbox, "store_hash", "sandbox1")
    state = Commerce(store_hash=store_hash, customers=_customer_lookup(sandbox))
    clock = getattr(sandbox, "clock", None)
    if clock is not None:
        state.clock = clock
    commerce_catalog.seed_catalog(state)
    sandbox.commerce = state
    router: Router = sandbox.router
    v3, v2 = f"/stores/{store_hash}/v3", f"/stores/{store_hash}/v2"
    commerce_catalog.register(router, state, v3)
    commerce_orders.register(router, state, v2, partial(commerce_hooks.cart_converted, state))
    commerce_carts.register(router, state, v3)
    commerce_checkouts.register(router, state, v3)
    commerce_hooks.register(router, state, v3)
    router.add("GET", "/__sandbox__/commerce/webhooks", lambda r: _payloads(state, r))
    return state


def _payloads(state: CommerceState, req: Request) -> Response:
    with state.lock:
        return Response(200, list(state.webhook_payloads))
