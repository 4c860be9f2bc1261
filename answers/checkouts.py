"""Add Consignment, Select Shipping Option, Add Billing Information, Create Order.

The checkout id is the cart id. Create Order converts the checkout (which always leaves the
order Incomplete, status 0) and then sets the requested status with `PUT /v2/orders/{id}`.
"""

from __future__ import annotations

from typing import Any

from bc2people.answers import params
from bc2people.answers.client import BigCommerceClient
from bc2people.answers.errors import AnswersError, BigCommerceError
from bc2people.answers.orders import normalize_order, set_order_status

OPTIONS_INCLUDE = "consignments.available_shipping_options"
ORDER_STATUS_IDS = range(0, 15)  # the orders spec's documented list (Get All Order Statuses)


def _address(email: Any, country_code: Any, first_name: Any, last_name: Any, address1: Any, city: Any,
             postal_code: Any, state_or_province: Any, state_or_province_code: Any, address2: Any, company: Any,
             phone: Any) -> dict[str, Any]:
    """The address body; optional fields left empty are not sent (the spec refuses e.g. an empty phone)."""
    address = {
        "email": params.email("email", email), "country_code": params.country_code("country_code", country_code),
        "first_name": params.text("first_name", first_name), "last_name": params.text("last_name", last_name),
        "address1": params.text("address1", address1), "city": params.text("city", city),
        "postal_code": params.text("postal_code", postal_code, required=False, max_len=32),
        "state_or_province": params.text("state_or_province", state_or_province, required=False),
        "state_or_province_code": params.text("state_or_province_code", state_or_province_code, required=False),
        "address2": params.text("address2", address2, required=False),
        "company": params.text("company", company, required=False),
        "phone": params.text("phone", phone, required=False, max_len=50),
    }
    return {k: v for k, v in address.items() if v != ""}


def checkout_summary(checkout: dict[str, Any]) -> dict[str, Any]:
    """Flat checkout totals plus the full `checkout`."""
    return {"checkout_id": checkout.get("id"), "grand_total": checkout.get("grand_total"),
            "subtotal_inc_tax": checkout.get("subtotal_inc_tax"),
            "shipping_cost_total_inc_tax": checkout.get("shipping_cost_total_inc_tax"),
            "order_id": checkout.get("order_id"), "version": checkout.get("version"), "checkout": checkout}


def _get_checkout(client: BigCommerceClient, checkout_id: str) -> dict[str, Any]:
    body = client.get("v3", "checkouts", checkout_id, params={"include": OPTIONS_INCLUDE})
    return (body or {}).get("data") or {}


