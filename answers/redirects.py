"""Get Redirect URLs: links that take a shopper to the store's own cart or checkout page."""

from __future__ import annotations

from typing import Any

from bc2people.answers import params
from bc2people.answers.client import BigCommerceClient
from bc2people.answers.errors import BigCommerceError

SINGLE_USE_NOTE = "Each URL works once; call get_redirect_urls again for fresh ones."


def get_redirect_urls(client: BigCommerceClient, cart_id: str) -> dict[str, Any]:
    """Fresh `cart_url` and `checkout_url` (`POST /v3/carts/{id}/redirect_urls`).

    The URLs are single-use (a visited URL is invalidated) and valid for 30 days; the result
    says so in ``single_use`` and ``note``. A missing or converted cart gives ``found: false``.
    """
    cart_id = params.cart_id("cart_id", cart_id)
    try:
        body = client.request("POST", "v3", "carts", cart_id, "redirect_urls", json={})
    except BigCommerceError as exc:
        if exc.status == 404:
            return {"found": False, "cart_id": cart_id}
        raise
    data = (body or {}).get("data") or {}
    return {"found": True, "cart_id": cart_id, "cart_url": data.get("cart_url"),
            "checkout_url": data.get("checkout_url"), "embedded_checkout_url": data.get("embedded_checkout_url"),
            "single_use": True, "note": SINGLE_USE_NOTE}
