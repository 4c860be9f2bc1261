"""Carts V3 for the BigCommerce sandbox: create (201), get, add items, versions (409), redirect URLs.

Redirect URLs point at a storefront page this sandbox serves on its own host under
``/__sandbox__/storefront/cart.php`` (the real storefront is another host, so it sits
outside the authenticated API): the first visit loads the cart (200), every later visit
gets 410 Gone; a converted (or deleted) cart is 404 everywhere.
"""

from __future__ import annotations

import copy
import secrets
import uuid
from typing import Any

from bc2people.sandbox.bigcommerce.commerce_catalog import VALUE_LIST_TYPES
from bc2people.sandbox.bigcommerce.commerce_state import (
    CommerceState,
    conflict,
    includes,
    iso_offset,
    v3_error,
)
from bc2people.sandbox.http import BadJSON, Request, Response, Router

STOREFRONT_PATH = "/__sandbox__/storefront/cart.php"
LINE_ITEM_KEYS = {"product_id", "quantity", "variant_id", "list_price", "name", "gift_wrapping", "option_selections"}


class CartInputError(ValueError):
    """A cart request the store refuses (answered 422 with a field map)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def find_cart(state: CommerceState, cart_id: str) -> dict[str, Any] | None:
    """A live cart (not converted, not deleted) or None."""
    cart = state.carts.get(cart_id)
    if cart is None or cart["converted"] or cart["deleted"]:
        return None
    return cart


def _split_selections(product: dict[str, Any], item: dict[str, Any], index: int) -> tuple[set[Any], list[Any]]:
    """(variant option selections as (option_id, value_id), modifier selections) of a line item."""
    selections = item.get("option_selections")
    if selections is None:
        selections = []
    field = f"line_items.{index}.option_selections"
    if not isinstance(selections, list) or not all(isinstance(s, dict) for s in selections):
        raise CartInputError(field, "option_selections must be a list of objects.")
    option_ids = {o["id"] for o in product["_options"]}
    modifiers = {m["id"]: m for m in product["_modifiers"]}
    variant_part, chosen = set(), []
    for s in selections:
        oid, value = s.get("option_id"), s.get("option_value")
        if oid in option_ids:
            variant_part.add((oid, value))
        elif oid in modifiers:
            mod = modifiers[oid]
            if mod["type"] in VALUE_LIST_TYPES and value not in {v["id"] for v in mod["option_values"]}:
                raise CartInputError(field, f"{value!r} is not a value of modifier {oid}.")
            chosen.append((mod, value))
        else:
            raise CartInputError(field, f"Option {oid!r} does not belong to product {product['id']}.")
    missing = [m for m in product["_modifiers"] if m["required"] and m["id"] not in {c[0]["id"] for c in chosen}]
    if missing:
        names = ", ".join(f"{m['id']} ({m['display_name']})" for m in missing)
        raise CartInputError(field, f"Required modifiers are missing: {names}.")
    return variant_part, chosen


def _resolve_variant(product: dict[str, Any], item: dict[str, Any], index: int) -> dict[str, Any]:
    variants = product["_variants"]
    wanted, _ = _split_selections(product, item, index)
    if item.get("variant_id") is not None:
        for v in variants:
            if v["id"] == item["variant_id"]:
                return v
        raise CartInputError(f"line_items.{index}.variant_id",
                             f"Variant {item['variant_id']} does not belong to product {product['id']}.")
    if wanted:
        for v in variants:
            if {(ov["option_id"], ov["id"]) for ov in v["option_values"]} == wanted:
                return v
        raise CartInputError(f"line_items.{index}.option_selections",
                             "The option selections do not match a variant of this product.")
    if product["base_variant_id"] is None:
        raise CartInputError(f"line_items.{index}.variant_id", "This product has options; variant ID is required.")
    return variants[0]


def _line_item(state: CommerceState, item: Any, index: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise CartInputError(f"line_items.{index}", "Each line item must be an object.")
    extra = set(item) - LINE_ITEM_KEYS
    if extra:
        raise CartInputError(f"line_items.{index}.{sorted(extra)[0]}", "Unknown line item field.")
    pid, qty = item.get("product_id"), item.get("quantity")
    if not isinstance(pid, int) or isinstance(pid, bool):
        raise CartInputError(f"line_items.{index}.product_id", "product_id is required and must be an integer.")
    if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
        raise CartInputError(f"line_items.{index}.quantity", "quantity is required and must be a positive integer.")
    product = state.products.get(pid)
    if product is None or not product["is_visible"]:
        raise CartInputError(f"line_items.{index}.product_id", f"Product {pid} does not exist or is not purchasable.")
    variant = _resolve_variant(product, item, index)
    _, modifiers = _split_selections(product, item, index)
    price = float(item["list_price"]) if isinstance(item.get("list_price"), int | float) else product["price"]
    return {"id": str(uuid.uuid4()), "product_id": pid, "variant_id": variant["id"], "quantity": qty,
            "name": item.get("name") or product["name"], "sku": variant["sku"], "list_price": price,
            "original_price": product["price"], "type": product["type"],
            "url": product["custom_url"]["url"],
            "image_url": product["_images"][0]["url_standard"] if product["_images"] else "",
            "options": [{"name": ov["option_display_name"], "nameId": ov["option_id"], "value": ov["label"],
                         "valueId": ov["id"]} for ov in variant["option_values"]]
            + [{"name": m["display_name"], "nameId": m["id"], "value": _modifier_label(m, value),
                "valueId": value if isinstance(value, int) else 0} for m, value in modifiers]}


def _modifier_label(modifier: dict[str, Any], value: Any) -> str:
    for v in modifier["option_values"]:
        if v["id"] == value:
            return str(v["label"])
    return str(value)


def add_line_items(state: CommerceState, cart: dict[str, Any], items: Any) -> None:
    """Validate all items first, then merge them into the cart (same variant adds quantity)."""
    if not isinstance(items, list) or not items:
        raise CartInputError("line_items", "line_items must be a non-empty list.")
    new = [_line_item(state, item, i) for i, item in enumerate(items)]
    for item in new:
        for existing in cart["line_items"]:
            if existing["variant_id"] == item["variant_id"] and existing["list_price"] == item["list_price"]:
                existing["quantity"] += item["quantity"]
                break
        else:
            cart["line_items"].append(item)


def subtotal(cart: dict[str, Any]) -> float:
    return round(sum(i["list_price"] * i["quantity"] for i in cart["line_items"]), 2)


def render_item(item: dict[str, Any]) -> dict[str, Any]:
    ext = round(item["list_price"] * item["quantity"], 2)
    return {"id": item["id"], "variant_id": item["variant_id"], "product_id": item["product_id"],
            "sku": item["sku"], "name": item["name"], "url": item["url"], "quantity": item["quantity"],
            "taxable": True, "image_url": item["image_url"], "discounts": [], "coupons": [], "discount_amount": 0,
            "coupon_amount": 0, "original_price": item["original_price"], "list_price": item["list_price"],
            "sale_price": item["list_price"], "extended_list_price": ext, "extended_sale_price": ext,
            "is_require_shipping": item["type"] == "physical", "is_mutable": True, "added_by_promotion": False,
            "options": copy.deepcopy(item["options"])}  # parent_id/gift_wrapping: absent unless set (non-nullable)


def render_line_items(cart: dict[str, Any]) -> dict[str, Any]:
    items = [render_item(i) for i in cart["line_items"]]
    physical = [i for i, raw in zip(items, cart["line_items"], strict=True) if raw["type"] == "physical"]
    digital = [i for i, raw in zip(items, cart["line_items"], strict=True) if raw["type"] != "physical"]
    for d in digital:
        d["is_require_shipping"] = False
    return {"physical_items": physical, "digital_items": digital, "gift_certificates": [], "custom_items": []}


def render_cart(state: CommerceState, cart: dict[str, Any], req: Request | None = None) -> dict[str, Any]:
    """The Cart_Full shape; adds fresh `redirect_urls` when `include=redirect_urls`."""
    amount = subtotal(cart)
    out: dict[str, Any] = {
        "id": cart["id"], "customer_id": cart["customer_id"], "channel_id": cart["channel_id"],
        "email": cart["email"], "currency": {"code": cart["currency"]}, "tax_included": False,
        "base_amount": amount, "discount_amount": 0, "manual_discount_amount": 0, "cart_amount": amount,
        "coupons": [], "discounts": [], "line_items": render_line_items(cart),
        "created_time": iso_offset(cart["created"]), "updated_time": iso_offset(cart["updated"]),
        "locale": cart["locale"], "version": cart["version"],
    }
    if req is not None and "redirect_urls" in includes(req):
        out["redirect_urls"] = new_redirect_urls(state, cart, req)
    return out


def new_redirect_urls(state: CommerceState, cart: dict[str, Any], req: Request) -> dict[str, str]:
    """Three fresh single-use URLs on this sandbox's own host."""
    host = req.header("Host") or "127.0.0.1"
    base = f"http://{host}{STOREFRONT_PATH}"
    urls = {}
    for key, query in (("cart_url", "action=load"), ("checkout_url", "action=loadInCheckout"),
                       ("embedded_checkout_url", "embedded=1&action=loadInCheckout")):
        token = secrets.token_hex(32)
        state.redirect_tokens[token] = {"cart_id": cart["id"], "kind": key, "used": False}
        urls[key] = f"{base}?{query}&id={cart['id']}&token={token}"
    return urls


