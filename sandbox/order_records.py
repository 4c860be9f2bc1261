"""The lean order record shared by the generator and the BigCommerce sandbox.

Millions of orders must fit in memory and be built fast, so a stored order is a small dict
and everything derivable is computed when the order is rendered (``GET /v2/orders``):

====================  ===========================================================================
``id``                order id (int)
``customer_id``       0 for a guest
``status_id``         0-14 (see `ORDER_STATUS_NAMES`)
``created``           unix seconds (``date_created``)
``modified``          unix seconds (``date_modified``), never before ``created``
``subtotal``          float, in the transactional currency (the sum of the line totals)
``shipping``          float; the total is ``subtotal + shipping`` (the sandbox charges no tax)
``fx``                index into `FX`: transactional currency and its rate from the store's USD
                      (or ``currency_code`` plus an optional ``rate`` string instead)
``billing``           dict in the checkout shape (``first_name``, ``address1``, ``email``, ...);
                      shared by a customer's generated orders, so copy it before changing it
``lines``             `encode_lines` code of the line items, or ``products``: an explicit list of
                      ``{"product_id", "name", "sku", "price", "quantity", "type"}`` dicts
optional              ``refunded`` (float), ``is_deleted`` (True when archived), ``cart_id``,
                      ``channel_id``, ``payment_method``, ``staff_notes``, ``customer_message``,
                      ``external_id``, ``ip_address``, ``items_total``, ``currency_code``
====================  ===========================================================================
"""

from __future__ import annotations

from typing import Any

STORE_CURRENCY = "USD"
# (currency code, store_default_to_transactional_exchange_rate, currency id)
FX: tuple[tuple[str, str, int], ...] = (
    ("USD", "1.0000000000", 1),
    ("EUR", "0.8500000000", 2), ("EUR", "0.9200000000", 2), ("EUR", "0.9500000000", 2),
    ("GBP", "0.7500000000", 3), ("GBP", "0.7900000000", 3), ("GBP", "0.8200000000", 3),
)
FX_USD = 0
# (product id, name, sku, price in USD, type): the sandbox's sample catalog
PRODUCTS: tuple[tuple[int, str, str, float, str], ...] = (
    (77, "[Sample] Fog Linen Chambray Towel - Beige Stripe", "SLCTBS", 49.0, "physical"),
    (80, "[Sample] Orbit Terrarium - Large", "OTL", 109.0, "physical"),
    (81, "[Sample] Shower Curtain", "SC", 59.0, "physical"),
    (86, "[Sample] Able Brewing System", "ABS", 225.0, "physical"),
    (88, "[Sample] Chemex Coffeemaker 3 Cup", "CC3C", 49.5, "physical"),
    (93, "[Sample] 1 L Le Parfait Jar", "SLLPJ", 7.0, "physical"),
    (97, "[Sample] Tiered Wire Basket", "TWB", 119.95, "physical"),
    (98, "[Sample] Oak Cheese Grater", "OCG", 34.95, "physical"),
    (103, "[Sample] Canvas Laundry Cart", "CLC", 200.0, "physical"),
    (104, "[Sample] Utility Caddy", "OFSUC", 45.95, "physical"),
    (107, "[Sample] Dustpan & Brush", "DPB", 34.95, "physical"),
    (111, "[Sample] Smith Journal 13", "SM13", 25.0, "physical"),
    (112, "[Sample] Laundry Detergent", "CGLD", 29.95, "physical"),
    (113, "[Sample] Field Guide eBook", "FGE", 9.99, "digital"),
)
# unit price in cents per (fx index, product index): the USD price converted at the order's rate
PRICE_CENTS: tuple[tuple[int, ...], ...] = tuple(
    tuple(round(price * float(rate) * 100) for _, _, _, price, _ in PRODUCTS) for _, rate, _ in FX
)
MAX_LINES = 7  # 3 bits of count
_LINE_BITS = 8  # 4 bits product index, 4 bits quantity - 1


def encode_lines(lines: list[tuple[int, int]]) -> int:
    """Pack ``[(product index, quantity 1-16), ...]`` (at most `MAX_LINES`) into one int."""
    if not 1 <= len(lines) <= MAX_LINES:
        raise ValueError(f"an order has 1..{MAX_LINES} lines")
    code = len(lines)
    for j, (pidx, qty) in enumerate(lines):
        if not (0 <= pidx < 16 and 1 <= qty <= 16):
            raise ValueError("product index 0..15 and quantity 1..16")
        code |= (pidx | (qty - 1) << 4) << (3 + _LINE_BITS * j)
    return code


def decode_lines(code: int) -> list[tuple[int, int]]:
    """The ``[(product index, quantity), ...]`` an `encode_lines` code holds."""
    out = []
    for j in range(code & 7):
        v = code >> (3 + _LINE_BITS * j) & 0xFF
        out.append((v & 15, (v >> 4) + 1))
    return out


def line_items(order: dict[str, Any]) -> list[dict[str, Any]]:
    """The order's line items: ``{"product_id", "name", "sku", "price", "quantity", "type"}`` dicts."""
    explicit = order.get("products")
    if explicit is not None:
        return list(explicit)
    cents = PRICE_CENTS[order.get("fx", FX_USD)]
    return [{"product_id": PRODUCTS[p][0], "name": PRODUCTS[p][1], "sku": PRODUCTS[p][2], "price": cents[p] / 100,
             "quantity": q, "type": PRODUCTS[p][4]} for p, q in decode_lines(order.get("lines", 0))]


def items_total(order: dict[str, Any]) -> int:
    """How many units the order holds (the API's ``items_total``)."""
    if "items_total" in order:
        return int(order["items_total"])
    if order.get("products") is not None:
        return sum(int(i["quantity"]) for i in order["products"])
    return sum(q for _, q in decode_lines(order.get("lines", 0)))


CURRENCY_IDS = {"USD": 1, "EUR": 2, "GBP": 3}


def currency(order: dict[str, Any]) -> tuple[str, str, int]:
    """(transactional currency code, rate from the store's default currency, currency id)."""
    if "fx" in order:
        return FX[order["fx"]]
    code = order.get("currency_code", STORE_CURRENCY)
    return code, order.get("rate", "1.0000000000"), CURRENCY_IDS.get(code, 1)


def multi_currency(order: dict[str, Any]) -> bool:
    """Whether the order carries a rate from the store's default currency (`fx` or `rate`)."""
    return "fx" in order or "rate" in order


def total(order: dict[str, Any]) -> float:
    """Grand total in the transactional currency."""
    return round(float(order["subtotal"]) + float(order.get("shipping", 0.0)), 2)
