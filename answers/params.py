"""Checks for function parameters: a bad value raises `InvalidParameter` before anything is sent."""

from __future__ import annotations

import re
import uuid
from typing import Any

from bc2people.answers.errors import InvalidParameter

EMAIL_RE = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
HEX13_RE = re.compile(r"^[0-9a-f]{13}$")
MAX_TEXT = 255


def positive_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """An int >= minimum (bools refused); digit strings are accepted as the same int."""
    if isinstance(value, str) and re.fullmatch(r"\d{1,18}", value.strip()):
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidParameter(name, "must be an integer")
    if value < minimum:
        raise InvalidParameter(name, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise InvalidParameter(name, f"must be at most {maximum}")
    return value


def optional_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int | None:
    return None if value is None or value == "" else positive_int(name, value, minimum=minimum, maximum=maximum)


def text(name: str, value: Any, *, required: bool = True, max_len: int = MAX_TEXT) -> str:
    """A string without control characters; empty only when not required."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidParameter(name, "must be a string")
    value = value.strip()
    if required and not value:
        raise InvalidParameter(name, "is required")
    if len(value) > max_len:
        raise InvalidParameter(name, f"must be at most {max_len} characters")
    if any(ord(c) < 32 for c in value):
        raise InvalidParameter(name, "must not contain control characters")
    return value


def email(name: str, value: Any) -> str:
    value = text(name, value)
    if not EMAIL_RE.match(value):
        raise InvalidParameter(name, "must be one email address")
    return value


def country_code(name: str, value: Any) -> str:
    value = text(name, value).upper()
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise InvalidParameter(name, "must be a two-letter ISO 3166-1 country code")
    return value


def cart_id(name: str, value: Any) -> str:
    """A cart/checkout id: a UUID."""
    value = text(name, value)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidParameter(name, "must be a cart/checkout UUID") from None


def token(name: str, value: Any, *, pattern: str = r"[0-9A-Za-z_-]{1,64}") -> str:
    """An opaque id (consignment or shipping option id): letters, digits, '-' and '_' only."""
    value = text(name, value)
    if not re.fullmatch(pattern, value):
        raise InvalidParameter(name, "is not a valid id")
    return value


def flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no", ""):
        return value.strip().lower() in ("true", "1", "yes")
    raise InvalidParameter(name, "must be true or false")
