"""Create a Cart, Get a Cart, Add item to Cart.

Products with options: BigCommerce requires a `variant_id` (422 "This product has
options; variant ID is required"). Products with modifiers need `option_selections`
(``[{"option_id", "option_value"}]``; the carts spec). These functions do not guess a size,
colour or modifier for the shopper: on a 422 they list the product's variants (every page)
and its required modifiers in `errors`, so the bot can ask and call again.

Create a Cart sends `variant_id` with the modifier selections (the spec's example does);
Add Item describes the variant as option selections too and omits `variant_id`, as the
spec's usage note for adding items asks.
"""

from __future__ import annotations

import re
from typing import Any

from bc2people.answers import params
from bc2people.answers.client import BigCommerceClient
from bc2people.answers.errors import BigCommerceError

CART_INCLUDE = "line_items.physical_items.options,line_items.digital_items.options"


def cart_summary(cart: dict[str, Any]) -> dict[str, Any]:
    """A flat view of a cart (`cart_id`, amounts, `item_count`, `line_items`) plus the full `cart`."""
    groups = cart.get("line_items") or {}
    items = [dict(i, kind=kind) for kind in ("physical_items", "digital_items") for i in (groups.get(kind) or [])]
    lines = [{"id": i.get("id"), "product_id": i.get("product_id"), "variant_id": i.get("variant_id"),
              "name": i.get("name"), "sku": i.get("sku"), "quantity": i.get("quantity"),
              "list_price": i.get("list_price"), "extended_sale_price": i.get("extended_sale_price"),
              "requires_shipping": i["kind"] == "physical_items"} for i in items]
    return {"found": True, "cart_id": cart.get("id"), "checkout_id": cart.get("id"),
            "customer_id": cart.get("customer_id"), "channel_id": cart.get("channel_id"),
            "email": cart.get("email"), "currency": (cart.get("currency") or {}).get("code"),
            "base_amount": cart.get("base_amount"), "cart_amount": cart.get("cart_amount"),
            "version": cart.get("version"), "item_count": sum(int(i.get("quantity") or 0) for i in items),
            "line_items": lines, "cart": cart}


def _selections(value: Any) -> list[dict[str, Any]] | None:
    """`option_selections` as the carts spec has them: option_id (int) and option_value (int or text)."""
    if value is None or value == []:
        return None
    if not isinstance(value, list):
        raise params.InvalidParameter("option_selections", "must be a list of {option_id, option_value}")
    out = []
    for i, sel in enumerate(value):
        if not isinstance(sel, dict):
            raise params.InvalidParameter(f"option_selections.{i}", "must be an object {option_id, option_value}")
        option_id = params.positive_int(f"option_selections.{i}.option_id", sel.get("option_id"))
        raw = sel.get("option_value")
        if isinstance(raw, int | str) and not isinstance(raw, bool) and re.fullmatch(r"\d{1,18}", str(raw).strip()):
            chosen: int | str = int(str(raw).strip())
        else:
            chosen = params.text(f"option_selections.{i}.option_value", raw)
        out.append({"option_id": option_id, "option_value": chosen})
    return out


def _line_item(product_id: Any, quantity: Any, variant_id: Any, option_selections: Any = None) -> dict[str, Any]:
    item: dict[str, Any] = {"product_id": params.positive_int("product_id", product_id),
                            "quantity": params.positive_int("quantity", quantity, maximum=100_000)}
    variant = params.optional_int("variant_id", variant_id)
    if variant is not None:
        item["variant_id"] = variant
    selections = _selections(option_selections)
    if selections is not None:
        item["option_selections"] = selections
    return item


def all_variants(client: BigCommerceClient, product_id: int) -> list[dict[str, Any]]:
    """Every variant of a product, all pages."""
    return list(client.paged_v3("catalog", "products", product_id, "variants"))


