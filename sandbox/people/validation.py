"""Per-person validation for the v3 upsert, following ``UpsertPersonV3DocsSchema``.

`validate_person` turns one raw request item into a normalised person (or a list of
``ErrorDetail`` items). What is accepted, where the spec is silent (sandbox choices):

- Lengths count Unicode code points (JSON Schema semantics), not UTF-16 units.
- Names (first/last/middle/nick) must not contain ``& < > " / \\ : ( ) { } = ; #`` or CR/LF.
- ``externalId`` ``""`` is treated as absent (not matched, not stored, not cleared).
- ``preferredLanguage``: ``xx`` or ``xx-YY`` / ``xx_YY`` (letters, any case).
- ``profilePicture``: an ``http://`` or ``https://`` URL without whitespace, ≤2083.
- ``birthDate`` and DATE attributes: ``YYYY-MM-DD`` and a real calendar date.
- ``contactInformation`` items: ``type`` PHONE|EMAIL (required), ``identifier`` (required,
  ≤255), optional ``sender`` (≤255) and ``primary`` (boolean); other keys are rejected.
  Email: ASCII ``local@domain.tld`` (RFC 5322 dot-atom local part ≤64, domain labels, TLD of
  2+ letters), ≤255. Phone: E.164 digits, an optional leading ``+`` then 7..15 digits, the
  first not 0; stored and matched without the ``+``. ≤100 emails and ≤100 phones per person.
- ``tags``: unique (case-insensitive) non-empty strings ≤256.
- ``customAttributes``: the name must be defined (case-insensitive; stored under the defined
  spelling). ``null`` or ``""`` clears the attribute. STRING: string ≤4096; INTEGER: JSON integer;
  DECIMAL: JSON number; both within ±9223372036854775807; BOOLEAN: true/false; DATE: YYYY-MM-DD;
  DATE_TIME: ``YYYY-MM-DDTHH:MM:SS`` with optional fraction and optional ``Z``/``±HH:MM``;
  LIST_OF_OBJECTS: a list of objects whose keys are in the objectSchema and values typed by it.
- Read-only fields (id, createdAt, modifiedAt, createdFrom, modifiedFrom, createdBy, modifiedBy,
  computedAttributes, origin, integrations) are ignored; any other unknown field is an error.
- A standard field set to ``null`` means "clear it" (PATCH) / "absent" (PUT).
- A person with no externalId, no email and no phone is rejected.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Container, Mapping
from typing import Any, NamedTuple

MAX_INT = 9223372036854775807
NAME_FIELDS = ("firstName", "lastName", "middleName", "nickName")
MAX_LENGTHS = {
    "externalId": 256,
    "firstName": 255,
    "lastName": 255,
    "middleName": 50,
    "nickName": 50,
    "country": 50,
    "city": 50,
    "address": 256,
    "profilePicture": 2083,
    "preferredLanguage": 35,
    "birthDate": 10,
}
ENUMS = {"gender": ("MALE", "FEMALE"), "type": ("CUSTOMER", "LEAD")}
READ_ONLY = frozenset(
    {
        "id",
        "createdAt",
        "modifiedAt",
        "createdFrom",
        "modifiedFrom",
        "createdBy",
        "modifiedBy",
        "computedAttributes",
        "origin",
        "integrations",
    }
)
DATA_TYPES = ("STRING", "DECIMAL", "INTEGER", "BOOLEAN", "DATE", "DATE_TIME", "LIST_OF_OBJECTS")
SCALAR_TYPES = DATA_TYPES[:-1]
MAX_CONTACTS_PER_TYPE = 100
MAX_ATTRIBUTE_CHARS = 4096

FORBIDDEN_NAME_CHARS = re.compile(r'[&<>"/\\\n\r:(){}=;#]')
FORBIDDEN_MESSAGE = 'Must not contain any of & < > " / \\ : ( ) { } = ; # or line breaks'
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
EMAIL_RE = re.compile(
    rf"^(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})$"
)
PHONE_RE = re.compile(r"^\+?([1-9][0-9]{6,14})$")
LANGUAGE_RE = re.compile(r"^[A-Za-z]{2}(?:[-_][A-Za-z]{2})?$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
DATE_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))?$"
)


class AttributeDef(NamedTuple):
    """A custom attribute definition as validation needs it."""

    name: str
    data_type: str
    object_schema: Mapping[str, str] | None = None


def is_valid_email(value: str) -> bool:
    """RFC-style email check (see module docstring)."""
    if len(value) > 255:
        return False
    m = EMAIL_RE.match(value)
    return bool(m) and len(m.group("local")) <= 64  # type: ignore[union-attr]


def normalize_phone(value: str) -> str | None:
    """E.164 digits without '+', or None when invalid."""
    m = PHONE_RE.match(value)
    return m.group(1) if m else None


def is_valid_date(value: str) -> bool:
    """``YYYY-MM-DD`` and a real calendar date."""
    m = DATE_RE.match(value)
    if not m:
        return False
    try:
        _dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return False
    return True


def is_valid_date_time(value: str) -> bool:
    """``YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]`` with real date and time components."""
    m = DATE_TIME_RE.match(value)
    if not m:
        return False
    try:
        _dt.datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]))
    except ValueError:
        return False
    return not (m[7] is not None and (int(m[7]) > 23 or int(m[8]) > 59))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_value(data_type: str, value: Any) -> str | None:
    """None when ``value`` fits the scalar ``data_type``, else the error message."""
    if data_type == "STRING":
        if not isinstance(value, str):
            return "Value must be a string (STRING)"
        if len(value) > MAX_ATTRIBUTE_CHARS:
            return f"Value must be at most {MAX_ATTRIBUTE_CHARS} characters"
        return None
    if data_type == "INTEGER":
        if not _is_int(value):
            return "Value must be a whole number (INTEGER)"
        return None if -MAX_INT <= value <= MAX_INT else "Value is out of bounds"
    if data_type == "DECIMAL":
        if not (_is_int(value) or isinstance(value, float)):
            return "Value must be a number (DECIMAL)"
        if isinstance(value, float) and not math.isfinite(value):
            return "Value must be a finite number"
        return None if -MAX_INT <= value <= MAX_INT else "Value is out of bounds"
    if data_type == "BOOLEAN":
        return None if isinstance(value, bool) else "Value must be true or false (BOOLEAN)"
    if data_type == "DATE":
        ok = isinstance(value, str) and is_valid_date(value)
        return None if ok else "Value must be a date in YYYY-MM-DD format (DATE)"
    if data_type == "DATE_TIME":
        ok = isinstance(value, str) and is_valid_date_time(value)
        return None if ok else "Value must be a date-time like YYYY-MM-DDTHH:MM:SS (DATE_TIME)"
    return f"Unsupported data type {data_type}"


class PersonCheck:
    """Collects the normalised fields and the error details of one person."""

    __slots__ = ("prefix", "details", "out")

    def __init__(self, index: int) -> None:
        self.prefix = f"persons[{index}]"
        self.details: list[dict[str, str]] = []
        self.out: dict[str, Any] = {}

    def fail(self, prop: str, message: str) -> None:
        self.details.append(
            {"property": f"{self.prefix}.{prop}" if prop else self.prefix, "message": message}
        )


def validate_person(
    raw: Any,
    index: int,
    attributes: Mapping[str, AttributeDef],
    known_tags: Container[str] | None = None,
) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """Validate one upsert item; returns (normalised person, []) or (None, details).

    ``attributes`` maps lower-cased names to definitions; ``known_tags`` (lower-cased names)
    is given only when tags must already exist.
    """
    c = PersonCheck(index)
    if not isinstance(raw, dict):
        c.fail("", "Must be an object")
        return None, c.details
    out = c.out
    for key, value in raw.items():
        if key in READ_ONLY:
            continue
        if key in MAX_LENGTHS:
            _check_string_field(c, key, value)
        elif key in ENUMS:
            if value is None:
                out[key] = None
            elif value not in ENUMS[key]:
                c.fail(key, f"Must be one of [{', '.join(ENUMS[key])}]")
            else:
                out[key] = value
        elif key == "contactInformation":
            _check_contacts(c, value)
        elif key == "tags":
            _check_tags(c, value, known_tags)
        elif key == "customAttributes":
            _check_attributes(c, value, attributes)
        else:
            c.fail(key, "Unknown property")
    if not c.details and not (out.get("externalId") or out.get("contactInformation")):
        c.fail("", "Person must have at least one identifier: externalId, an email or a phone")
    if c.details:
        return None, c.details
    return out, []


def _check_string_field(c: PersonCheck, key: str, value: Any) -> None:
    if value is None:
        if key != "externalId":
            c.out[key] = None
        return
    if not isinstance(value, str):
        c.fail(key, "Must be a string")
        return
    if len(value) > MAX_LENGTHS[key]:
        c.fail(key, f"Size must be between 0 and {MAX_LENGTHS[key]}")
        return
    if key in NAME_FIELDS and FORBIDDEN_NAME_CHARS.search(value):
        c.fail(key, FORBIDDEN_MESSAGE)
        return
    if key == "birthDate" and not is_valid_date(value):
        c.fail(key, "Must be a date in YYYY-MM-DD format")
        return
    if key == "preferredLanguage" and not LANGUAGE_RE.match(value):
        c.fail(key, "Must be a two-letter ISO code (xx) or BCP-47 language-region (xx-YY)")
        return
    if key == "profilePicture" and value and not URL_RE.match(value):
        c.fail(key, "Must be a valid http(s) URL")
        return
    if key == "externalId" and value == "":
        return
    c.out[key] = value


def _check_contacts(c: PersonCheck, value: Any) -> None:
    if value is None:
        c.out["contactInformation"] = None
        return
    if not isinstance(value, list):
        c.fail("contactInformation", "Must be an array")
        return
    contacts: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    emails = phones = 0
    for j, item in enumerate(value):
        base = f"contactInformation[{j}]"
        if not isinstance(item, dict):
            c.fail(base, "Must be an object")
            continue
        bad = [k for k in item if k not in ("type", "identifier", "sender", "primary")]
        for k in bad:
            c.fail(f"{base}.{k}", "Unknown property")
        ctype, ident = item.get("type"), item.get("identifier")
        if ctype is None:
            c.fail(f"{base}.type", "Must not be null")
        elif ctype not in ("PHONE", "EMAIL"):
            c.fail(f"{base}.type", "Must be one of [PHONE, EMAIL]")
        if ident is None:
            c.fail(f"{base}.identifier", "Must not be null")
            continue
        if not isinstance(ident, str):
            c.fail(f"{base}.identifier", "Must be a string")
            continue
        sender, primary = item.get("sender"), item.get("primary")
        if sender is not None and (not isinstance(sender, str) or len(sender) > 255):
            c.fail(f"{base}.sender", "Must be a string of at most 255 characters")
        if primary is not None and not isinstance(primary, bool):
            c.fail(f"{base}.primary", "Must be a boolean")
        if ctype == "EMAIL":
            if not is_valid_email(ident):
                c.fail(f"{base}.identifier", "Email address is invalid")
                continue
            key = ("EMAIL", ident.lower())
            emails += 1
        elif ctype == "PHONE":
            number = normalize_phone(ident)
            if number is None:
                c.fail(f"{base}.identifier", "Phone number is invalid")
                continue
            ident = number
            key = ("PHONE", number)
            phones += 1
        else:
            continue
        if key in seen:
            continue
        seen.add(key)
        entry: dict[str, Any] = {"type": ctype, "identifier": ident}
        if isinstance(primary, bool):
            entry["primary"] = primary
        contacts.append(entry)
    if emails > MAX_CONTACTS_PER_TYPE:
        c.fail("contactInformation", f"At most {MAX_CONTACTS_PER_TYPE} email addresses per person")
    if phones > MAX_CONTACTS_PER_TYPE:
        c.fail("contactInformation", f"At most {MAX_CONTACTS_PER_TYPE} phone numbers per person")
    c.out["contactInformation"] = contacts


def _check_tags(c: PersonCheck, value: Any, known_tags: Container[str] | None) -> None:
    if value is None:
        c.out["tags"] = None
        return
    if not isinstance(value, list):
        c.fail("tags", "Must be an array")
        return
    seen: set[str] = set()
    tags: list[str] = []
    for j, tag in enumerate(value):
        if not isinstance(tag, str) or not tag.strip() or len(tag) > 256:
            c.fail(f"tags[{j}]", "Must be a non-empty string of at most 256 characters")
            continue
        low = tag.lower()
        if low in seen:
            c.fail(f"tags[{j}]", "Tags must be unique")
            continue
        if known_tags is not None and low not in known_tags:
            c.fail(f"tags[{j}]", f"Tag '{tag}' does not exist")
            continue
        seen.add(low)
        tags.append(tag)
    c.out["tags"] = tags


def _check_attributes(c: PersonCheck, value: Any, attributes: Mapping[str, AttributeDef]) -> None:
    if value is None:
        c.out["customAttributes"] = None
        return
    if not isinstance(value, dict):
        c.fail("customAttributes", "Must be an object")
        return
    attrs: dict[str, Any] = {}
    for name, val in value.items():
        prop = f"customAttributes.{name}"
        definition = attributes.get(name.lower())
        if definition is None:
            c.fail(prop, f"Custom attribute '{name}' is not defined")
            continue
        if val is None or val == "":
            attrs[definition.name] = None
            continue
        if definition.data_type == "LIST_OF_OBJECTS":
            message = _check_list(val, definition.object_schema or {})
        else:
            message = check_value(definition.data_type, val)
        if message:
            c.fail(prop, message)
            continue
        attrs[definition.name] = val
    c.out["customAttributes"] = attrs


def _check_list(value: Any, schema: Mapping[str, str]) -> str | None:
    if not isinstance(value, list):
        return "Value must be a list of objects (LIST_OF_OBJECTS)"
    lowered = {k.lower(): t for k, t in schema.items()}
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            return f"Item {i} must be an object"
        for k, v in item.items():
            t = lowered.get(k.lower())
            if t is None:
                return f"Item {i}: field '{k}' is not in the attribute's objectSchema"
            if v is None:
                continue
            message = check_value(t, v)
            if message:
                return f"Item {i}: field '{k}': {message}"
    return None
