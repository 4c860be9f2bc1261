"""People events: definitions provisioning, checks before sending, and ``POST /people/3/events``.

Facts from the People document that shape this module:

- a definition (``/peopleevents/2/definitions``) has an alphanumeric id of at most 36
  characters and at most 120 typed fields (``String``, ``Boolean``, ``DateTime``, ``Numeric``,
  ``Decimal``, ``List`` of objects); fields can be added but never removed or retyped, so a
  mapping that types a field differently from People is a configuration error (exit 2);
- a batch holds at most 5,000 events, each at most 512,000 bytes, at most 15,728,640 bytes in
  all; People answers 202; one invalid event fails the whole batch (400); events older than
  30 days are refused; an unknown EXTERNAL_ID/EMAIL/PHONE identifier creates a CUSTOMER;
- an ``eventId`` (1–36 of ``A-Z a-z 0-9 _ -``) makes a re-sent event count once.

Requests go through `PeopleClient.request` (operation ``events`` / ``event_definitions``:
their own 5 requests/s limiters, 429/5xx retried there, 401/403 raised as `PeopleAuthError`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from bc2people.destinations.people.client import PeopleClient, _json, error_text
from bc2people.destinations.people.errors import PeopleRequestError, ProvisioningError

MAX_EVENTS = 5000
MAX_ITEM_BYTES = 512_000
MAX_BATCH_BYTES = 15_728_640
MAX_AGE = timedelta(days=30)
MAX_FIELDS = 120
FIELD_TYPES = ("String", "Boolean", "DateTime", "Numeric", "Decimal", "List")
DEFINITION_ID_RE = re.compile(r"^[a-zA-Z0-9]{1,36}$")
FIELD_NAME_RE = re.compile(r"^[a-z_][a-zA-Z0-9_]{0,127}$")
EVENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$")


@dataclass(frozen=True)
class EventDefinition:
    """A definition as the mapping declares it: field name -> type; ``List`` fields carry their
    object schema (field name -> scalar type) in ``list_fields``."""

    definition_id: str
    title: str
    fields: dict[str, str]
    list_fields: dict[str, dict[str, str]] = field(default_factory=dict)
    description: str | None = None

    def body(self) -> dict[str, Any]:
        """The create/update request body."""
        out: list[dict[str, Any]] = []
        for name, ftype in self.fields.items():
            entry: dict[str, Any] = {"name": name, "type": ftype}
            if ftype == "List":
                entry["schema"] = {"type": "Object", "fields": [
                    {"name": n, "type": t} for n, t in self.list_fields.get(name, {}).items()]}
            out.append(entry)
        return {"definitionId": self.definition_id, "title": self.title, "description": self.description,
                "fields": out}


@dataclass(frozen=True)
class BatchAnswer:
    """What People said about one batch: accepted (202), or refused with the offending items by
    index (``offenders``) and/or a reason that names no item (``general``)."""

    accepted: bool
    offenders: dict[int, str] = field(default_factory=dict)
    general: str | None = None


@dataclass
class EventProvisioning:
    """What provisioning found: definitions as People holds them now (lower-cased id ->
    definition body), the ones created or extended, and the ones missing on purpose."""

    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


# -- requests ---------------------------------------------------------------------------------
def send_event_batch(client: PeopleClient, items_json: Sequence[str]) -> BatchAnswer:
    """POST already-encoded event items as one batch; 202 is accepted, 400 is read per item."""
    if not items_json:
        return BatchAnswer(True)
    raw = ("[" + ",".join(items_json) + "]").encode("utf-8")
    resp = client.request("events", "POST", "/people/3/events", raw=raw)
    if resp.status_code in (200, 201, 202, 204):
        return BatchAnswer(True)
    body = _json(resp)
    if resp.status_code in (400, 413, 422):
        offenders: dict[int, str] = {}
        general: list[str] = []
        errors = body.get("errors") if isinstance(body, dict) else None
        for err in errors or []:
            if not isinstance(err, dict):
                continue
            code, message = error_text(err)
            text = f"{code} {message}".strip() if code else message
            idx = err.get("index")
            if isinstance(idx, int) and 0 <= idx < len(items_json):
                offenders[idx] = (offenders[idx] + "; " if idx in offenders else "") + text
            else:
                general.append(text)
        if not errors:
            code, message = error_text(body)
            general.append(f"HTTP {resp.status_code} {code or ''} {message}".strip())
        return BatchAnswer(False, offenders, "; ".join(general) or None)
    code, message = error_text(body)
    raise PeopleRequestError(f"People refused the events batch: HTTP {resp.status_code} {code or ''} {message}".strip(),
                             status=resp.status_code, code=code)


def list_event_definitions(client: PeopleClient, page_size: int = 1000) -> dict[str, dict[str, Any]]:
    """Every event definition People holds: lower-cased id -> definition."""
    found: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        resp = client.request("event_definitions", "GET", "/peopleevents/2/definitions",
                              params={"offset": str(offset), "limit": str(page_size)})
        _raise(resp, "list event definitions")
        body = _json(resp)
        items = body if isinstance(body, list) else (body or {}).get("definitions", []) if isinstance(body, dict) else []
        for item in items:
            if isinstance(item, dict) and item.get("definitionId"):
                found[str(item["definitionId"]).lower()] = item
        if len(items) < page_size:
            return found
        offset += len(items)


def create_event_definition(client: PeopleClient, definition: EventDefinition) -> dict[str, Any] | None:
    """Create a definition; None when People says it exists already."""
    resp = client.request("event_definitions", "POST", "/peopleevents/2/definitions", body=definition.body())
    if resp.status_code == 400 and "already exists" in error_text(_json(resp))[1].lower():
        return None
    _raise(resp, f"create event definition {definition.definition_id!r}")
    body = _json(resp)
    return body if isinstance(body, dict) else definition.body()


def update_event_definition(client: PeopleClient, definition: EventDefinition) -> dict[str, Any]:
    """Add the definition's missing fields (People's update is additive only)."""
    body = {k: v for k, v in definition.body().items() if k != "definitionId"}
    resp = client.request("event_definitions", "POST",
                          f"/peopleevents/2/definitions/{quote(definition.definition_id, safe='')}", body=body)
    _raise(resp, f"update event definition {definition.definition_id!r}")
    out = _json(resp)
    return out if isinstance(out, dict) else definition.body()


def _raise(resp: Any, what: str) -> None:
    if resp.status_code < 300:
        return
    code, message = error_text(_json(resp))
    raise PeopleRequestError(f"People could not {what}: HTTP {resp.status_code} {code or ''} {message}".strip(),
                             status=resp.status_code, code=code)


# -- provisioning -----------------------------------------------------------------------------
def type_conflicts(wanted: EventDefinition, held: dict[str, Any]) -> list[str]:
    """Fields the mapping types differently from the definition People holds (both types named)."""
    have = {str(f.get("name", "")).lower(): f for f in held.get("fields") or () if isinstance(f, dict)}
    out = []
    for name, ftype in wanted.fields.items():
        f = have.get(name.lower())
        if f is None:
            continue
        if f.get("type") != ftype:
            out.append(f"event {wanted.definition_id} field {name!r} is {ftype} in the mapping but {f.get('type')} "
                       "in People (People never changes a field's type; rename the field or change the mapping)")
        elif ftype == "List":
            inner = {str(x.get("name", "")).lower(): x.get("type") for x in (f.get("schema") or {}).get("fields") or ()}
            for sub, stype in wanted.list_fields.get(name, {}).items():
                if sub.lower() in inner and inner[sub.lower()] != stype:
                    out.append(f"event {wanted.definition_id} field {name}.{sub} is {stype} in the mapping but "
                               f"{inner[sub.lower()]} in People")
    return out


def provision_event_definitions(
    client: PeopleClient, wanted: Iterable[EventDefinition], *, do_not_create: Iterable[str] = ()
) -> EventProvisioning:
    """Create missing definitions and add missing fields; a type conflict raises
    `ProvisioningError` (exit 2) before anything is changed. Ids in ``do_not_create`` that
    People no longer holds are reported in ``missing`` instead of being created again."""
    wanted = list(wanted)
    report = EventProvisioning(definitions=list_event_definitions(client))
    conflicts = [c for w in wanted if w.definition_id.lower() in report.definitions
                 for c in type_conflicts(w, report.definitions[w.definition_id.lower()])]
    if conflicts:
        raise ProvisioningError("; ".join(conflicts))
    keep_missing = {d.lower() for d in do_not_create}
    for w in wanted:
        key = w.definition_id.lower()
        held = report.definitions.get(key)
        if held is None:
            if key in keep_missing:
                report.missing.append(w.definition_id)
                continue
            created = create_event_definition(client, w)
            if created is None:  # created meanwhile: read it and check it like any other
                report.definitions.update(list_event_definitions(client))
                held = report.definitions.get(key)
                if held is not None and type_conflicts(w, held):
                    raise ProvisioningError("; ".join(type_conflicts(w, held)))
            else:
                report.definitions[key] = created
                report.created.append(w.definition_id)
                continue
        if held is not None:
            names = {str(f.get("name", "")).lower() for f in held.get("fields") or () if isinstance(f, dict)}
            if any(n.lower() not in names for n in w.fields):
                report.definitions[key] = update_event_definition(client, w)
                report.extended.append(w.definition_id)
    return report


# -- checks before sending --------------------------------------------------------------------
def is_datetime(text: Any) -> bool:
    """ISO-8601 date-time text with an offset or ``Z`` (what ``DateTime`` fields hold)."""
    return isinstance(text, str) and bool(_DATETIME_RE.match(text))


def occurred_time(when: datetime) -> str:
    """People's ``occurredTime`` format, ``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` (UTC)."""
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