def _explain(client: BigCommerceClient, exc: BigCommerceError, item: dict[str, Any]) -> BigCommerceError:
    """Add the product's variants and its missing required modifiers to a 422; other errors pass unchanged."""
    if exc.status != 422:
        return exc
    try:
        body = client.get("v3", "catalog", "products", item["product_id"], params={"include": "modifiers"})
        product = (body or {}).get("data") or {}
        variants = all_variants(client, item["product_id"]) if product.get("base_variant_id") is None else []
    except BigCommerceError:
        return exc
    errors = dict(exc.errors)
    chosen = {s["option_id"] for s in item.get("option_selections") or []}
    if variants and "variant_id" not in item:
        choices = []
        for v in variants:
            labels = "/".join(str(o.get("label")) for o in v.get("option_values") or [])
            choices.append(f"{v.get('id')}={labels or v.get('sku')}")
        errors["variant_id"] = "required for this product; choose one of: " + ", ".join(choices)
    missing = [m for m in product.get("modifiers") or [] if m.get("required") and m.get("id") not in chosen]
    if missing:
        parts = []
        for m in missing:
            values = ", ".join(f"{v.get('id')}={v.get('label')}" for v in m.get("option_values") or [])
            parts.append(f"{m.get('id')} {m.get('display_name')!r} ({m.get('type')}" + (f": {values})" if values else ")"))
        errors["option_selections"] = ("required modifiers missing; send [{option_id, option_value}] for: "
                                       + "; ".join(parts))
    return BigCommerceError(exc.status, exc.title, errors) if errors != exc.errors else exc


def _as_selections(client: BigCommerceClient, item: dict[str, Any]) -> dict[str, Any]:
    """For Add Item: a `variant_id` sent with modifier selections becomes option selections (spec's note)."""
    if "variant_id" not in item or "option_selections" not in item:
        return item
    variant = next((v for v in all_variants(client, item["product_id"]) if v.get("id") == item["variant_id"]), None)
    if variant is None:
        return item  # BigCommerce will refuse the unknown variant itself
    taken = {s["option_id"] for s in item["option_selections"]}
    extra = [{"option_id": o["option_id"], "option_value": o["id"]} for o in variant.get("option_values") or []
             if o.get("option_id") not in taken]
    out = {k: v for k, v in item.items() if k != "variant_id"}
    out["option_selections"] = extra + item["option_selections"]
    return out


def create_cart(client: BigCommerceClient, customer_id: int, product_id: int, quantity: int = 1,
                channel_id: int = 1, variant_id: int | None = None,
                option_selections: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A cart with one item for a customer (`POST /v3/carts`); the cart id is also the checkout id.

    `option_selections` (``[{"option_id", "option_value"}]``) chooses the product's modifiers.
    """
    customer_id = params.positive_int("customer_id", customer_id, minimum=0)
    channel_id = params.positive_int("channel_id", channel_id)
    item = _line_item(product_id, quantity, variant_id, option_selections)
    body = {"customer_id": customer_id, "channel_id": channel_id, "line_items": [item]}
    try:
        created = client.request("POST", "v3", "carts", params={"include": CART_INCLUDE}, json=body)
    except BigCommerceError as exc:
        raise _explain(client, exc, item) from None
    return cart_summary((created or {}).get("data") or {})


def get_cart(client: BigCommerceClient, cart_id: str) -> dict[str, Any]:
    """A cart by id (`GET /v3/carts/{id}`); ``found: false`` when missing or already converted."""
    cart_id = params.cart_id("cart_id", cart_id)
    try:
        body = client.get("v3", "carts", cart_id, params={"include": CART_INCLUDE})
    except BigCommerceError as exc:
        if exc.status == 404:
            return {"found": False, "cart_id": cart_id}
        raise
    return cart_summary((body or {}).get("data") or {})


def add_item_to_cart(client: BigCommerceClient, cart_id: str, product_id: int, quantity: int = 1,
                     variant_id: int | None = None,
                     option_selections: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Add a line item to a cart (`POST /v3/carts/{id}/items`); the same variant adds to its quantity.

    `option_selections` (``[{"option_id", "option_value"}]``) chooses the product's modifiers.
    """
    cart_id = params.cart_id("cart_id", cart_id)
    item = _line_item(product_id, quantity, variant_id, option_selections)
    try:
        sent = _as_selections(client, item)
        body = client.request("POST", "v3", "carts", cart_id, "items", params={"include": CART_INCLUDE},
                              json={"line_items": [sent]})
    except BigCommerceError as exc:
        raise _explain(client, exc, item) from None
    return cart_summary((body or {}).get("data") or {})
