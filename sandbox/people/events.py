"""People events in the sandbox: event definitions and ``POST /people/3/events``.

Routes (behind the sandbox's auth and per-operation rate limit):

- ``GET /peopleevents/2/definitions`` (``offset``, ``limit``, ``searchText``): a bare array of
  definitions, as the spec's schema declares; ``GET /peopleevents/2/definitions/{id}`` (404);
- ``POST /peopleevents/2/definitions``: create (201); ``POST /peopleevents/2/definitions/{id}``:
  update, additive only (200). A bad body or an existing id is 400 (``requestError``
  envelope; the spec documents 400 "Invalid resource representation" only). Templates are
  not simulated (400 saying so).
- ``POST /people/3/events``: a JSON array of 1..5000 items, ≤512,000 bytes each, ≤15,728,640
  bytes in all. **Any invalid item fails the whole batch** (400, ``ProblemDetailsResponse``);
  nothing of it is stored. Codes as the spec's examples: 400500 not an array, 400501 schema
  (unknown definition, unknown property, wrong type; ``index`` -1 as in the spec's example),
  400502 empty, 400503 too many items, 400504 an invalid item (by ``index``, with
  ``details``: eventId, identifier, occurredTime older than 30 days, item too big), 400505 an
  ``ID`` identifier matching nobody. Sandbox choice: a batch over 15,728,640 bytes is 400503
  too. Accepted: 202, no body. A future ``occurredTime`` is stored as now. An unknown
  ``EXTERNAL_ID``/``EMAIL``/``PHONE`` creates a CUSTOMER person. An ``eventId`` already
  stored is not stored again (the spec: "ensures the event is only recorded once").

Tests read everything through `EventStore`: ``events`` (stored, in arrival order),
``receipts`` (eventId -> times it arrived in an accepted batch, duplicates included),
``batches`` (accepted, rejected) and ``delete_definition`` (a user deleting a definition).
"""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from bc2people.sandbox.http import BadJSON, Request, Response, Router
from bc2people.sandbox.people import errors as E
from bc2people.sandbox.people.event_rules import (
    DEFINITION_ID_RE,
    check_fields,
    item_details,
    parse_datetime,
    schema_error,
)

if TYPE_CHECKING:
    from bc2people.sandbox.people.server import PeopleSandbox

MAX_EVENTS = 5000
MAX_ITEM_BYTES = 512_000
MAX_BATCH_BYTES = 15_728_640
MAX_AGE_DAYS = 30
CREATABLE = ("EXTERNAL_ID", "EMAIL", "PHONE")
_TYPE = "https://tools.ietf.org/html/rfc9110#section-15.5.1"


def problem(errors: list[dict[str, Any]]) -> Response:
    """A 400 ``ProblemDetailsResponse`` with these ``errors``."""
    return Response(400, {"errors": errors, "traceId": "sandbox", "type": _TYPE,
                          "title": "One or more validation errors occurred.", "status": 400})


