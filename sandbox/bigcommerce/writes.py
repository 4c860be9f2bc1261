"""Creating and updating customers: validation per ``customer_Post``/``customer_Put`` and the
full objects the store keeps. Shared by the HTTP routes and the Python controls.

Choices where the spec is silent: unknown fields are ignored; ``new_password`` and
``trigger_account_created_notification`` are write-only and never stored; a PUT ignores the
read-only fields (``registration_ip_address``, ``date_created``, ``date_modified``,
``origin_channel_id``) and the sub-resources it does not support (``addresses``,
``attributes``), but replaces ``form_fields`` by name; emails are unique case-insensitively.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

MAX_BATCH = 10
COUNTRIES = {
    "US": "United States", "GB": "United Kingdom", "DE": "Germany", "FR": "France", "BR": "Brazil",
    "IN": "India", "CA": "Canada", "AU": "Australia", "ES": "Spain", "IT": "Italy", "NL": "Netherlands",
    "MX": "Mexico", "JP": "Japan", "CN": "China", "HR": "Croatia", "PL": "Poland", "SE": "Sweden",
    "IL": "Israel", "EG": "Egypt", "TR": "Turkey", "VN": "Vietnam", "RU": "Russia", "GR": "Greece",
}
READ_ONLY = ("id", "registration_ip_address", "date_created", "date_modified", "origin_channel_id")


class CustomerError(ValueError):
    """A write the API would refuse: ``status`` (413/422), ``title`` and per-field ``errors``."""

    def __init__(self, status: int, title: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(title + ("" if not errors else ": " + "; ".join(f"{k}: {v}" for k, v in errors.items())))
        self.status = status
        self.title = title
        self.errors = errors or {}


def _str(errors: dict[str, str], key: str, value: Any, lo: int, hi: int | None) -> None:
    if not isinstance(value, str):
        errors[key] = "must be a string"
    elif len(value) < lo or (hi is not None and len(value) > hi):
        errors[key] = f"length must be between {lo} and {hi}" if hi else f"length must be at least {lo}"


def _int(errors: dict[str, str], key: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        errors[key] = "must be an integer"


def _bool(errors: dict[str, str], key: str, value: Any) -> None:
    if not isinstance(value, bool):
        errors[key] = "must be a boolean"


def _form_fields(errors: dict[str, str], key: str, value: Any) -> None:
    if not isinstance(value, list):
        errors[key] = "must be an array"
        return
    for i, f in enumerate(value):
        ok = isinstance(f, dict) and isinstance(f.get("name"), str) and "value" in f
        v = f.get("value") if isinstance(f, dict) else None
        ok = ok and (
            isinstance(v, str)
            or (isinstance(v, int | float) and not isinstance(v, bool))
            or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        )
        if not ok:
            errors[f"{key}[{i}]"] = "must be {name: string, value: string | number | string[]}"


def _common(errors: dict[str, str], p: str, item: dict[str, Any]) -> None:
    """Checks shared by POST and PUT for the fields present in ``item``."""
    checks: dict[str, tuple[int, int | None]] = {
        "first_name": (1, 100), "last_name": (1, 100), "company": (0, 255), "phone": (0, 50),
        "notes": (0, None), "tax_exempt_category": (0, 255),
    }
    for f, (lo, hi) in checks.items():
        if f in item:
            _str(errors, p + f, item[f], lo, hi)
    if "customer_group_id" in item:
        _int(errors, p + "customer_group_id", item["customer_group_id"])
    if "accepts_product_review_abandoned_cart_emails" in item:
        _bool(errors, p + "accepts_product_review_abandoned_cart_emails",
              item["accepts_product_review_abandoned_cart_emails"])
    if "authentication" in item:
        a = item["authentication"]
        if not isinstance(a, dict) or ("force_password_reset" in a and not isinstance(a["force_password_reset"], bool)):
            errors[p + "authentication"] = "must be {force_password_reset: boolean, new_password?: string}"
    if "store_credit_amounts" in item:
        sc = item["store_credit_amounts"]
        if not isinstance(sc, list) or not all(
            isinstance(x, dict) and isinstance(x.get("amount"), int | float) and not isinstance(x.get("amount"), bool)
            for x in sc
        ):
            errors[p + "store_credit_amounts"] = "must be an array of {amount: number}"
    if "channel_ids" in item:
        ch = item["channel_ids"]
        if ch is not None and (
            not isinstance(ch, list) or not ch or not all(isinstance(x, int) and not isinstance(x, bool) for x in ch)
        ):
            errors[p + "channel_ids"] = "must be null or a non-empty array of integers"
    if "form_fields" in item:
        _form_fields(errors, p + "form_fields", item["form_fields"])


def _check_batch(items: Any, title: str) -> None:
    """The checks every write batch shares: an array of 1..MAX_BATCH items."""
    if not isinstance(items, list):
        raise CustomerError(422, "The request body must be an array of customers.", {"body": "must be an array"})
    if len(items) > MAX_BATCH:
        raise CustomerError(413, "The request payload is too large. The maximum number of items allowed in the array is 10.")
    if not items:
        raise CustomerError(422, title, {"body": "must contain at least one customer"})


def validate_post(items: Any) -> None:
    """Raise CustomerError unless ``items`` is a valid ``POST /v3/customers`` body."""
    _check_batch(items, "Create customers failed.")
    errors: dict[str, str] = {}
    for i, item in enumerate(items):
        p = f"{i}."
        if not isinstance(item, dict):
            errors[str(i)] = "must be an object"
            continue
        for f in ("email", "first_name", "last_name"):
            if f not in item or item[f] is None:
                errors[p + f] = "is required"
        if item.get("email") is not None:
            _str(errors, p + "email", item["email"], 3, 250)
            if isinstance(item["email"], str) and "@" not in item["email"]:
                errors[p + "email"] = "is not a valid email address"
        _common(errors, p, item)
        if "addresses" in item:
            _addresses(errors, p + "addresses", item["addresses"])
        if "attributes" in item:
            _attributes(errors, p + "attributes", item["attributes"])
    if errors:
        raise CustomerError(422, "Create customers failed.", errors)


def validate_put(items: Any) -> None:
    """Raise CustomerError unless ``items`` is a valid ``PUT /v3/customers`` body."""
    _check_batch(items, "Update customers failed.")
    errors: dict[str, str] = {}
    for i, item in enumerate(items):
        p = f"{i}."
        if not isinstance(item, dict):
            errors[str(i)] = "must be an object"
            continue
        if "id" not in item:
            errors[p + "id"] = "is required"
        else:
            _int(errors, p + "id", item["id"])
        if "email" in item:
            _str(errors, p + "email", item["email"], 3, 255)
            if isinstance(item["email"], str) and "@" not in item["email"]:
                errors[p + "email"] = "is not a valid email address"
        _common(errors, p, item)
    if errors:
        raise CustomerError(422, "Update customers failed.", errors)


def _addresses(errors: dict[str, str], key: str, value: Any) -> None:
    if not isinstance(value, list):
        errors[key] = "must be an array"
        return
    if len(value) > 10:
        errors[key] = "at most 10 addresses"
    for i, a in enumerate(value):
        k = f"{key}[{i}]"
        if not isinstance(a, dict):
            errors[k] = "must be an object"
            continue
        for f in ("first_name", "last_name", "address1", "city", "country_code"):
            if not isinstance(a.get(f), str) or not a.get(f):
                errors[f"{k}.{f}"] = "is required"
        cc = a.get("country_code")
        if isinstance(cc, str) and len(cc) != 2:
            errors[f"{k}.country_code"] = "must be 2 characters"
        if "address_type" in a and a["address_type"] not in ("residential", "commercial"):
            errors[f"{k}.address_type"] = "must be residential or commercial"
        if "form_fields" in a:
            _form_fields(errors, f"{k}.form_fields", a["form_fields"])


def _attributes(errors: dict[str, str], key: str, value: Any) -> None:
    if not isinstance(value, list):
        errors[key] = "must be an array"
        return
    if len(value) > 10:
        errors[key] = "at most 10 attributes"
    for i, a in enumerate(value):
        if not (isinstance(a, dict) and isinstance(a.get("attribute_id"), int) and isinstance(a.get("attribute_value"), str)):
            errors[f"{key}[{i}]"] = "must be {attribute_id: integer, attribute_value: string}"


def new_customer(item: dict[str, Any], customer_id: int, now_iso: str, rng_uuid: str) -> dict[str, Any]:
    """The full stored object for a validated ``customer_Post`` item."""
    addresses = []
    for k, a in enumerate(item.get("addresses") or []):
        cc = a["country_code"].upper()
        addresses.append({
            "id": customer_id * 10 + k, "customer_id": customer_id,
            "first_name": a["first_name"], "last_name": a["last_name"], "company": a.get("company", ""),
            "address1": a["address1"], "address2": a.get("address2", ""), "city": a["city"],
            "state_or_province": a.get("state_or_province", ""), "postal_code": a.get("postal_code", ""),
            "country_code": cc, "country": COUNTRIES.get(cc, cc), "phone": a.get("phone", ""),
            "address_type": a.get("address_type", "residential"),
            "form_fields": copy.deepcopy(a.get("form_fields", [])),
        })
    attributes = [
        {"id": customer_id * 10 + k, "attribute_id": a["attribute_id"], "attribute_value": a["attribute_value"],
         "customer_id": customer_id, "date_created": now_iso, "date_modified": now_iso}
        for k, a in enumerate(item.get("attributes") or [])
    ]
    auth = item.get("authentication") or {}
    return {
        "id": customer_id,
        "email": item["email"],
        "first_name": item["first_name"],
        "last_name": item["last_name"],
        "company": item.get("company", ""),
        "phone": item.get("phone", ""),
        "registration_ip_address": "",
        "notes": item.get("notes", ""),
        "tax_exempt_category": item.get("tax_exempt_category", ""),
        "customer_group_id": item.get("customer_group_id", 0),
        "date_created": now_iso,
        "date_modified": now_iso,
        "authentication": {"force_password_reset": bool(auth.get("force_password_reset", False))},
        "accepts_product_review_abandoned_cart_emails": item.get("accepts_product_review_abandoned_cart_emails", False),
        "origin_channel_id": item.get("origin_channel_id", 1),
        "channel_ids": copy.deepcopy(item.get("channel_ids")),
        "addresses": addresses,
        "attributes": attributes,
        "form_fields": [
            {"name": f["name"], "value": copy.deepcopy(f["value"]), "customer_id": customer_id}
            for f in item.get("form_fields") or []
        ],
        "store_credit_amounts": copy.deepcopy(item.get("store_credit_amounts") or [{"amount": 0}]),
        "shopper_profile_id": rng_uuid,
        "segment_ids": [],
    }


UPDATABLE = (
    "email", "first_name", "last_name", "company", "phone", "notes", "tax_exempt_category",
    "customer_group_id", "accepts_product_review_abandoned_cart_emails", "store_credit_amounts", "channel_ids",
)


def updated_customer(existing: dict[str, Any], item: dict[str, Any], now_iso: str | None) -> dict[str, Any]:
    """A new object: ``existing`` with a validated ``customer_Put`` item applied.

    ``now_iso`` becomes ``date_modified`` (None leaves it as it was).
    """
    new = copy.deepcopy(existing)
    for f in UPDATABLE:
        if f in item:
            new[f] = copy.deepcopy(item[f])
    if isinstance(item.get("authentication"), dict) and "force_password_reset" in item["authentication"]:
        new["authentication"] = {"force_password_reset": item["authentication"]["force_password_reset"]}
    if "form_fields" in item:
        by_name = {f.get("name"): f for f in new.get("form_fields") or []}
        for f in item["form_fields"]:
            by_name[f["name"]] = {"name": f["name"], "value": copy.deepcopy(f["value"]), "customer_id": new["id"]}
        new["form_fields"] = list(by_name.values())
    if now_iso is not None:
        new["date_modified"] = now_iso
    return new


def new_uuid(rng: Any) -> str:
    """A UUID4 string drawn from ``rng`` (a ``random.Random``), so runs are reproducible."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
