"""Checkouts V3 for the BigCommerce sandbox: billing address, consignments, shipping options, orders.

The checkout id is the cart id. Errors: 404 in the checkout `{errors: [...]}` shape, 409 on a
version mismatch, 422 for missing data. Creating an order leaves it Incomplete (status 0).
A second POST of a billing address replaces it, or is refused when
``state.billing_post_existing == "refuse"`` (the spec does not say which); PUT always updates.
"""

from __future__ import annotations

import copy
from typing import Any

from bc2people.sandbox.bigcommerce.commerce_carts import find_cart, render_line_items, subtotal, touch
from bc2people.sandbox.bigcommerce.commerce_orders import create_order
from bc2people.sandbox.bigcommerce.commerce_state import (
    COUNTRIES,
    CommerceState,
    checkout_error,
    conflict,
    includes,
    iso_offset,
)
from bc2people.sandbox.bigcommerce.commerce_state import v3_error as _v3_error
from bc2people.sandbox.http import BadJSON, Request, Response, Router

ADDRESS_FIELDS = ("first_name", "last_name", "email", "company", "address1", "address2", "city",
                  "state_or_province", "state_or_province_code", "country_code", "postal_code", "phone")
SHIPPING_METHODS = (("shipping_flatrate", "Flat Rate", 10.0, "3-5 business days"),
                    ("shipping_upsexpress", "UPS Express", 25.0, "1-2 business days"),
                    ("shipping_pickupinstore", "Pick up in store", 0.0, ""))
INCLUDE_OPTIONS = "consignments.available_shipping_options"


def _unprocessable(field: str, message: str) -> Response:
    return _v3_error(422, message, {field: message})


def _not_found(what: str = "Checkout") -> Response:
    return checkout_error(404, f"{what} not found", f"The requested {what.lower()} could not be found.")


def _address(state: CommerceState, raw: Any, field: str, *, address_id: str | None = None) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError(f"{field}: an address object is required")
    for required in ("email", "country_code"):
        if not isinstance(raw.get(required), str) or not raw[required].strip():
            raise ValueError(f"{field}.{required}: {required} is required")
    code = raw["country_code"].upper()
    if len(code) != 2 or not code.isalpha():
        raise ValueError(f"{field}.country_code: must be an ISO 3166-1 alpha-2 code")
    out: dict[str, Any] = {"id": address_id or state.hexid(13, field)}
    for key in ADDRESS_FIELDS:
        value = raw.get(key, "")
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{field}.{key}: must be a string")
        out[key] = value or ""
    out["country_code"] = code
    out["country"] = COUNTRIES.get(code, code)
    out["custom_fields"] = raw.get("custom_fields") if isinstance(raw.get("custom_fields"), list) else []
    return out


def _options(state: CommerceState, consignment_id: str, country: str) -> list[dict[str, Any]]:
    opts = []
    for kind, desc, cost, transit in SHIPPING_METHODS:
        opts.append({"id": state.hexid(32, consignment_id, kind), "type": kind, "description": desc,
                     "image_url": "", "cost": cost, "transit_time": transit,
                     "additional_description": "" if country == "US" else "International rates apply."})
    return opts


def _public(address: dict[str, Any]) -> dict[str, Any]:
    """An address as the API shows it: an empty phone is left out (the spec's pattern refuses "")."""
    return {k: copy.deepcopy(v) for k, v in address.items() if not (k == "phone" and not v)}


