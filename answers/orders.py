"""Get Orders Using CustomerID (V2), and the order-status step of Create Order.

V2 speaks RFC 2822 dates and 4-decimal money strings; results carry ISO 8601 dates and
numbers instead, so a bot can compare and print them.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from bc2people.answers import params
from bc2people.answers.client import MAX_LIMIT, BigCommerceClient

MONEY_RE = re.compile(r"^-?\d+\.\d{4}$")
DATE_KEYS = ("date_created", "date_modified", "date_shipped")


def rfc2822_to_iso(value: Any) -> str | None:
    """`Wed, 10 Jan 2018 21:05:30 +0000` -> `2018-01-10T21:05:30+00:00`; "" -> None; other text kept."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        return str(value)
    try:
        return parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError):
        try:
            return datetime.fromisoformat(value).isoformat()
        except ValueError:
            return value


def normalize_order(order: dict[str, Any]) -> dict[str, Any]:
    """A V2 order with ISO 8601 dates and money strings (`"361.9500"`) as numbers."""
    out: dict[str, Any] = {}
    for key, value in order.items():
        if key in DATE_KEYS:
            out[key] = rfc2822_to_iso(value)
        elif isinstance(value, str) and MONEY_RE.match(value):
            out[key] = float(value)
        else:
            out[key] = value
    return out


def get_orders_by_customer_id(client: BigCommerceClient, customer_id: int, limit: int = 50) -> dict[str, Any]:
    """The customer's orders, newest first (`GET /v2/orders?customer_id=`; 204 means none).

    Flat summary keys for bots: ``count``, ``latest_order_id``, ``latest_status``,
    ``latest_status_id``; the orders themselves under ``orders``.
    """
    customer_id = params.positive_int("customer_id", customer_id)
    limit = params.positive_int("limit", limit, maximum=1000)
    orders: list[dict[str, Any]] = []
    page = 1
    while len(orders) < limit:
        per_page = min(MAX_LIMIT, limit - len(orders))
        body = client.get("v2", "orders", params={"customer_id": customer_id, "page": page, "limit": per_page,
                                                  "sort": "date_created:desc"})
        batch = body if isinstance(body, list) else []
        orders.extend(normalize_order(o) for o in batch if isinstance(o, dict))
        if len(batch) < per_page:
            break
        page += 1
    latest = orders[0] if orders else {}
    return {"customer_id": customer_id, "count": len(orders), "latest_order_id": latest.get("id"),
            "latest_status": latest.get("status"), "latest_status_id": latest.get("status_id"), "orders": orders}


def set_order_status(client: BigCommerceClient, order_id: int, status_id: int) -> dict[str, Any]:
    """`PUT /v2/orders/{id}` with `{"status_id"}`; returns the normalized order."""
    order_id = params.positive_int("order_id", order_id)
    status_id = params.positive_int("status_id", status_id, minimum=0)
    body = client.request("PUT", "v2", "orders", order_id, json={"status_id": status_id})
    return normalize_order(body if isinstance(body, dict) else {"id": order_id, "status_id": status_id})
