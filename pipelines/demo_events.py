"""The demo's events part: a few order changes in the store, and the line that shows them in People."""

from __future__ import annotations

from typing import Any

AWAITING_FULFILLMENT, SHIPPED = 11, 2


def demo_orders(bc: Any, n: int = 6) -> list[str]:
    """Ship ``n`` orders of registered customers in the BigCommerce sandbox. Shipping keeps an
    order counted with the same value, so the customers' traits (and the persons sent) stay
    as they are: only People events follow."""
    with bc.commerce.lock:
        ids = sorted(o["id"] for o in bc.commerce.orders.values()
                     if o.get("customer_id") and o.get("status_id") == AWAITING_FULFILLMENT)[:n]
    for oid in ids:
        bc.commerce.set_order_status(oid, SHIPPED)
    return [f"shipped  {len(ids):>3}  orders (Awaiting Fulfillment -> Shipped): People events follow"]


def events_line(result: Any) -> str:
    """What the run did with events, for the demo's output."""
    c = result.counts
    return (f"  → events: {c.get('events_emitted', 0)} derived from order changes, {c.get('events_accepted', 0)} "
            f"accepted by People, {c.get('events_skipped', 0)} waiting for their person "
            "(people_sync.events_by_type)")
