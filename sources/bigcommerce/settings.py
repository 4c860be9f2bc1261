"""Constants of the BigCommerce customers source: endpoints, paging, windows, retry limits."""

from __future__ import annotations

DEFAULT_API_BASE_URL = "https://api.bigcommerce.com"
CUSTOMERS_PATH = "/stores/{store_hash}/v3/customers"
TIME_PATH = "/stores/{store_hash}/v2/time"

# Sub-resources are only returned when asked for; without them there are no addresses.
CUSTOMER_INCLUDE = "addresses,storecredit,attributes,formfields"
CUSTOMER_SORT = "date_modified:asc"
PAGE_LIMIT = 250  # the documented maximum page size

# Incremental window: [last window end - lookback, store clock - lag], whole UTC seconds.
DEFAULT_LOOKBACK_SECONDS = 300
DEFAULT_LAG_SECONDS = 60
CURSOR_STATE_KEY = "last_window_end"
# Window and slice bounds go out widened by this many seconds on each side: whether
# `date_modified:min`/`:max` are inclusive is undocumented (see `windows`).
CUSTOMER_BOUND_OVERLAP_SECONDS = 1

# Concurrency: a window (or slice) whose first page reports more than SPLIT_PAGES pages is
# cut into date_modified slices read by up to MAX_WORKERS threads sharing one quota budget.
DEFAULT_MAX_WORKERS = 8
DEFAULT_SPLIT_PAGES = 4
# How often a page-number slice is re-read when the window shifted under it.
PAGE_FALLBACK_REREADS = 3

# HTTP behaviour.
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_MAX_ATTEMPTS = 6  # attempts per request for 5xx / network / malformed bodies
DEFAULT_BACKOFF_BASE = 1.0  # seconds; doubled per attempt, with full jitter
DEFAULT_BACKOFF_MAX = 60.0
DEFAULT_MAX_RATE_LIMIT_WAITS = 20  # 429s (with quota headers) tolerated for one request
USER_AGENT = "bc2people/0.1 (+dlt source bigcommerce)"

# Environment variable / TOML names users see in error messages.
ENV_STORE_HASH = "SOURCES__BIGCOMMERCE__STORE_HASH"
ENV_ACCESS_TOKEN = "SOURCES__BIGCOMMERCE__ACCESS_TOKEN"
ENV_API_BASE_URL = "SOURCES__BIGCOMMERCE__API_BASE_URL"
TOML_SECTION = "[sources.bigcommerce]"

# Top-level customer fields returned with CUSTOMER_INCLUDE, with their staging types. Declared
# up front so a column exists even when every row of the first load holds null, and so that
# reading staging back can tell "absent" from "null".
CUSTOMER_COLUMNS: dict[str, str] = {
    "id": "bigint",
    "email": "text",
    "first_name": "text",
    "last_name": "text",
    "company": "text",
    "phone": "text",
    "registration_ip_address": "text",
    "notes": "text",
    "tax_exempt_category": "text",
    "customer_group_id": "bigint",
    "date_created": "timestamp",
    "date_modified": "timestamp",
    "address_count": "bigint",
    "attribute_count": "bigint",
    "authentication": "json",
    "addresses": "json",
    "attributes": "json",
    "form_fields": "json",
    "store_credit_amounts": "json",
    "accepts_product_review_abandoned_cart_emails": "bool",
    "origin_channel_id": "bigint",
    "channel_ids": "json",
}
DELETED_AT_COLUMN = "_deleted_at"

# -- orders (V2) -----------------------------------------------------------------------------
ORDERS_PATH = "/stores/{store_hash}/v2/orders"
ORDERS_COUNT_PATH = "/stores/{store_hash}/v2/orders/count"
ORDER_PRODUCTS_PATH = "/stores/{store_hash}/v2/orders/{order_id}/products"
ORDER_SORT = "id:asc"  # keyset paging: min_id = last id seen + 1, always page 1
ORDER_LAST_SORT = "id:desc"  # with limit=1: a window's last order id, where its id ranges end
# Window and slice bounds are sent widened by this many seconds on each side: whether the
# V2 date filters are inclusive is undocumented, so neighbouring slices and runs overlap.
ORDER_BOUND_OVERLAP_SECONDS = 1
ORDER_STATUS_IDS = range(0, 15)  # the documented statuses 0..14

# Money stays the API's decimal strings ("123.4500"): SQL casts with TRY_CAST.
ORDER_MONEY_FIELDS: tuple[str, ...] = (
    "subtotal_ex_tax", "subtotal_inc_tax", "subtotal_tax",
    "base_shipping_cost", "shipping_cost_ex_tax", "shipping_cost_inc_tax", "shipping_cost_tax",
    "base_handling_cost", "handling_cost_ex_tax", "handling_cost_inc_tax", "handling_cost_tax",
    "base_wrapping_cost", "wrapping_cost_ex_tax", "wrapping_cost_inc_tax", "wrapping_cost_tax",
    "total_ex_tax", "total_inc_tax", "total_tax", "refunded_amount", "store_credit_amount",
    "gift_certificate_amount", "discount_amount", "coupon_discount",
)
ORDER_TOTAL_FIELDS: tuple[str, ...] = ("total_ex_tax", "total_inc_tax", "subtotal_ex_tax", "subtotal_inc_tax")
ORDER_DATE_FIELDS: tuple[str, ...] = ("date_created", "date_modified", "date_shipped")
ORDER_CURRENCY_FIELDS: tuple[str, ...] = ("currency_code", "default_currency_code", "store_default_currency_code")

ORDER_COLUMNS: dict[str, str] = {
    "id": "bigint",
    "customer_id": "bigint",
    "status_id": "bigint",
    "items_total": "bigint",
    "is_deleted": "bool",
    **{name: "timestamp" for name in ORDER_DATE_FIELDS},
    **{name: "text" for name in ORDER_MONEY_FIELDS},
    **{name: "text" for name in ORDER_CURRENCY_FIELDS},
    "currency_exchange_rate": "text",
    "store_default_to_transactional_exchange_rate": "text",
    # often null on every row of a load: declared so the columns exist all the same
    "credit_card_type": "text",
    "external_id": "text",
    "external_merchant_id": "text",
    "external_source": "text",
    "billing_address": "json",
    "products": "json",
    "shipping_addresses": "json",
    "coupons": "json",
    # objects or lists the spec's order carries and the sandbox does not send: declared, so a
    # page holding them can still go to dlt as an Arrow table (see `order_tables`)
    "fees": "json",
    "consignments": "json",
}
