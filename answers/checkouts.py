"""Add Consignment, Select Shipping Option, Add Billing Information, Create Order.

The checkout id is the cart id. Create Order converts the checkout (which always leaves the
order Incomplete, status 0) and then sets the requested status with `PUT /v2/orders/{id}`.
"""

from __future__ import annotations

from typing import Any

from answers import params
from answers.client import BigCommerceClient
from answers.errors import AnswersError, BigCommerceError
from answers.orders import set_order_status

OPTIONS_INCLUDE = "consignments.available_shipping_options"


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

    Without `line_items`, every physical line item of the cart goes into the consignment.
    """
    checkout_id = params.cart_id("checkout_id", checkout_id)
    address = _address(email, country_code, first_name, last_name, address1, city, postal_code,
                       state_or_province, state_or_province_code, address2, company, phone)
    # the spec's consignment address schema requires these keys (its prose says only email and country_code)
    address.setdefault("state_or_province", "")
    address.setdefault("postal_code", "")
    if line_items is None:
        cart = _get_checkout(client, checkout_id).get("cart") or {}
        physical = (cart.get("line_items") or {}).get("physical_items") or []
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
    """Set the checkout's billing address (`POST /v3/checkouts/{id}/billing-address`)."""
    checkout_id = params.cart_id("checkout_id", checkout_id)
    address = _address(email, country_code, first_name, last_name, address1, city, postal_code,
                       state_or_province, state_or_province_code, address2, company, phone)
    body = client.request("POST", "v3", "checkouts", checkout_id, "billing-address", json=address)
    checkout = (body or {}).get("data") or {}
    billing = checkout.get("billing_address") or {}
    return {"billing_address_id": billing.get("id"), "billing_address": billing, **checkout_summary(checkout)}


def create_order(client: BigCommerceClient, checkout_id: str, status_id: int) -> dict[str, Any]:
    """Convert the checkout into an order, then give it `status_id` (see `GET /v2/order_statuses`).

    If the order is created but its status cannot be set, the error names the order id,
    so nothing is lost.
    """
    checkout_id = params.cart_id("checkout_id", checkout_id)
    status_id = params.positive_int("status_id", status_id, minimum=0, maximum=100)
    body = client.request("POST", "v3", "checkouts", checkout_id, "orders", send_body=True)
    order_id = ((body or {}).get("data") or {}).get("id")
    if not isinstance(order_id, int):
        raise BigCommerceError(502, "BigCommerce did not return the new order id", {"checkout_id": checkout_id})
    if status_id != 0:
        try:
            order = set_order_status(client, order_id, status_id)
        except BigCommerceError as exc:
            errors = dict(exc.errors, order_id=f"order {order_id} was created (Incomplete) but its status was not set")
            raise BigCommerceError(exc.status, exc.title, errors) from None
    else:
        order = {"id": order_id, "status_id": 0, "status": "Incomplete"}
    return {"order_id": order_id, "checkout_id": checkout_id, "status_id": order.get("status_id"),
            "status": order.get("status"), "total_inc_tax": order.get("total_inc_tax"),
            "date_created": order.get("date_created")}
