"""Orders V2 for the BigCommerce sandbox: bare arrays, 204 when empty, RFC 2822 dates, string money.

Orders are born from checkouts (status 0 Incomplete). A status change to a paid status
(10 Completed, 11 Awaiting Fulfillment) converts the cart and emits `store/cart/converted`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sandbox.bigcommerce.commerce_state import (
    MAX_LIMIT,
    ORDER_STATUSES,
    PAID_STATUS_IDS,
    CommerceState,
    money4,
    rfc2822,
    v2_error,
)
from sandbox.http import BadJSON, Request, Response, Router

STATUS_NAMES = {sid: name for sid, name, _ in ORDER_STATUSES}
SORT_FIELDS = ("id", "customer_id", "date_created", "date_modified", "status_id", "channel_id", "external_id")
ORDER_PUT_FIELDS = {"status_id", "customer_message", "staff_notes", "external_id", "customer_id", "payment_method"}


def create_order(state: CommerceState, *, cart: dict[str, Any], subtotal: float, shipping: float,
                 billing: dict[str, Any]) -> dict[str, Any]:
    """Store a new order for a checkout, in status 0 (Incomplete); returns the internal record."""
    with state.lock:
        oid = state.next_id("order", 100)
        now = state.now()
        total = subtotal + shipping
        order = {
            "id": oid, "customer_id": cart["customer_id"], "cart_id": cart["id"], "channel_id": cart["channel_id"],
            "status_id": 0, "created": now, "modified": now, "subtotal": subtotal, "shipping": shipping,
            "total": total, "currency_code": cart["currency"], "billing": copy.deepcopy(billing),
            "items_total": sum(i["quantity"] for i in cart["line_items"]), "customer_message": "",
            "staff_notes": "", "external_id": None, "payment_method": "", "ip_address": "127.0.0.1",
        }
        state.orders[oid] = order
        return order


def render_order(order: dict[str, Any]) -> dict[str, Any]:
    """The V2 order object."""
    b = order["billing"]
    oid = order["id"]
    sub, ship, total = order["subtotal"], order["shipping"], order["total"]
    base = "https://api.bigcommerce.com/stores/{hash}/v2/orders"
    return {
        "id": oid, "customer_id": order["customer_id"], "date_created": rfc2822(order["created"]),
        "date_modified": rfc2822(order["modified"]), "date_shipped": "", "status_id": order["status_id"],
        "status": STATUS_NAMES[order["status_id"]], "custom_status": STATUS_NAMES[order["status_id"]],
        "subtotal_ex_tax": money4(sub), "subtotal_inc_tax": money4(sub), "subtotal_tax": money4(0),
        "base_shipping_cost": money4(ship), "shipping_cost_ex_tax": money4(ship),
        "shipping_cost_inc_tax": money4(ship), "shipping_cost_tax": money4(0), "shipping_cost_tax_class_id": 0,
        "base_handling_cost": money4(0), "handling_cost_ex_tax": money4(0), "handling_cost_inc_tax": money4(0),
        "handling_cost_tax": money4(0), "base_wrapping_cost": money4(0), "wrapping_cost_ex_tax": money4(0),
        "wrapping_cost_inc_tax": money4(0), "wrapping_cost_tax": money4(0), "total_ex_tax": money4(total),
        "total_inc_tax": money4(total), "total_tax": money4(0), "items_total": order["items_total"],
        "items_shipped": 0, "payment_method": order["payment_method"], "payment_provider_id": "",
        "payment_status": "captured" if order["status_id"] in PAID_STATUS_IDS else "",
        "refunded_amount": money4(0), "order_is_digital": False, "store_credit_amount": money4(0),
        "gift_certificate_amount": money4(0), "ip_address": order["ip_address"], "geoip_country": "",
        "geoip_country_iso2": "", "currency_id": 1, "currency_code": order["currency_code"],
        "currency_exchange_rate": "1.0000000000", "default_currency_id": 1,
        "default_currency_code": order["currency_code"], "staff_notes": order["staff_notes"],
        "customer_message": order["customer_message"], "discount_amount": money4(0),
        "coupon_discount": money4(0), "shipping_address_count": 1, "is_deleted": False, "ebay_order_id": "0",
        "cart_id": order["cart_id"], "is_email_opt_in": False, "credit_card_type": None, "order_source": "external",
        "channel_id": order["channel_id"], "external_source": None, "external_id": order["external_id"],
        "external_merchant_id": None, "tax_provider_id": "BasicTaxProvider", "customer_locale": "en",
        "store_default_currency_code": order["currency_code"], "store_default_to_transactional_exchange_rate":
        "1.0000000000", "custom_status_id": order["status_id"],
        "billing_address": {
            "first_name": b.get("first_name", ""), "last_name": b.get("last_name", ""),
            "company": b.get("company", ""), "street_1": b.get("address1", ""), "street_2": b.get("address2", ""),
            "city": b.get("city", ""), "state": b.get("state_or_province", ""), "zip": b.get("postal_code", ""),
            "country": b.get("country", ""), "country_iso2": b.get("country_code", ""),
            "phone": b.get("phone", ""), "email": b.get("email", ""), "form_fields": [],
        },
        "products": {"url": base + f"/{oid}/products", "resource": f"/orders/{oid}/products"},
        "shipping_addresses": {"url": base + f"/{oid}/shipping_addresses",
                               "resource": f"/orders/{oid}/shipping_addresses"},
        "coupons": {"url": base + f"/{oid}/coupons", "resource": f"/orders/{oid}/coupons"},
    }


def _render(state: CommerceState, order: dict[str, Any]) -> dict[str, Any]:
    out = render_order(order)
    for key in ("products", "shipping_addresses", "coupons"):
        out[key]["url"] = out[key]["url"].replace("{hash}", state.store_hash)
    return out


def _int(req: Request, name: str) -> int | None:
    raw = req.query.get(name)
    if raw in (None, ""):
        return None
    return int(raw)  # ValueError handled by the caller


def list_orders(state: CommerceState, req: Request) -> Response:
    try:
        page = _int(req, "page") or 1
        limit = _int(req, "limit") or 50
        filters = {k: _int(req, k) for k in ("customer_id", "status_id", "min_id", "max_id", "channel_id")}
    except ValueError:
        return v2_error(400, "The field 'page', 'limit' or an id filter is not a valid integer.")
    if limit > MAX_LIMIT:
        return v2_error(413, "The specified limit exceeds the maximum allowed.", {"max_limit": MAX_LIMIT})
    sort = req.query.get("sort", "id")
    field, _, direction = sort.partition(":")
    if field not in SORT_FIELDS or direction not in ("", "asc", "desc"):
        return v2_error(400, f"The field 'sort' is invalid: {sort}")
    key = {"date_created": "created", "date_modified": "modified"}.get(field, field)
    with state.lock:
        hits = []
        for o in state.orders.values():
            if filters["customer_id"] is not None and o["customer_id"] != filters["customer_id"]:
                continue
            if filters["status_id"] is not None and o["status_id"] != filters["status_id"]:
                continue
            if filters["channel_id"] is not None and o["channel_id"] != filters["channel_id"]:
                continue
            if filters["min_id"] is not None and o["id"] < filters["min_id"]:
                continue
            if filters["max_id"] is not None and o["id"] > filters["max_id"]:
                continue
            if "cart_id" in req.query and o["cart_id"] != req.query["cart_id"]:
                continue
            if "email" in req.query and o["billing"].get("email", "").lower() != req.query["email"].lower():
                continue
            hits.append(o)
        hits.sort(key=lambda o: (o[key] if o[key] is not None else "", o["id"]), reverse=(direction == "desc"))
        chunk = [_render(state, o) for o in hits[(page - 1) * limit: page * limit]]
    if not chunk:
        return Response(204, None)
    return Response(200, chunk)


def get_order(state: CommerceState, req: Request) -> Response:
    with state.lock:
        order = _lookup(state, req)
        if order is None:
            return v2_error(404, "The requested resource was not found.")
        return Response(200, _render(state, order))


def _lookup(state: CommerceState, req: Request) -> dict[str, Any] | None:
    try:
        return state.orders.get(int(req.path_params["order_id"]))
    except ValueError:
        return None


def update_order(state: CommerceState, req: Request, on_paid: Callable[[dict[str, Any]], object]) -> Response:
    try:
        body = req.json()
    except BadJSON:
        return v2_error(400, "The request body is not valid JSON.")
    if not isinstance(body, dict):
        return v2_error(400, "The request body must be a JSON object.")
    unknown = sorted(set(body) - ORDER_PUT_FIELDS)
    if unknown:
        return v2_error(400, f"The field '{unknown[0]}' is not supported by this sandbox or is read-only.")
    if "status_id" in body and (not isinstance(body["status_id"], int) or isinstance(body["status_id"], bool)
                                or body["status_id"] not in STATUS_NAMES):
        return v2_error(400, "The field 'status_id' is invalid.", {"invalid_reason": "Unknown order status id."})
    for key in ("customer_message", "staff_notes", "payment_method", "external_id"):
        if key in body and not (isinstance(body[key], str) or (key == "external_id" and body[key] is None)):
            return v2_error(400, f"The field '{key}' is invalid.", {"invalid_reason": "Must be a string."})
    if "customer_id" in body and (not isinstance(body["customer_id"], int) or isinstance(body["customer_id"], bool)
                                  or body["customer_id"] < 0):
        return v2_error(400, "The field 'customer_id' is invalid.", {"invalid_reason": "Must be a customer id."})
    with state.lock:
        order = _lookup(state, req)
        if order is None:
            return v2_error(404, "The requested resource was not found.")
        was_paid = order["status_id"] in PAID_STATUS_IDS
        for k, v in body.items():
            order[k] = v
        order["modified"] = state.now()
        if not was_paid and order["status_id"] in PAID_STATUS_IDS:
            on_paid(order)
        return Response(200, _render(state, order))


def list_statuses(state: CommerceState, req: Request) -> Response:
    return Response(200, [{"id": sid, "name": name, "system_label": name, "custom_label": name,
                           "system_description": desc, "order": sid} for sid, name, desc in ORDER_STATUSES])


def count_orders(state: CommerceState, req: Request) -> Response:
    with state.lock:
        counts = {sid: 0 for sid in STATUS_NAMES}
        for o in state.orders.values():
            counts[o["status_id"]] += 1
    statuses = [{"id": sid, "name": STATUS_NAMES[sid], "system_label": STATUS_NAMES[sid],
                 "custom_label": STATUS_NAMES[sid], "system_description": "", "count": n, "sort_order": sid}
                for sid, n in counts.items()]
    return Response(200, {"statuses": statuses, "count": sum(counts.values())})


def register(router: Router, state: CommerceState, v2: str, on_paid: Callable[[dict[str, Any]], object]) -> None:
    """Add the V2 order routes under the store's V2 prefix."""
    router.add("GET", f"{v2}/orders", lambda r: list_orders(state, r))
    router.add("GET", f"{v2}/orders/count", lambda r: count_orders(state, r))
    router.add("GET", f"{v2}/orders/{{order_id}}", lambda r: get_order(state, r))
    router.add("PUT", f"{v2}/orders/{{order_id}}", lambda r: update_order(state, r, on_paid))
    router.add("GET", f"{v2}/order_statuses", lambda r: list_statuses(state, r))
