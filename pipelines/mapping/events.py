"""The mapping's ``events`` section: which commerce changes become which People events.

```yaml
events:
  create_persons: false        # true: send events even for persons People never accepted
  definitions:
    - name: OrderPlaced        # the People event definition id (letters and digits, ≤ 36)
      title: Order placed      # optional (default: the name)
      trigger: order_placed    # the change it fires on (`TRIGGERS`; not `on:`, YAML reads that as true)
      properties:              # property name: {type, from: JSONPath}; ≤ 120 per event
        total: {type: Decimal, from: $.total_inc_tax}
        lineItems:             # one List per event: a JSONPath to many objects, and their fields
          type: List
          from: $.line_items[*]
          properties:
            quantity: {type: Numeric, from: $.quantity}
```

What ``$`` is: for the order triggers, the order as staged (API shape; dates as
``YYYY-MM-DDTHH:MM:SSZ``), with ``$.line_items`` (its staged products, when products are
staged), ``$.previous`` (the state seen by the previous run: ``status_id``, ``status``,
``refunded_amount``, ``date_modified``; null for an order seen for the first time) and
``$.change.refunded`` (the amount refunded since then). For ``cart_converted``: the
webhook's ``cart_id``, ``order_id`` and ``created_at``, and ``$.order`` (the staged order).

Values are converted to the property's type (a money string "12.50" becomes 12.5 for a
``Decimal``); a missing value leaves the property out; a value that cannot be converted
rejects that one event, with the reason, in the events ledger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from bc2people.destinations.people.events import (
    DEFINITION_ID_RE,
    FIELD_NAME_RE,
    MAX_FIELDS,
    EventDefinition,
    occurred_time,
)

from .compiler import CompiledPath, PathSyntaxError, compile_path

if TYPE_CHECKING:
    from .loader import _Doc

TRIGGERS = {
    "order_placed": "an order seen for the first time (not Incomplete), or leaving Incomplete (status 0)",
    "order_status_changed": "an order's status_id differs from the one the previous run saw",
    "order_cancelled": "an order's status becomes Cancelled (5)",
    "order_refunded": "an order's refunded_amount grows",
    "cart_converted": "the store/cart/converted webhook (received by `bc2people answers serve`)",
}
COMING = {"cart_abandoned": "store/cart/abandoned comes with the real-time lane (webhook intake); not yet available"}
PROPERTY_TYPES = ("String", "Boolean", "DateTime", "Numeric", "Decimal", "List")
SCALAR = PROPERTY_TYPES[:-1]
EVENTS_KEYS = {"create_persons", "definitions"}
DEF_KEYS = {"name", "title", "description", "trigger", "properties"}
PROP_KEYS = {"type", "from", "properties"}


class PropertyError(ValueError):
    """A value that cannot be converted to its property's type."""


@dataclass(frozen=True)
class PropertyPlan:
    """One property: its People type and where its value comes from."""

    name: str
    type: str
    path: CompiledPath
    items: tuple[PropertyPlan, ...] = ()  # for a List: the fields of each object


@dataclass(frozen=True)
class EventPlan:
    """One declared event."""

    name: str
    title: str
    description: str | None
    on: str
    properties: tuple[PropertyPlan, ...]

    def definition(self) -> EventDefinition:
        """The People definition this event needs."""
        fields = {p.name: p.type for p in self.properties}
        lists = {p.name: {i.name: i.type for i in p.items} for p in self.properties if p.type == "List"}
        return EventDefinition(self.name, self.title, fields, lists, self.description)

    def properties_of(self, doc: Any) -> dict[str, Any]:
        """The event's properties read from ``doc``; raises `PropertyError`."""
        out: dict[str, Any] = {}
        for p in self.properties:
            value = _read(p, doc)
            if value is not None:
                out[p.name] = value
        return out


@dataclass
class EventsSpec:
    """The ``events`` section, compiled."""

    definitions: list[EventPlan] = field(default_factory=list)
    create_persons: bool = False

    def on(self, trigger: str) -> list[EventPlan]:
        return [d for d in self.definitions if d.on == trigger]


