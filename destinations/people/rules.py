"""What Infobip People accepts in a v3 upsert person: targets, limits, forbidden characters.

Sources: the People OpenAPI (`UpsertPersonV3DocsSchema`) and the reference notes §4/§7/§15.1.
The engine rejects a record before sending when its output breaks one of these rules, so
People never sees a payload it would answer with a per-item 400100.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

# Characters People forbids in firstName, lastName, middleName and nickName.
FORBIDDEN_NAME_CHARS = frozenset('&<>"/\\\n\r:(){}=;#')
_FORBIDDEN_TABLE = {ord(c): None for c in FORBIDDEN_NAME_CHARS}

# People's custom attribute data types; a mapping may declare every one but LIST_OF_OBJECTS.
DATA_TYPES = ("STRING", "DECIMAL", "INTEGER", "BOOLEAN", "DATE", "DATE_TIME", "LIST_OF_OBJECTS")
CUSTOM_ATTRIBUTE_TYPES = DATA_TYPES[:-1]
CUSTOM_VALUE_MAX = 4096
CUSTOM_NAME_MAX = 256
CUSTOM_NAME_FORBIDDEN = frozenset("{}[]")
INT64_MAX = 9223372036854775807
TAG_MAX = 256
CONTACT_MAX = 255
CONTACTS_PER_TYPE_MAX = 100

# How a DATE_TIME value is written (mapping setting ``defaults.datetime_format``). People's docs
# never state it; Infobip's own Mobile Messaging SDK sends custom DATE_TIME attributes as UTC
# ``yyyy-MM-dd'T'HH:mm:ss'Z'`` (``DateTimeUtil.dateTimeToISO8601UTCString``), while People's own
# timestamps (createdAt/modifiedAt) are shown without a zone. Both are accepted by validation.
DATETIME_FORMATS = {"utc_z": "%Y-%m-%dT%H:%M:%SZ", "utc_naive": "%Y-%m-%dT%H:%M:%S"}
DEFAULT_DATETIME_FORMAT = "utc_z"


@dataclass(frozen=True)
class Target:
    """One writable People field: its kind, maximum length and whether it holds a name."""

    name: str
    kind: str  # "string", "enum", "date", "language", "url", "tags", "email", "phone", "custom"
    max_len: int | None = None
    is_name: bool = False
    multi: bool = False
    enum: tuple[str, ...] = ()


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("externalId", "string", 256),
        Target("type", "enum", enum=("CUSTOMER", "LEAD")),
        Target("firstName", "string", 255, is_name=True),
        Target("middleName", "string", 50, is_name=True),
        Target("lastName", "string", 255, is_name=True),
        Target("nickName", "string", 50, is_name=True),
        Target("gender", "enum", enum=("MALE", "FEMALE")),
        Target("birthDate", "date"),
        Target("preferredLanguage", "language"),
        Target("address", "string", 256),
        Target("city", "string", 50),
        Target("country", "string", 50),
        Target("profilePicture", "url", 2083),
        Target("tags", "tags", TAG_MAX, multi=True),
        Target("email", "email", CONTACT_MAX, multi=True),
        Target("phone", "phone", 50, multi=True),
    )
}
# Order of keys in a canonical payload.
PAYLOAD_ORDER = (
    "externalId", "type", "firstName", "middleName", "lastName", "nickName", "gender", "birthDate",
    "preferredLanguage", "address", "city", "country", "profilePicture",
)
CUSTOM_PREFIX = "customAttributes."

_LANG_RE = re.compile(r"^[A-Za-z]{2}(?:[-_][A-Za-z]{2})?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z?$")
_URL_RE = re.compile(r"^https?://[^\s]+$")


def strip_forbidden(text: str, replacement: str = "") -> str:
    """Remove (or replace) the characters People forbids in name fields."""
    if replacement:
        return "".join(replacement if c in FORBIDDEN_NAME_CHARS else c for c in text)
    return text.translate(_FORBIDDEN_TABLE)


def has_forbidden(text: str) -> bool:
    """True when ``text`` holds a character People forbids in names."""
    return not FORBIDDEN_NAME_CHARS.isdisjoint(text)


# A strict subset of what `email-validator` accepts, checked without it (a property test holds
# every address this accepts valid there too): a dot-atom of letters, digits, `_ + -`; an ASCII
# host name of at least two labels (no label with `--`, so no punycode), a letters-only TLD.
_PLAIN_EMAIL_RE = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_special_use: tuple[frozenset[str], int] | None = None


def _special_use_names() -> tuple[frozenset[str], int]:
    """email-validator's special-use domains (less ``test``: we validate as a test environment)
    and the most labels one of them has."""
    global _special_use
    if _special_use is None:
        from email_validator import SPECIAL_USE_DOMAIN_NAMES

        names = frozenset(d.lower() for d in SPECIAL_USE_DOMAIN_NAMES if d != "test")
        _special_use = (names, max((d.count(".") + 1 for d in names), default=0))
    return _special_use


def is_plain_email(text: str) -> bool:
    """True when ``text`` is a plain address `email-validator` surely accepts (the fast path of
    :func:`is_valid_email`); False means "ask email-validator", not "invalid"."""
    if len(text) > 254 or _PLAIN_EMAIL_RE.fullmatch(text) is None:
        return False
    local, _, domain = text.partition("@")
    if len(local) > 64:
        return False
    return _plain_domain(domain)


@lru_cache(maxsize=65536)  # a store's addresses share a few thousand domains at most
def _plain_domain(domain: str) -> bool:
    """The domain part of `is_plain_email`: not too long, no ``--``, no special-use name."""
    if len(domain) > 253 or "--" in domain:
        return False
    names, depth = _special_use_names()
    labels = domain.lower().split(".")
    return not any(".".join(labels[-n:]) in names for n in range(1, min(depth, len(labels)) + 1))


def is_valid_email(text: str) -> bool:
    """True for an address People accepts: at most 255 ASCII characters that `email-validator` finds
    valid (RFC 5321/5322 syntax, DNS rules for the domain, punycode TLDs like ``xn--p1ai`` included;
    no network lookup). ASCII only: People's contacts are not SMTPUTF8. Plain addresses take a
    fast path with the same answer (:func:`is_plain_email`)."""
    if len(text) > CONTACT_MAX or not text.isascii():
        return False
    return is_plain_email(text) or email_validator_accepts(text)


def email_validator_accepts(text: str) -> bool:
    """`is_valid_email` without the fast path: People's length and ASCII rule, then
    email-validator alone (the definition the fast path is measured and tested against)."""
    if len(text) > CONTACT_MAX or not text.isascii():
        return False
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(text, check_deliverability=False, allow_smtputf8=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


def is_date(text: str) -> bool:
    """True for a real calendar date written ``YYYY-MM-DD``."""
    if not _DATE_RE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def is_datetime(text: str) -> bool:
    """True for UTC ``YYYY-MM-DDTHH:MM:SSZ`` or ``YYYY-MM-DDTHH:MM:SS`` (both `DATETIME_FORMATS`)."""
    if not _DATETIME_RE.match(text):
        return False
    try:
        datetime.fromisoformat(text[:19])
    except ValueError:
        return False
    return True


def check_target_value(target: Target, value: Any) -> str | None:
    """Why People would reject ``value`` for a standard ``target``, or None if it is fine."""
    kind = target.kind
    if not isinstance(value, str):
        return f"must be text, got {type(value).__name__}"
    if target.max_len is not None and len(value) > target.max_len:
        return f"is {len(value)} characters, People allows {target.max_len} (add the truncate transform)"
    if target.is_name and has_forbidden(value):
        bad = "".join(sorted({c for c in value if c in FORBIDDEN_NAME_CHARS}))
        return f"contains characters People forbids in names: {bad!r} (add strip_forbidden)"
    if kind == "enum" and value not in target.enum:
        return f"must be one of {', '.join(target.enum)}"
    if kind == "date" and not is_date(value):
        return "must be a date written YYYY-MM-DD"
    if kind == "language" and not _LANG_RE.match(value):
        return "must be a two-letter ISO code (xx) or BCP-47 language-region (xx-YY)"
    if kind == "url" and not _URL_RE.match(value):
        return "must be an http(s) URL"
    if kind == "email" and not is_valid_email(value):
        return "is not a valid email address"
    if kind == "phone" and not (value.lstrip("+").isdigit() and 7 <= len(value.lstrip("+")) <= 15):
        return "is not an E.164 phone number (add the phone_e164 transform)"
    return None


def check_custom_value(data_type: str, value: Any) -> str | None:
    """Why People would reject ``value`` for a custom attribute of ``data_type``, or None."""
    if data_type == "STRING":
        if not isinstance(value, str):
            return f"must be text for a STRING attribute, got {type(value).__name__}"
        if len(value) > CUSTOM_VALUE_MAX:
            return f"is {len(value)} characters, People allows {CUSTOM_VALUE_MAX} (add the truncate transform)"
        return None
    if data_type == "INTEGER":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be a whole number for an INTEGER attribute, got {type(value).__name__}"
        if abs(value) > INT64_MAX:
            return "is out of People's INTEGER range"
        return None
    if data_type == "DECIMAL":
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return f"must be a number for a DECIMAL attribute, got {type(value).__name__}"
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            return "must be a finite number"
        if abs(float(value)) > INT64_MAX:
            return "is out of People's DECIMAL range"
        return None
    if data_type == "BOOLEAN":
        return None if isinstance(value, bool) else f"must be true/false, got {type(value).__name__}"
    if data_type == "DATE":
        return None if isinstance(value, str) and is_date(value) else "must be a date written YYYY-MM-DD"
    if data_type == "DATE_TIME":
        if isinstance(value, str) and is_datetime(value):
            return None
        return "must be a UTC date-time written YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DDTHH:MM:SS"
    return f"has an unknown data type {data_type}"


def to_decimal(value: Any) -> Decimal | None:
    """A Decimal for a number or numeric text, None when it is not one."""
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None
