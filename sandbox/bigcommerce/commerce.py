"""Catalog, orders, carts, checkouts and hooks for the BigCommerce sandbox (what Answers touches).

`install(sandbox)` is called by the BigCommerce sandbox constructor: it attaches a
`CommerceState` as ``sandbox.commerce`` (seeded with a sample catalog and the order
statuses) and adds the routes to ``sandbox.router``; the sandbox applies auth, quota,
latency and faults to them like to every other API route.

Python controls: ``sandbox.commerce.add_product(...)``, ``.add_category(...)``,
``.webhook_payloads`` (every `store/cart/converted` produced), ``.destination_overrides``
(registered destination -> local URL to actually POST to), ``.deliveries``; orders:
``.add_orders(records)`` (bulk, as given), ``.order(id)``/``.order_products(id)`` (API shape),
``.update_order``, ``.set_order_status``, ``.refund_order``, ``.archive_order``,
``.create_order_for`` (each stamps ``date_modified`` with the store clock) and ``.mark_paid``.
Admin routes: ``GET /__sandbox__/commerce/webhooks`` (the payloads) and the storefront page
``GET /__sandbox__/storefront/cart.php`` that redirect URLs point at.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from functools import partial
from typing import Any

from bc2people.sandbox.bigcommerce import (
    commerce_carts,
    commerce_catalog,
    commerce_checkouts,
    commerce_hooks,
    commerce_orders,
    webhook_sender,
)
from bc2people.sandbox.bigcommerce.commerce_orders import (
    STATUS_NAMES,
    change_order,
    render_order,
    render_products,
)
from bc2people.sandbox.bigcommerce.commerce_state import CommerceState
from bc2people.sandbox.http import Request, Response, Router
from bc2people.sandbox.order_records import FX, total

REQUIRED_ORDER_KEYS = ("id", "customer_id", "status_id", "created", "modified", "subtotal", "billing")


class Commerce(CommerceState):
    """The commerce state with its Python controls."""

    def add_product(self, **kwargs: Any) -> dict[str, Any]:
        """See `commerce_catalog.add_product`; returns the stored product (API shape + private keys)."""
        return commerce_catalog.add_product(self, **kwargs)

    def add_category(self, category_id: int, parent_id: int, name: str, description: str = "") -> dict[str, Any]:
        return commerce_catalog.add_category(self, category_id, parent_id, name, description)

    def abandon_cart(self, cart_id: str) -> None:
        """Fire ``store/cart/abandoned`` for a cart, as the store does after an hour without activity."""
        with self.lock:
            if cart_id not in self.carts:
                raise KeyError(cart_id)
        self.fire("store/cart/abandoned", {"type": "cart", "id": cart_id})

    def mark_paid(self, order_id: int, status_id: int = 11) -> dict[str, Any]:
        """Move an order to a paid status as a payment would; returns the webhook payload."""
        with self.lock:
            order = change_order(self, self.orders[order_id], {"status_id": status_id})
            return commerce_hooks.cart_converted(self, order)

    # -- orders ---------------------------------------------------------------------------
    def add_orders(self, orders: Iterable[dict[str, Any]]) -> int:
        """Bulk load lean order records (`sandbox.order_records`) as given: ids and dates kept,
        the records themselves stored (not copied). Returns how many. Later orders get higher ids."""
        batch = list(orders)
        for o in batch[:1000]:
            missing = [k for k in REQUIRED_ORDER_KEYS if k not in o]
            if missing:
                raise ValueError(f"order {o.get('id')!r} lacks {missing}")
        with self.lock:
            if len(batch) > 1000 or len(batch) * 20 > len(self.orders):
                for o in batch:
                    self.orders[int(o["id"])] = o
                self.order_index.rebuild(self.orders.values())
            else:
                for o in batch:
                    old = self.orders.get(int(o["id"]))
                    if old is not None:
                        self.order_index.remove(old)
                    self.orders[int(o["id"])] = o
                    self.order_index.add(o)
            for o in batch if self.webhooks is not None and self.webhooks.has_hooks() else ():
                self.fire("store/order/created", {"type": "order", "id": int(o["id"])})
            if batch:
                floor = max(int(o["id"]) for o in batch) + 1
                self._ids["order"] = itertools.count(max(floor, self.next_id("order", 100)))
            return len(batch)

    def order(self, order_id: int) -> dict[str, Any] | None:
        """The order as ``GET /v2/orders/{id}`` renders it, or None."""
        with self.lock:
            o = self.orders.get(order_id)
            return None if o is None else render_order(o, self.store_hash)

    def order_products(self, order_id: int) -> list[dict[str, Any]]:
        """Every line item as ``GET /v2/orders/{id}/products`` renders it (KeyError if absent)."""
        with self.lock:
            return render_products(self.orders[order_id])

    def update_order(self, order_id: int, *, touch: bool = True, **fields: Any) -> dict[str, Any]:
        """Change record fields (``status_id``, ``billing``, ``customer_id``, ``subtotal``, ``created``,
        ...) as the store would; ``date_modified`` becomes the store clock's now unless ``touch``
        is False or ``modified`` is given. Returns the rendered order; KeyError if absent."""
        if "status_id" in fields and fields["status_id"] not in STATUS_NAMES:
            raise ValueError(f"unknown order status id {fields['status_id']!r}")
        with self.lock:
            order = self.orders[order_id]
            on_paid = partial(commerce_hooks.cart_converted, self) if "cart_id" in order else None
            change_order(self, order, {k: v for k, v in fields.items() if k != "id"}, touch=touch, on_paid=on_paid)
            return render_order(order, self.store_hash)

    def set_order_status(self, order_id: int, status_id: int) -> dict[str, Any]:
        """Move the order to ``status_id`` (0-14), bumping ``date_modified``."""
        return self.update_order(order_id, status_id=status_id)

    def refund_order(self, order_id: int, amount: float | None = None) -> dict[str, Any]:
        """Refund ``amount`` more (None: the rest): status 14 Partially Refunded, or 4 Refunded
        once the whole total is refunded. ValueError when more than the total would be refunded."""
        with self.lock:
            order = self.orders[order_id]
            grand = total(order)
            done = float(order.get("refunded", 0.0))
            amount = round(grand - done, 2) if amount is None else round(float(amount), 2)
            if amount <= 0 or done + amount > grand + 1e-9:
                raise ValueError(f"cannot refund {amount} of order {order_id} (total {grand}, refunded {done})")
            refunded = round(done + amount, 2)
            return self.update_order(order_id, refunded=refunded, status_id=4 if refunded >= grand else 14)

    def archive_order(self, order_id: int, archived: bool = True) -> dict[str, Any]:
        """Archive (``is_deleted: true``) or restore an order, bumping ``date_modified``."""
        return self.update_order(order_id, is_deleted=archived)

    def create_order_for(self, customer_id: int, total: float, currency: str = "USD", when: int | None = None, *,
                         status_id: int = 11, email: str | None = None, rate: str | None = None) -> dict[str, Any]:
        """A new order of one line item worth ``total`` (no shipping) for a customer (0 = guest),
        created at ``when`` (default: the store clock) and modified at the store clock.
        ``currency`` other than USD takes the generator's first rate for it unless ``rate`` is
        given. The billing address comes from the stored customer when there is one."""
        with self.lock:
            now = self.now()
            created = now if when is None else int(when)
            customer = self.customer(customer_id) if customer_id else None
            billing = _billing_for(customer or {}, email)
            oid = self.next_id("order", 100)
            record: dict[str, Any] = {
                "id": oid, "customer_id": customer_id, "status_id": status_id, "created": created,
                "modified": max(now, created), "subtotal": round(float(total), 2), "shipping": 0.0,
                "billing": billing, "payment_method": "Credit Card",
                "products": [{"product_id": 0, "name": "Custom item", "sku": "", "price": round(float(total), 2),
                              "quantity": 1, "type": "physical"}],
            }
            fx = next((i for i, (code, _, _) in enumerate(FX) if code == currency), None)
            if rate is None and fx is not None:
                record["fx"] = fx
            else:
                record["currency_code"] = currency
                record["rate"] = rate or "1.0000000000"
            self.orders[oid] = record
            self.order_index.add(record)
            self.fire("store/order/created", {"type": "order", "id": oid})
            return render_order(record, self.store_hash)


def _billing_for(customer: dict[str, Any], email: str | None) -> dict[str, Any]:
    """A checkout-shaped billing address from a stored customer (first address, if any)."""
    addr = (customer.get("addresses") or [{}])[0]
    out = {k: addr.get(k, "") for k in ("first_name", "last_name", "company", "address1", "address2", "city",
                                        "state_or_province", "postal_code", "country", "country_code", "phone")}
    out["first_name"] = out["first_name"] or customer.get("first_name", "")
    out["last_name"] = out["last_name"] or customer.get("last_name", "")
    out["email"] = email if email is not None else customer.get("email", "")
    return out


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
    webhook_sender.install(sandbox, state, router, v3)  # before /hooks/{id}: /hooks/admin is a path of its own
    commerce_hooks.register(router, state, v3)
    router.add("GET", "/__sandbox__/commerce/webhooks", lambda r: _payloads(state, r))
    return state


def _payloads(state: CommerceState, req: Request) -> Response:
    with state.lock:
        return Response(200, list(state.webhook_payloads))
