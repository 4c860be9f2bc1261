"""People events as the spec describes them: definition bodies and event items, checked.

Spec facts (``/peopleevents/2/definitions``, ``/people/3/events``): a definition id is
alphanumeric, at most 36 characters; a definition has at most 120 fields, names unique
(case-insensitive), each starting with a lower-case letter or ``_`` and at most 128
characters, typed ``String``/``Boolean``/``DateTime``/``Numeric``/``Decimal``/``List``, at most
one ``List`` whose ``schema`` is ``{"type": "Object", "fields": [1..128 scalar fields]}``. An
event item has ``definitionId``, ``identifier {id, type}``, ``occurredTime`` and optional
``eventId`` (1–36 of ``A-Z a-z 0-9 _ -``) and ``properties``.

Sandbox choices where the spec is silent: ``Numeric`` takes whole JSON numbers, ``Decimal``
any JSON number (never a boolean), ``DateTime`` an ISO-8601 text with a time and an offset or
``Z``; a property the definition does not have is a schema error; a missing one is allowed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

FIELD_TYPES = ("String", "Boolean", "DateTime", "Numeric", "Decimal", "List")
SCALAR_TYPES = FIELD_TYPES[:-1]
DEFINITION_ID_RE = re.compile(r"^[a-zA-Z0-9]{1,36}$")
FIELD_NAME_RE = re.compile(r"^[a-z_][a-zA-Z0-9_]{0,127}$")
EVENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
MAX_FIELDS = 120
MAX_LIST_FIELDS = 128
ID_TYPES = (
    "ID", "EXTERNAL_ID", "PHONE", "EMAIL", "LINE", "FACEBOOK", "TELEGRAM", "PUSH", "WEB_PUSH",
    "LIVE_CHAT", "VIBER_BOTS", "INSTAGRAM", "INSTAGRAM_DM", "TWITTER", "APPLE_BUSINESS_CHAT",
    "KAKAO_SANGDAM", "GOOGLE_BUSINESS_MESSAGES", "WHATSAPP", "ZALO_FOLLOWER", "TIKTOK_BM",
)  # fmt: skip
NO_SENDER_TYPES = ("ID", "EXTERNAL_ID", "PHONE", "EMAIL")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$")


def parse_datetime(text: Any) -> datetime | None:
    """An aware UTC datetime from ISO-8601 text with an offset (``...Z``), else None."""
    if not isinstance(text, str) or not _DATETIME_RE.match(text):
        return None
    value = text[:-1] + "+00:00" if text.endswith("Z") else text
    if "." in value:  # Python takes at most 6 fraction digits
        head, _, rest = value.partition(".")
        digits = re.match(r"\d+", rest)
        frac = digits.group(0) if digits else ""
        value = f"{head}.{frac[:6].ljust(6, '0')}{rest[len(frac):]}"
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def check_fields(fields: Any, *, where: str = "fields", nested: bool = False) -> list[dict[str, Any]] | str:
    """The fields of a definition (or of a List schema), or the error text."""
    if fields is None:
        return []
    if not isinstance(fields, list):
        return f"{where} must be an array"
    limit = MAX_LIST_FIELDS if nested else MAX_FIELDS
    if len(fields) > limit:
        return f"{where} must not have more than {limit} fields"
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    lists = 0
    for i, f in enumerate(fields):
        at = f"{where}[{i}]"
        if not isinstance(f, dict):
            return f"{at} must be an object"
        name, ftype = f.get("name"), f.get("type")
        if not isinstance(name, str) or not FIELD_NAME_RE.match(name):
            return f"{at}.name must start with a lower-case letter or _ and hold only letters, digits, _ (≤128)"
        if name.lower() in seen:
            return f"{at}.name {name!r} is not unique (names are case-insensitive)"
        seen.add(name.lower())
        allowed = SCALAR_TYPES if nested else FIELD_TYPES
        if ftype not in allowed:
            return f"{at}.type must be one of {', '.join(allowed)}"
        entry: dict[str, Any] = {"name": name, "type": ftype}
        if ftype == "List":
            lists += 1
            schema = f.get("schema")
            if not isinstance(schema, dict) or schema.get("type") != "Object":
                return f"{at}.schema must be {{\"type\": \"Object\", \"fields\": [...]}} for a List"
            inner = check_fields(schema.get("fields"), where=f"{at}.schema.fields", nested=True)
            if isinstance(inner, str):
                return inner
            if not inner:
                return f"{at}.schema.fields must not be empty"
            entry["schema"] = {"type": "Object", "fields": inner}
        elif f.get("schema") is not None:
            return f"{at}.schema must be null unless the type is List"
        out.append(entry)
    if lists > 1:
        return f"{where}: at most one field may be a List"
    return out


def value_error(value: Any, field: dict[str, Any]) -> str | None:
    """Why ``value`` does not fit the definition field, or None."""
    ftype = field["type"]
    if value is None:
        return None
    if ftype == "String":
        ok = isinstance(value, str)
    elif ftype == "Boolean":
        ok = isinstance(value, bool)
    elif ftype == "Numeric":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif ftype == "Decimal":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif ftype == "DateTime":
        ok = parse_datetime(value) is not None
    else:  # List
        if not isinstance(value, list):
            return f"property {field['name']!r} must be a List of objects"
        inner = {f["name"].lower(): f for f in field["schema"]["fields"]}
        for j, item in enumerate(value):
            if not isinstance(item, dict):
                return f"property {field['name']}[{j}] must be an object"
            for key, v in item.items():
                sub = inner.get(str(key).lower())
                if sub is None:
                    return f"property {field['name']}[{j}].{key} is not in the definition"
                why = value_error(v, sub)
                if why:
                    return why.replace("property ", f"property {field['name']}[{j}].", 1)
        return None
    return None if ok else f"property {field['name']!r} must be {ftype}, got {type(value).__name__} {value!r:.40}"


def item_details(item: Any, max_item_bytes: int, size: int, now: datetime, max_age_days: int) -> list[dict[str, str]]:
    """Field-level problems of one batch item (the spec's 400504 ``details``)."""
    if not isinstance(item, dict):
        return [{"property": "", "message": "Must be an object."}]
    out: list[dict[str, str]] = []
    if size > max_item_bytes:
        out.append({"property": "", "message": f"Item size {size} bytes exceeds {max_item_bytes} bytes."})
    event_id = item.get("eventId")
    if event_id is not None and (not isinstance(event_id, str) or not EVENT_ID_RE.match(event_id)):
        out.append({"property": "eventId",
                    "message": "Must only include letters (A-Z, a-z), digits (0-9), underscores (_), and hyphens (-)."})
    if not isinstance(item.get("definitionId"), str) or not item["definitionId"]:
        out.append({"property": "definitionId", "message": "Must not be empty."})
    ident = item.get("identifier")
    if not isinstance(ident, dict):
        out.append({"property": "identifier", "message": "Must not be null."})
    else:
        if not isinstance(ident.get("id"), str) or not ident["id"]:
            out.append({"property": "identifier.id", "message": "Must not be empty."})
        if ident.get("type") not in ID_TYPES:
            out.append({"property": "identifier.type",
                        "message": f"Must be one of the following types: {', '.join(ID_TYPES)}."})
        elif ident["type"] not in NO_SENDER_TYPES and not ident.get("sender"):
            out.append({"property": "identifier.sender", "message": "Must not be empty for this identifier type."})
    when = parse_datetime(item.get("occurredTime"))
    if when is None:
        out.append({"property": "occurredTime", "message": "Must be a date-time (yyyy-MM-dd'T'HH:mm:ss.SSSZ)."})
    elif (now - when).total_seconds() > max_age_days * 86400:
        out.append({"property": "occurredTime", "message": f"Events older than {max_age_days} days are rejected."})
    props = item.get("properties")
    if props is not None and not isinstance(props, dict):
        out.append({"property": "properties", "message": "Must be an object."})
    return out


def schema_error(item: dict[str, Any], definition: dict[str, Any] | None) -> str | None:
    """Why an item's properties do not match its definition (the spec's 400501), or None."""
    if definition is None:
        return f"definition {item.get('definitionId')!r} does not exist"
    fields = {f["name"].lower(): f for f in definition.get("fields") or ()}
    for key, value in (item.get("properties") or {}).items():
        field = fields.get(str(key).lower())
        if field is None:
            return f"property {key!r} is not in definition {definition['definitionId']!r}"
        why = value_error(value, field)
        if why:
            return why
    return None