def _body(req: Request) -> Any:
    return req.json()


def touch(state: CommerceState, cart: dict[str, Any]) -> None:
    cart["version"] += 1
    cart["updated"] = state.now()
    state.fire("store/cart/updated", {"type": "cart", "id": cart["id"]})


def check_version(cart: dict[str, Any], body: dict[str, Any]) -> bool:
    """False when the body names a version that is not the cart's current one."""
    return "version" not in body or body["version"] == cart["version"]


def create_cart(state: CommerceState, req: Request) -> Response:
    try:
        body = _body(req)
    except BadJSON:
        return v3_error(400, "Malformed JSON body")
    if not isinstance(body, dict):
        return v3_error(422, "JSON data is missing or invalid", {"body": "The request body must be an object."})
    customer_id = body.get("customer_id", 0)
    channel_id = body.get("channel_id", 1)
    for name, value in (("customer_id", customer_id), ("channel_id", channel_id)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return v3_error(422, "JSON data is missing or invalid", {name: f"{name} must be a non-negative integer."})
    email = ""
    if customer_id:
        customer = state.customer(customer_id)
        if customer is None:
            return v3_error(422, "JSON data is missing or invalid", {"customer_id": "Customer does not exist."})
        email = customer.get("email", "")
    currency = (body.get("currency") or {}).get("code", "USD") if isinstance(body.get("currency"), dict | None) else "USD"
    now = state.now()
    cart = {"id": str(uuid.uuid4()), "customer_id": customer_id, "channel_id": channel_id, "email": email,
            "currency": currency, "locale": body.get("locale") or "en-US", "created": now, "updated": now,
            "version": 1, "line_items": [], "billing_address": None, "consignments": [], "order_ids": [],
            "converted": False, "deleted": False, "customer_message": ""}
    with state.lock:
        try:
            add_line_items(state, cart, body.get("line_items"))
        except CartInputError as exc:
            return v3_error(422, str(exc), {exc.field: str(exc)})
        state.carts[cart["id"]] = cart
        state.fire("store/cart/created", {"type": "cart", "id": cart["id"]})
        return Response(201, {"data": render_cart(state, cart, req), "meta": {}})


def get_cart(state: CommerceState, req: Request) -> Response:
    with state.lock:
        cart = find_cart(state, req.path_params["cart_id"])
        if cart is None:
            return v3_error(404, "Cart not found")
        return Response(200, {"data": render_cart(state, cart, req), "meta": {}})


def add_items(state: CommerceState, req: Request) -> Response:
    try:
        body = _body(req)
    except BadJSON:
        return v3_error(400, "Malformed JSON body")
    with state.lock:
        cart = find_cart(state, req.path_params["cart_id"])
        if cart is None:
            return v3_error(404, "Cart not found")
        if not isinstance(body, dict):
            return v3_error(422, "JSON data is missing or invalid", {"body": "The request body must be an object."})
        if not check_version(cart, body):
            return conflict()
        trial = copy.deepcopy(cart)
        try:
            add_line_items(state, trial, body.get("line_items"))
        except CartInputError as exc:
            return v3_error(422, str(exc), {exc.field: str(exc)})
        cart["line_items"] = trial["line_items"]
        touch(state, cart)
        return Response(201, {"data": render_cart(state, cart, req), "meta": {}})


def delete_cart(state: CommerceState, req: Request) -> Response:
    with state.lock:
        cart = find_cart(state, req.path_params["cart_id"])
        if cart is None:
            return v3_error(404, "Cart not found")
        cart["deleted"] = True
        state.fire("store/cart/deleted", {"type": "cart", "id": cart["id"]})
    return Response(204, None)


def redirect_urls(state: CommerceState, req: Request) -> Response:
    with state.lock:
        cart = find_cart(state, req.path_params["cart_id"])
        if cart is None:
            return v3_error(404, "Cart not found")
        return Response(201, {"data": new_redirect_urls(state, cart, req), "meta": {}})


def storefront(state: CommerceState, req: Request) -> Response:
    """What a shopper's browser gets from a redirect URL: once 200, then 410; 404 for gone carts."""
    html = {"Content-Type": "text/html; charset=utf-8"}
    token = req.query.get("token", "")
    with state.lock:
        grant = state.redirect_tokens.get(token)
        if grant is None or grant["cart_id"] != req.query.get("id"):
            return Response(404, b"<h1>Not Found</h1>", html)
        if find_cart(state, grant["cart_id"]) is None:
            return Response(404, b"<h1>This cart no longer exists</h1>", html)
        if grant["used"]:
            return Response(410, b"<h1>This link has expired</h1>", html)
        grant["used"] = True
        page = "Checkout" if grant["kind"] != "cart_url" else "Your Cart"
    return Response(200, f"<h1>{page}</h1><p>cart {grant['cart_id']}</p>".encode(), html)


def register(router: Router, state: CommerceState, v3: str) -> None:
    """Add the cart routes under the store's V3 prefix, and the storefront page."""
    router.add("POST", f"{v3}/carts", lambda r: create_cart(state, r))
    router.add("GET", f"{v3}/carts/{{cart_id}}", lambda r: get_cart(state, r))
    router.add("DELETE", f"{v3}/carts/{{cart_id}}", lambda r: delete_cart(state, r))
    router.add("POST", f"{v3}/carts/{{cart_id}}/items", lambda r: add_items(state, r))
    router.add("POST", f"{v3}/carts/{{cart_id}}/redirect_urls", lambda r: redirect_urls(state, r))
    router.add("GET", STOREFRONT_PATH, lambda r: storefront(state, r))
