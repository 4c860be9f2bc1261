"""Create a Cart, Get a Cart, Add item to Cart.

Products with options: BigCommerce requires a `variant_id` (422 "This product has
options; variant ID is required"). These functions do not guess a size or colour for the
shopper: they pass the error on with the product's variants listed in `errors`, so the bot
can ask and call again with `variant_id`.
"""

from __future__ import annotations

from typing import Any

from answers import params
from answers.client import BigCommerceClient
from answers.errors import BigCommerceError

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


def _line_item(product_id: Any, quantity: Any, variant_id: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"product_id": params.positive_int("product_id", product_id),
                            "quantity": params.positive_int("quantity", quantity, maximum=100_000)}
    variant = params.optional_int("variant_id", variant_id)
    if variant is not None:
        item["variant_id"] = variant
    return item


def _explain_variants(client: BigCommerceClient, exc: BigCommerceError, item: dict[str, Any]) -> BigCommerceError:
    """Add the product's variants to a 'variant ID is required' error; other errors pass unchanged."""
    if exc.status != 422 or "variant_id" in item or "variant" not in (exc.title + str(exc.errors)).lower():
        return exc
    try:
        body = client.get("v3", "catalog", "products", item["product_id"], "variants")
    except BigCommerceError:
        return exc
    choices = []
    for v in (body or {}).get("data") or []:
        labels = "/".join(str(o.get("label")) for o in v.get("option_values") or [])
        choices.append(f"{v.get('id')}={labels or v.get('sku')}")
    errors = dict(exc.errors, variant_id="required for this product; choose one of: " + ", ".join(choices))
    return BigCommerceError(exc.status, exc.title, errors)


def create_cart(client: BigCommerceClient, customer_id: int, product_id: int, quantity: int = 1,
                channel_id: int = 1, variant_id: int | None = None) -> dict[str, Any]:
    """A cart with one item for a customer (`POST /v3/carts`); the cart id is also the checkout id."""
    customer_id = params.positive_int("customer_id", customer_id, minimum=0)
    channel_id = params.positive_int("channel_id", channel_id)
    item = _line_item(product_id, quantity, variant_id)
    body = {"customer_id": customer_id, "channel_id": channel_id, "line_items": [item]}
    try:
        created = client.request("POST", "v3", "carts", params={"include": CART_INCLUDE}, json=body)
    except BigCommerceError as exc:
        raise _explain_variants(client, exc, item) from None
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
                     variant_id: int | None = None) -> dict[str, Any]:
    """Add a line item to a cart (`POST /v3/carts/{id}/items`); the same variant adds to its quantity."""
    cart_id = params.cart_id("cart_id", cart_id)
    item = _line_item(product_id, quantity, variant_id)
    try:
        body = client.request("POST", "v3", "carts", cart_id, "items", params={"include": CART_INCLUDE},
                              json={"line_items": [item]})
    except BigCommerceError as exc:
        raise _explain_variants(client, exc, item) from None
    return cart_summary((body or {}).get("data") or {})