def _general(code: int, message: str) -> Response:
    return problem([{"index": -1, "code": code, "message": message}])


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class EventStore:
    """Definitions and stored events of one account (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.definitions: dict[str, dict[str, Any]] = {}  # lower-cased id -> definition
            self.events: list[dict[str, Any]] = []
            self.receipts: Counter[str] = Counter()
            self._stored_ids: set[str] = set()
            self.batches: Counter[str] = Counter()

    def definition(self, definition_id: str) -> dict[str, Any] | None:
        with self.lock:
            d = self.definitions.get(definition_id.lower())
            return copy.deepcopy(d) if d else None

    def define(self, definition_id: str, title: str, description: str | None, fields: list[dict[str, Any]]) -> bool:
        """Create a definition; False when the id exists (case-insensitive)."""
        with self.lock:
            if definition_id.lower() in self.definitions:
                return False
            self.definitions[definition_id.lower()] = {
                "isInternalDefinition": False, "category": "external", "definitionId": definition_id,
                "title": title, "description": description, "fields": fields,
            }
            return True

    def update(self, definition_id: str, title: str, description: str | None,
               fields: list[dict[str, Any]]) -> str | dict[str, Any]:
        """Additive update; the error text, or the definition now."""
        with self.lock:
            d = self.definitions.get(definition_id.lower())
            if d is None:
                return "not found"
            have = {f["name"].lower(): f for f in d["fields"]}
            for f in fields:
                old = have.get(f["name"].lower())
                if old is not None and old != f:
                    return f"field {f['name']!r} exists as {old['type']}; fields cannot be changed or removed"
            added = [f for f in fields if f["name"].lower() not in have]
            if len(d["fields"]) + len(added) > 120:
                return "a definition has at most 120 fields"
            if sum(f["type"] == "List" for f in d["fields"] + added) > 1:
                return "at most one field may be a List"
            d.update(title=title, description=description, fields=d["fields"] + added)
            return copy.deepcopy(d)

    def delete_definition(self, definition_id: str) -> bool:
        """Remove a definition (what a user does in the portal); its events stay."""
        with self.lock:
            return self.definitions.pop(definition_id.lower(), None) is not None

    def listing(self) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(d) for _, d in sorted(self.definitions.items())]

    def store(self, items: list[dict[str, Any]]) -> None:
        with self.lock:
            self.batches["accepted"] += 1
            for item in items:
                eid = item.get("eventId")
                if eid:
                    self.receipts[eid] += 1
                    if eid in self._stored_ids:
                        continue
                    self._stored_ids.add(eid)
                self.events.append(item)

    def all_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(e) for e in self.events]


def build_event_router(sb: PeopleSandbox) -> tuple[Router, dict[Any, str]]:
    """The events routes and their handler -> route-template map (for the rate limiter)."""
    router = Router()
    events = sb.events
    add = router.add

    def definition_body(req: Request) -> dict[str, Any] | Response:
        try:
            body = req.json()
        except BadJSON:
            return E.bad_request("Invalid resource representation: malformed JSON")
        if not isinstance(body, dict):
            return E.bad_request("Invalid resource representation: body must be an object")
        return body

    def list_definitions(req: Request) -> Response:
        try:
            offset = int(req.query.get("offset") or 0)
            limit = int(req.query.get("limit") or 1000)
        except ValueError:
            return E.bad_request("offset and limit must be integers")
        items = events.listing()
        text = (req.query.get("searchText") or "").lower()
        if text:
            items = [d for d in items if text in d["definitionId"].lower() or text in (d["title"] or "").lower()]
        return Response(200, items[offset : offset + max(0, limit)])

    def create_definition(req: Request) -> Response:
        body = definition_body(req)
        if isinstance(body, Response):
            return body
        if body.get("templateId") is not None:
            return E.bad_request("The sandbox does not simulate definition templates", "templateId")
        did, title = body.get("definitionId"), body.get("title")
        if not isinstance(did, str) or not DEFINITION_ID_RE.match(did):
            return E.bad_request("definitionId must be 1 to 36 letters or digits", "definitionId")
        if not isinstance(title, str) or not 1 <= len(title) <= 100:
            return E.bad_request("title is required (1 to 100 characters)", "title")
        fields = check_fields(body.get("fields"))
        if isinstance(fields, str):
            return E.bad_request(fields, "fields")
        if not events.define(did, title, body.get("description"), fields):
            return E.bad_request(f"Event definition {did!r} already exists", "definitionId")
        return Response(201, events.definition(did))

    def get_definition(req: Request) -> Response:
        d = events.definition(unquote(req.path_params["definitionId"]))
        return Response(200, d) if d else Response(404)

    def update_definition(req: Request) -> Response:
        body = definition_body(req)
        if isinstance(body, Response):
            return body
        title = body.get("title")
        if not isinstance(title, str) or not 1 <= len(title) <= 100:
            return E.bad_request("title is required (1 to 100 characters)", "title")
        fields = check_fields(body.get("fields"))
        if isinstance(fields, str):
            return E.bad_request(fields, "fields")
        out = events.update(unquote(req.path_params["definitionId"]), title, body.get("description"), fields)
        if out == "not found":
            return Response(404)
        return E.bad_request(out, "fields") if isinstance(out, str) else Response(200, out)

    def send_events(req: Request) -> Response:
        if len(req.body) > MAX_BATCH_BYTES:
            return _general(400503, f"The batch size exceeds the allowed limit of {MAX_BATCH_BYTES} bytes.")
        try:
            items = req.json()
        except BadJSON:
            items = None
        if not isinstance(items, list):
            return _general(400500, "Invalid request. Please ensure the request body is a properly structured JSON array.")
        if not items:
            return _general(400502, "The batch cannot be empty. Please provide at least one item in the request array.")
        if len(items) > MAX_EVENTS:
            return _general(400503, f"The batch count exceeds the allowed limit of {MAX_EVENTS} items. "
                                    "Please reduce the number of items in the request array.")
        now = datetime.now(UTC)
        errors: list[dict[str, Any]] = []
        schema: str | None = None
        with events.lock:
            defs = dict(events.definitions)
        for i, item in enumerate(items):
            size = len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())
            details = item_details(item, MAX_ITEM_BYTES, size, now, MAX_AGE_DAYS)
            if details:
                errors.append({"index": i, "code": 400504, "message": "One or more batch items contain invalid "
                               "properties. Please review the details for specific validation errors.",
                               "details": details})
                continue
            why = schema_error(item, defs.get(str(item["definitionId"]).lower()))
            if why and schema is None:
                schema = why
            ident = item["identifier"]
            if ident["type"] not in CREATABLE and not _person_exists(sb, ident):
                errors.append({"index": i, "code": 400505, "message": "Person with such identifier doesn't exist. "
                               "Please verify the identifier and ensure it corresponds to an existing person in the system."})
        if schema is not None:
            errors.insert(0, {"index": -1, "code": 400501, "message": "The event schema is invalid. Please ensure each "
                              "event has a valid definition ID and properties match the expected schema. "
                              f"Details: {schema}."})
        if errors:
            with events.lock:
                events.batches["rejected"] += 1
            return problem(errors)
        stored = []
        for item in items:
            when = parse_datetime(item["occurredTime"])
            assert when is not None
            person_id = _person_for(sb, item["identifier"])
            stored.append({**item, "occurredTime": _stamp(min(when, now)), "personId": person_id,
                           "receivedAt": _stamp(now)})
        events.store(stored)
        return Response(202)

    add("GET", "/peopleevents/2/definitions", list_definitions)
    add("POST", "/peopleevents/2/definitions", create_definition)
    add("GET", "/peopleevents/2/definitions/{definitionId}", get_definition)
    add("POST", "/peopleevents/2/definitions/{definitionId}", update_definition)
    add("POST", "/people/3/events", send_events)
    return router, router.templates


def _person_exists(sb: PeopleSandbox, ident: dict[str, Any]) -> bool:
    with sb.store.lock:
        return sb.store._lookup(ident["type"], ident["id"]) is not None


def _person_for(sb: PeopleSandbox, ident: dict[str, Any]) -> int | None:
    """The person an identifier names, created as a CUSTOMER when it names nobody."""
    with sb.store.lock:
        pid = sb.store._lookup(ident["type"], ident["id"])
    if pid is not None or ident["type"] not in CREATABLE:
        return pid
    if ident["type"] == "EXTERNAL_ID":
        person: dict[str, Any] = {"externalId": ident["id"], "type": "CUSTOMER"}
    else:
        person = {"type": "CUSTOMER", "contactInformation": [{"type": ident["type"], "identifier": ident["id"]}]}
    results, _ = sb.store.upsert([(0, person)], replace=False)
    return results[0]["id"] if results else None


def install_event_admin(sb: PeopleSandbox) -> None:
    """Control routes: ``GET /__sandbox__/events`` (stored events, receipts, definitions) and
    ``POST /__sandbox__/event-definitions/delete`` ``{"definitionId"}``."""

    def state(req: Request) -> Response:
        with sb.events.lock:
            receipts = dict(sb.events.receipts)
            batches = dict(sb.events.batches)
        return Response(200, {"events": sb.events.all_events(), "receipts": receipts, "batches": batches,
                              "definitions": sb.events.listing()})

    def delete(req: Request) -> Response:
        try:
            body = req.json()
        except BadJSON:
            body = None
        did = body.get("definitionId") if isinstance(body, dict) else None
        if not isinstance(did, str):
            return Response(400, {"error": "definitionId is required"})
        return Response(200, {"deleted": sb.events.delete_definition(did)})

    sb.router.add("GET", "/__sandbox__/events", state)
    sb.router.add("POST", "/__sandbox__/event-definitions/delete", delete)