_SCALAR_CHECKS: dict[str, Callable[[Any], bool]] = {
    "String": lambda v: isinstance(v, str),
    "Boolean": lambda v: isinstance(v, bool),
    "Numeric": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Decimal": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "DateTime": is_datetime,
}


def value_problem(name: str, value: Any, ftype: str, list_schema: dict[str, str] | None = None) -> str | None:
    """Why ``value`` cannot go into a field of type ``ftype`` (None when it can, or is null)."""
    if value is None:
        return None
    ok = _SCALAR_CHECKS.get(ftype)
    if ok is not None:
        return None if ok(value) else f"property {name!r} must be {ftype}, got {type(value).__name__} {value!r:.40}"
    if ftype != "List":
        return f"property {name!r} has a type People does not know: {ftype}"
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        return f"property {name!r} must be a List of objects"
    schema = {k.lower(): (k, t) for k, t in (list_schema or {}).items()}
    for j, item in enumerate(value):
        for key, v in item.items():
            if str(key).lower() not in schema:
                return f"property {name}[{j}].{key} is not in the definition"
            sub_name, sub_type = schema[str(key).lower()]
            why = value_problem(f"{name}[{j}].{sub_name}", v, sub_type)
            if why:
                return why
    return None


def definition_checker(held: dict[str, Any] | None, definition_id: str) -> Callable[[dict[str, Any]], str | None]:
    """A function giving why an event's properties do not fit the definition People holds
    (None when they do); the definition is read once, here."""
    if held is None:
        missing = f"event definition {definition_id!r} does not exist in People"
        return lambda properties: missing
    fields: dict[str, tuple[str, str, dict[str, str]]] = {}
    for f in held.get("fields") or ():
        if isinstance(f, dict):
            inner = {str(x.get("name")): str(x.get("type")) for x in (f.get("schema") or {}).get("fields") or ()}
            fields[str(f.get("name", "")).lower()] = (str(f.get("name")), str(f.get("type")), inner)

    def check(properties: dict[str, Any]) -> str | None:
        for key, value in properties.items():
            f = fields.get(key.lower())
            if f is None:
                return f"property {key!r} is not in People's definition {definition_id!r}"
            why = value_problem(key, value, f[1], f[2])
            if why:
                return why
        return None

    if any(f[1] in ("DateTime", "List") for f in fields.values()):
        return check  # values, not only their types, decide
    seen: dict[tuple[tuple[str, type], ...], str | None] = {}

    def check_by_types(properties: dict[str, Any]) -> str | None:
        """For scalar-only definitions the keys and JSON types decide: one check per shape."""
        shape = tuple((k, type(v)) for k, v in properties.items())
        if shape not in seen:
            seen[shape] = check(properties)
        why = seen[shape]
        return None if why is None else check(properties)  # the message names this event's value

    return check_by_types


def definition_problem(properties: dict[str, Any], held: dict[str, Any] | None, definition_id: str) -> str | None:
    """Why an event's properties do not fit the definition People holds (None when they do)."""
    return definition_checker(held, definition_id)(properties)


def item_bytes(item_json: str) -> int:
    """The size People counts against the 512,000-byte item limit (UTF-8 of compact JSON)."""
    return len(item_json.encode("utf-8"))


def encode(item: dict[str, Any]) -> str:
    """One event item as compact JSON."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