def render_checkout(state: CommerceState, cart: dict[str, Any], req: Request) -> dict[str, Any]:
    """The Checkout object; available shipping options only with the include."""
    with_options = INCLUDE_OPTIONS in includes(req)
    sub = subtotal(cart)
    shipping = 0.0
    consignments = []
    for c in cart["consignments"]:
        sel = c["selected"]
        cost = sel["cost"] if sel else 0.0
        shipping += cost
        out = {"id": c["id"], "address": _public(c["address"]), "shipping_address": _public(c["address"]),
               "line_item_ids": list(c["line_item_ids"]),
               "shipping_cost_inc_tax": cost, "shipping_cost_ex_tax": cost, "handling_cost_inc_tax": 0,
               "handling_cost_ex_tax": 0, "coupon_discounts": [], "discounts": []}
        if sel is not None:  # non-nullable in the spec: absent until one is chosen
            out["selected_shipping_option"] = copy.deepcopy(sel)
        if with_options:
            out["available_shipping_options"] = copy.deepcopy(c["options"])
        consignments.append(out)
    order_id = str(cart["order_ids"][-1]) if cart["order_ids"] else None
    return {
        "id": cart["id"],
        "cart": {"id": cart["id"], "customer_id": cart["customer_id"], "channel_id": cart["channel_id"],
                 "email": cart["email"], "currency": {"code": cart["currency"]}, "tax_included": False,
                 "base_amount": sub, "discount_amount": 0, "cart_amount_inc_tax": sub, "cart_amount_ex_tax": sub,
                 "coupons": [], "discounts": [], "line_items": render_line_items(cart),
                 "created_time": iso_offset(cart["created"]), "updated_time": iso_offset(cart["updated"])},
        "billing_address": _public(cart["billing_address"]) if cart["billing_address"] else {},
        "consignments": consignments, "taxes": [{"name": "Tax", "amount": 0}], "coupons": [], "fees": [],
        "order_id": order_id, "shipping_cost_total_inc_tax": shipping, "shipping_cost_total_ex_tax": shipping,
        "handling_cost_total_inc_tax": 0, "handling_cost_total_ex_tax": 0, "tax_total": 0,
        "subtotal_inc_tax": sub, "subtotal_ex_tax": sub, "grand_total": round(sub + shipping, 2),
        "created_time": iso_offset(cart["created"]), "updated_time": iso_offset(cart["updated"]),
        "customer_message": cart["customer_message"], "promotions": [], "version": cart["version"],
    }


def _ok(state: CommerceState, cart: dict[str, Any], req: Request) -> Response:
    return Response(200, {"data": render_checkout(state, cart, req), "meta": {}})


def _load(state: CommerceState, req: Request) -> tuple[dict[str, Any] | None, Any, Response | None]:
    """(cart, body, early response) for a write request on a checkout."""
    try:
        body = req.json()
    except BadJSON:
        return None, None, _v3_error(400, "Malformed JSON body")
    cart = find_cart(state, req.path_params["checkout_id"])
    if cart is None:
        return None, None, _not_found()
    if isinstance(body, dict) and "version" in body and body["version"] != cart["version"]:
        return None, None, conflict()
    return cart, body, None


def get_checkout(state: CommerceState, req: Request) -> Response:
    with state.lock:
        cart = find_cart(state, req.path_params["checkout_id"])
        return _not_found() if cart is None else _ok(state, cart, req)


def set_billing(state: CommerceState, req: Request) -> Response:
    with state.lock:
        cart, body, early = _load(state, req)
        if early is not None or cart is None:
            return early or _not_found()
        address_id = req.path_params.get("address_id")
        if address_id is not None and (not cart["billing_address"] or cart["billing_address"]["id"] != address_id):
            return _not_found("Billing address")
        if address_id is None and cart["billing_address"] and state.billing_post_existing == "refuse":
            return _unprocessable("billing_address", "The checkout already has a billing address; update it with PUT")
        keep = address_id or (cart["billing_address"] or {}).get("id")
        try:
            cart["billing_address"] = _address(state, body, "billing_address", address_id=keep)
        except ValueError as exc:
            field, _, msg = str(exc).partition(": ")
            return _unprocessable(field, msg)
        if not cart["email"]:
            cart["email"] = cart["billing_address"]["email"]
        touch(state, cart)
        return _ok(state, cart, req)


def _consignment_items(cart: dict[str, Any], raw: Any, index: int) -> list[str]:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{index}.line_items: line_items must be a non-empty list")
    known = {i["id"]: i for i in cart["line_items"]}
    ids = []
    for j, li in enumerate(raw):
        if not isinstance(li, dict) or li.get("item_id") not in known:
            raise ValueError(f"{index}.line_items.{j}.item_id: not a line item of this cart")
        qty = li.get("quantity")
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1 or qty > known[li["item_id"]]["quantity"]:
            raise ValueError(f"{index}.line_items.{j}.quantity: must be between 1 and the line item's quantity")
        ids.append(li["item_id"])
    return ids