def _read(p: PropertyPlan, doc: Any) -> Any:
    if p.type == "List":
        objects = [x for x in p.path.all(doc) if isinstance(x, dict)]
        return [{i.name: v for i in p.items if (v := _read(i, x)) is not None} for x in objects] or None
    return convert(p.path.first(doc), p.type, p.name)


def convert(value: Any, ptype: str, name: str = "value") -> Any:
    """``value`` as a People ``ptype`` value (None stays None); raises `PropertyError`."""
    if value is None or value == "":
        return None
    try:
        if ptype == "String":
            if isinstance(value, dict | list):
                raise PropertyError("is not a single value")
            return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
        if ptype == "Boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1", "yes"):
                return True
            if text in ("false", "0", "no"):
                return False
            raise PropertyError("is not true/false")
        if ptype in ("Numeric", "Decimal"):
            if isinstance(value, bool | dict | list):
                raise PropertyError("is not a number")
            number = Decimal(str(value).strip())
            if not number.is_finite():
                raise PropertyError("is not a finite number")
            if ptype == "Numeric":
                if number != number.to_integral_value():
                    raise PropertyError("is not a whole number")
                return int(number)
            return float(number)
        if ptype == "DateTime":
            return occurred_time(parse_when(value))
    except (InvalidOperation, ValueError, TypeError) as exc:
        if isinstance(exc, PropertyError):
            raise PropertyError(f"{name}: {value!r:.60} {exc} ({ptype})") from None
        raise PropertyError(f"{name}: cannot read {value!r:.60} as {ptype}") from None
    raise PropertyError(f"{name}: unknown type {ptype}")