def add_consignment(client: BigCommerceClient, checkout_id: str, email: str, country_code: str, first_name: str,
                    last_name: str, address1: str, city: str, postal_code: str = "", state_or_province: str = "",
                    state_or_province_code: str = "", address2: str = "", company: str = "", phone: str = "",
                    line_items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Ship (all, or the given `[{item_id, quantity}]`) line items to an address; lists the shipping options.

    Without `line_items`, every physical line item of the cart goes into the consignment. When a
    consignment already holds those items, it is updated (`PUT .../consignments/{id}`) instead of
    adding a second one, so a shopper can correct the address.
    """
    checkout_id = params.cart_id("checkout_id", checkout_id)
    address = _address(email, country_code, first_name, last_name, address1, city, postal_code,
                       state_or_province, state_or_province_code, address2, company, phone)
    # the spec's consignment address schema requires these keys (its prose says only email and country_code)
    address.setdefault("state_or_province", "")
    address.setdefault("postal_code", "")
    checkout = _get_checkout(client, checkout_id)
    if line_items is None:
        physical = ((checkout.get("cart") or {}).get("line_items") or {}).get("physical_items") or []
        items = [{"item_id": i["id"], "quantity": i["quantity"]} for i in physical]
        if not items:
            raise AnswersError(422, "The cart has no physical items to ship", {"checkout_id": checkout_id})
    else:
        if not isinstance(line_items, list) or not line_items:
            raise params.InvalidParameter("line_items", "must be a non-empty list of {item_id, quantity}")
        items = []
        for i, li in enumerate(line_items):
            if not isinstance(li, dict):
                raise params.InvalidParameter(f"line_items.{i}", "must be an object {item_id, quantity}")
            items.append({"item_id": params.cart_id(f"line_items.{i}.item_id", li.get("item_id")),
                          "quantity": params.positive_int(f"line_items.{i}.quantity", li.get("quantity"))})
    wanted_ids = {li["item_id"] for li in items}
    holding = [c for c in checkout.get("consignments") or [] if wanted_ids & set(c.get("line_item_ids") or [])]
    if len(holding) > 1:
        raise AnswersError(422, "These items are split across several consignments: pass line_items for one of them",
                           {"consignment_ids": ", ".join(str(c.get("id")) for c in holding)})
    if holding:  # a corrected address: update that consignment (its shipping option must be chosen again)
        body = client.request("PUT", "v3", "checkouts", checkout_id, "consignments", holding[0]["id"],
                              params={"include": OPTIONS_INCLUDE}, json={"address": address, "line_items": items})
    else:
        body = client.request("POST", "v3", "checkouts", checkout_id, "consignments",
                              params={"include": OPTIONS_INCLUDE}, json=[{"address": address, "line_items": items}])
    checkout = (body or {}).get("data") or {}
    wanted = {li["item_id"] for li in items}
    consignments = checkout.get("consignments") or []
    mine = next((c for c in reversed(consignments) if set(c.get("line_item_ids") or []) == wanted),
                consignments[-1] if consignments else {})
    options = [{"id": o.get("id"), "description": o.get("description"), "cost": o.get("cost"),
                "type": o.get("type"), "transit_time": o.get("transit_time")}
               for o in mine.get("available_shipping_options") or []]
    cheapest = min(options, key=lambda o: o.get("cost") or 0) if options else {}
    return {"consignment_id": mine.get("id"), "shipping_options": options,
            "cheapest_shipping_option_id": cheapest.get("id"), **checkout_summary(checkout)}


def select_shipping_option(client: BigCommerceClient, checkout_id: str, consignment_id: str,
                           shipping_option_id: str) -> dict[str, Any]:
    """Choose a consignment's shipping option (`PUT /v3/checkouts/{id}/consignments/{id}`).

    A checkout without a consignment is a clear 422 ("add a consignment first").
    """
    checkout_id = params.cart_id("checkout_id", checkout_id)
    consignment_id = params.token("consignment_id", consignment_id)
    shipping_option_id = params.token("shipping_option_id", shipping_option_id)
    try:
        body = client.request("PUT", "v3", "checkouts", checkout_id, "consignments", consignment_id,
                              params={"include": OPTIONS_INCLUDE}, json={"shipping_option_id": shipping_option_id})
    except BigCommerceError as exc:
        if exc.status in (404, 422):
            _raise_if_no_consignment(client, checkout_id, exc)
        raise
    checkout = (body or {}).get("data") or {}
    mine: dict[str, Any] = next((c for c in checkout.get("consignments") or [] if c.get("id") == consignment_id), {})
    selected = mine.get("selected_shipping_option") or {}
    return {"consignment_id": consignment_id, "shipping_option_id": selected.get("id"),
            "shipping_option_description": selected.get("description"), "shipping_cost": selected.get("cost"),
            **checkout_summary(checkout)}


def _raise_if_no_consignment(client: BigCommerceClient, checkout_id: str, original: BigCommerceError) -> None:
    try:
        checkout = _get_checkout(client, checkout_id)
    except BigCommerceError:
        raise original from None
    if not checkout.get("consignments"):
        raise AnswersError(422, "The checkout has no consignment: add a consignment (shipping address) first",
                           {"checkout_id": checkout_id}) from None


def add_billing_address(client: BigCommerceClient, checkout_id: str, email: str, country_code: str,
                        first_name: str, last_name: str, address1: str, city: str, postal_code: str = "",
                        state_or_province: str = "", state_or_province_code: str = "", address2: str = "",
                        company: str = "", phone: str = "") -> dict[str, Any]:
    """Set the checkout's billing address: `POST .../billing-address`, or `PUT .../billing-address/{id}`
    when the checkout already has one (a corrected address replaces it).
    """
    checkout_id = params.cart_id("checkout_id", checkout_id)
    address = _address(email, country_code, first_name, last_name, address1, city, postal_code,
                       state_or_province, state_or_province_code, address2, company, phone)
    current = (_get_checkout(client, checkout_id).get("billing_address") or {}).get("id")
    if current not in (None, ""):
        body = client.request("PUT", "v3", "checkouts", checkout_id, "billing-address", current, json=address)
    else:
        body = client.request("POST", "v3", "checkouts", checkout_id, "billing-address", json=address)
    checkout = (body or {}).get("data") or {}
    billing = checkout.get("billing_address") or {}
    return {"billing_address_id": billing.get("id"), "billing_address": billing, **checkout_summary(checkout)}


def create_order(client: BigCommerceClient, checkout_id: str, status_id: int) -> dict[str, Any]:
    """Convert the checkout into an order, then give it `status_id` (0-14, see `GET /v2/order_statuses`).

    The status id is checked before anything is sent. If an order already exists for this
    cart (a previous call created it but could not set its status), that order is used
    instead of creating a second one (``resumed: true``).
    """
    checkout_id = params.cart_id("checkout_id", checkout_id)
    status_id = _status_id(status_id)
    existing = order_for_cart(client, checkout_id)
    if existing is None:
        body = client.request("POST", "v3", "checkouts", checkout_id, "orders", send_body=True)
        order_id = ((body or {}).get("data") or {}).get("id")
        if not isinstance(order_id, int):
            raise BigCommerceError(502, "BigCommerce did not return the new order id", {"checkout_id": checkout_id})
        order: dict[str, Any] = {"id": order_id, "status_id": 0, "status": "Incomplete"}
    else:
        order, order_id = existing, existing["id"]
        if order.get("status_id") not in (0, status_id):
            raise AnswersError(409, f"Order {order_id} already exists for this checkout with another status",
                               {"order_id": str(order_id), "status_id": str(order.get("status_id")),
                                "status": str(order.get("status"))})
    if order.get("status_id") != status_id:
        try:
            order = set_order_status(client, order_id, status_id)
        except BigCommerceError as exc:
            errors = dict(exc.errors, order_id=f"order {order_id} was created (Incomplete) but its status was not set; "
                                               "call create_order again to set it (no second order is made)")
            raise BigCommerceError(exc.status, exc.title, errors) from None
    return {"order_id": order_id, "checkout_id": checkout_id, "status_id": order.get("status_id"),
            "status": order.get("status"), "total_inc_tax": order.get("total_inc_tax"),
            "date_created": order.get("date_created"), "resumed": existing is not None}


def _status_id(value: Any) -> int:
    status_id = params.positive_int("status_id", value, minimum=0)
    if status_id not in ORDER_STATUS_IDS:
        raise params.InvalidParameter("status_id", "must be one of BigCommerce's order status ids 0-14 "
                                                   "(GET /v2/order_statuses lists them)")
    return status_id


def order_for_cart(client: BigCommerceClient, cart_id: str) -> dict[str, Any] | None:
    """The newest order made from this cart (`GET /v2/orders?cart_id=`), or None.

    Orders are also matched on their own `cart_id`, so a store that ignored the filter could
    never hand back another cart's order.
    """
    body = client.get("v2", "orders", params={"cart_id": cart_id, "sort": "id:desc", "limit": 50})
    for order in body if isinstance(body, list) else []:
        if isinstance(order, dict) and str(order.get("cart_id") or "").lower() == cart_id.lower():
            return normalize_order(order)
    return None