def add_consignments(state: CommerceState, req: Request) -> Response:
    with state.lock:
        cart, body, early = _load(state, req)
        if early is not None or cart is None:
            return early or _not_found()
        if not isinstance(body, list) or not body:
            return _unprocessable("consignments", "The body must be a non-empty array of consignments")
        new: list[dict[str, Any]] = []
        try:
            for i, entry in enumerate(body):
                if not isinstance(entry, dict):
                    raise ValueError(f"{i}: a consignment must be an object")
                raw = entry.get("address", entry.get("shipping_address"))
                address = _address(state, raw, f"{i}.address")
                address.pop("id")
                ids = _consignment_items(cart, entry.get("line_items"), i)
                cid = state.hexid(13, "consignment", cart["id"])
                new.append({"id": cid, "address": address, "line_item_ids": list(ids),
                            "options": _options(state, cid, address["country_code"]), "selected": None})
        except ValueError as exc:
            field, _, msg = str(exc).partition(": ")
            return _unprocessable(field, msg)
        taken = {i for c in cart["consignments"] for i in c["line_item_ids"]}
        for c in new:
            clash = taken & set(c["line_item_ids"])
            if clash:
                return _unprocessable("line_items", f"Line item {sorted(clash)[0]} is already in a consignment")
            taken |= set(c["line_item_ids"])
        cart["consignments"].extend(new)
        touch(state, cart)
        return _ok(state, cart, req)


def update_consignment(state: CommerceState, req: Request) -> Response:
    with state.lock:
        cart, body, early = _load(state, req)
        if early is not None or cart is None:
            return early or _not_found()
        consignment = next((c for c in cart["consignments"] if c["id"] == req.path_params["consignment_id"]), None)
        if consignment is None:
            return _not_found("Consignment")
        if not isinstance(body, dict):
            return _unprocessable("body", "The body must be an object")
        if "shipping_option_id" in body:
            if set(body) & {"address", "shipping_address", "line_items"}:
                return _unprocessable("shipping_option_id",
                                      "shipping_option_id must be sent in a separate request from address or line_items")
            option = next((o for o in consignment["options"] if o["id"] == body["shipping_option_id"]), None)
            if option is None:
                return _unprocessable("shipping_option_id", "Not an available shipping option of this consignment")
            consignment["selected"] = copy.deepcopy(option)
        else:
            try:
                if "address" in body or "shipping_address" in body:
                    address = _address(state, body.get("address", body.get("shipping_address")), "address")
                    address.pop("id")
                    consignment["address"] = address
                    consignment["options"] = _options(state, consignment["id"], address["country_code"])
                    consignment["selected"] = None
                if "line_items" in body:
                    consignment["line_item_ids"] = _consignment_items(cart, body["line_items"], 0)
            except ValueError as exc:
                field, _, msg = str(exc).partition(": ")
                return _unprocessable(field, msg)
        touch(state, cart)
        return _ok(state, cart, req)


def create_checkout_order(state: CommerceState, req: Request) -> Response:
    with state.lock:
        cart = find_cart(state, req.path_params["checkout_id"])
        if cart is None:
            return _not_found()
        if not cart["billing_address"]:
            return _unprocessable("billing_address", "A billing address is required to create an order")
        billing = cart["billing_address"]
        for key in ("first_name", "last_name", "address1", "city", "postal_code"):
            if not billing.get(key):
                return _unprocessable(f"billing_address.{key}", f"{key} is required to create an order")
        covered: set[str] = set()
        shipping = 0.0
        for c in cart["consignments"]:
            if c["selected"] is None:
                return _unprocessable("consignments", f"Consignment {c['id']} has no shipping option selected")
            covered |= set(c["line_item_ids"])
            shipping += c["selected"]["cost"]
        missing = [i["id"] for i in cart["line_items"] if i["type"] == "physical" and i["id"] not in covered]
        if missing:
            return _unprocessable("consignments", f"Line item {missing[0]} needs a consignment with a shipping option")
        order = create_order(state, cart=cart, subtotal=subtotal(cart), shipping=shipping, billing=billing)
        cart["order_ids"].append(order["id"])
        touch(state, cart)
        return Response(200, {"data": {"id": order["id"]}, "meta": {}})


def register(router: Router, state: CommerceState, v3: str) -> None:
    """Add the checkout routes under the store's V3 prefix."""
    base = f"{v3}/checkouts/{{checkout_id}}"
    router.add("GET", base, lambda r: get_checkout(state, r))
    router.add("POST", f"{base}/billing-address", lambda r: set_billing(state, r))
    router.add("PUT", f"{base}/billing-address/{{address_id}}", lambda r: set_billing(state, r))
    router.add("POST", f"{base}/consignments", lambda r: add_consignments(state, r))
    router.add("PUT", f"{base}/consignments/{{consignment_id}}", lambda r: update_consignment(state, r))
    router.add("POST", f"{base}/orders", lambda r: create_checkout_order(state, r))