def parse_when(value: Any) -> datetime:
    """A UTC datetime from a datetime, ISO-8601 text (``Z`` or offset) or RFC 2822 text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}", text):
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    else:
        dt = parsedate_to_datetime(text)
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def _property(doc: _Doc, raw: Any, path: tuple[Any, ...], name: Any, event: str, nested: bool) -> PropertyPlan | None:
    label = f"events.{event}.{name}"
    if not isinstance(name, str) or not FIELD_NAME_RE.match(name):
        doc.add((*path, "__key__"), label, f"property name {name!r} is not allowed",
                "start with a lower-case letter or _, then letters, digits, _ (≤ 128)")
        return None
    if not isinstance(raw, dict):
        doc.add(path, label, "a property is {type: ..., from: $.path}", "e.g. `total: {type: Decimal, from: $.total_inc_tax}`")
        return None
    for key in raw:
        if key not in PROP_KEYS:
            doc.add((*path, key, "__key__"), label, f"unknown option {key!r}", "options: type, from, properties")
    ptype = raw.get("type")
    allowed = SCALAR if nested else PROPERTY_TYPES
    if ptype not in allowed:
        doc.add((*path, "type") if "type" in raw else path, label, f"type must be one of {', '.join(allowed)}, "
                f"not {ptype!r}", "People event property types are case-sensitive" + (
                    "; a List cannot hold a List" if nested and ptype == "List" else ""))
        return None
    try:
        compiled = compile_path(str(raw.get("from") or ""))
    except PathSyntaxError as exc:
        doc.add((*path, "from") if "from" in raw else path, label, f"bad JSONPath: {exc}", "e.g. from: $.total_inc_tax")
        return None
    items: list[PropertyPlan] = []
    if ptype == "List":
        subs = raw.get("properties")
        if not isinstance(subs, dict) or not subs:
            doc.add((*path, "properties") if "properties" in raw else path, label,
                    "a List needs `properties:` (the fields of each object)", "e.g. quantity: {type: Numeric, from: $.quantity}")
            return None
        for sub_name, sub_raw in subs.items():
            plan = _property(doc, sub_raw, (*path, "properties", sub_name), sub_name, f"{event}.{name}", True)
            if plan is not None:
                items.append(plan)
    elif "properties" in raw:
        doc.add((*path, "properties"), label, "only a List has properties", "remove it or use type: List")
    return PropertyPlan(name, str(ptype), compiled, tuple(items))


def parse_events(doc: _Doc, raw: Any) -> EventsSpec | None:
    """Check and compile the ``events`` section; problems go to ``doc`` with file:line."""
    if raw is None:
        return None
    path: tuple[Any, ...] = ("events",)
    hint = "events: {definitions: [{name: OrderPlaced, trigger: order_placed, properties: {...}}]}"
    if not isinstance(raw, dict):
        doc.add(path, "events", "events must be a mapping", hint)
        return None
    for key in raw:
        if key not in EVENTS_KEYS:
            doc.add((*path, key, "__key__"), f"events.{key}", f"unknown option {key!r}", "options: create_persons, definitions")
    spec = EventsSpec()
    create = raw.get("create_persons", False)
    if not isinstance(create, bool):
        doc.add((*path, "create_persons"), "events.create_persons", "must be true or false", "")
    else:
        spec.create_persons = create
    defs = raw.get("definitions")
    if not isinstance(defs, list):
        doc.add((*path, "definitions") if "definitions" in raw else path, "events.definitions",
                "definitions must be a list", hint)
        return spec
    seen: set[str] = set()
    for i, d in enumerate(defs):
        dpath = (*path, "definitions", i)
        if not isinstance(d, dict):
            doc.add(dpath, f"events.definitions[{i}]", "an event is a mapping with name, trigger, properties", hint)
            continue
        name = d.get("name")
        label = f"events.{name}" if isinstance(name, str) else f"events.definitions[{i}]"
        for key in d:
            if key not in DEF_KEYS:
                doc.add((*dpath, key, "__key__"), label, f"unknown option {key!r}", "options: " + ", ".join(sorted(DEF_KEYS)))
        if not isinstance(name, str) or not DEFINITION_ID_RE.match(name):
            doc.add((*dpath, "name") if "name" in d else dpath, label,
                    f"name must be 1 to 36 letters or digits (People's definition id), not {name!r}", "e.g. OrderPlaced")
            continue
        if name.lower() in seen:
            doc.add((*dpath, "name"), label, f"event {name} is declared twice", "definition ids are case-insensitive")
            continue
        seen.add(name.lower())
        on = d.get("trigger")
        if on in COMING:
            doc.add((*dpath, "trigger"), label, f"trigger {on} is not available yet: {COMING[on]}",
                    "remove this event for now")
            continue
        if on not in TRIGGERS:
            doc.add((*dpath, "trigger") if "trigger" in d else dpath, label,
                    f"trigger must be one of {', '.join(TRIGGERS)}, not {on!r}",
                    "write `trigger:`, not `on:` (YAML reads a bare on as true)" if True in d else "")
            continue
        title = d.get("title", name)
        if not isinstance(title, str) or not 1 <= len(title) <= 100:
            doc.add((*dpath, "title"), label, "title must be 1 to 100 characters", "")
            continue
        description = d.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 2000):
            doc.add((*dpath, "description"), label, "description must be text of at most 2000 characters", "")
            continue
        props = d.get("properties") or {}
        if not isinstance(props, dict):
            doc.add((*dpath, "properties"), label, "properties must be a mapping of name: {type, from}", "")
            continue
        if len(props) > MAX_FIELDS:
            doc.add((*dpath, "properties"), label, f"{len(props)} properties; People allows at most {MAX_FIELDS}", "")
        plans = [p for n, r in props.items() if (p := _property(doc, r, (*dpath, "properties", n), n, name, False))]
        lowered = [p.name.lower() for p in plans]
        if len(set(lowered)) != len(lowered):
            doc.add((*dpath, "properties"), label, "property names must differ in more than case", "")
        if sum(p.type == "List" for p in plans) > 1:
            doc.add((*dpath, "properties"), label, "People allows one List property per event", "")
        spec.definitions.append(EventPlan(name, title, description, on, tuple(plans)))
    return spec
