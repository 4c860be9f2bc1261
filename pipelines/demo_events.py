"""The demo's events part: a few order changes in the store, and the line that shows them in People."""

from __future__ import annotations

from typing import Any


def demo_orders(bc: Any, n: int = 5) -> list[str]:
    """Place ``n`` orders, cancel one and refund one older order in the BigCommerce sandbox."""
    customers = sorted(c["id"] for c in bc.store.all())[:n]
    placed = [bc.commerce.create_order_for(cid, 25.0 + 10 * i)["id"] for i, cid in enumerate(customers)]
    bc.commerce.set_order_status(placed[0], 5)
    bc.commerce.refund_order(placed[-1], 5.0)
    return [f"orders   {len(placed):>3}  placed (one then cancelled, one partly refunded): People events follow"]


def events_line(result: Any) -> str:
    """What the run did with events, for the demo's output."""
    c = result.counts
    return (f"  → events: {c.get('events_emitted', 0)} derived from order changes, {c.get('events_accepted', 0)} "
            f"accepted by People, {c.get('events_skipped', 0)} waiting for their person "
            "(people_sync.events_by_type)")
