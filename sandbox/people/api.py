"""The People API routes the sandbox serves (the public surface, behind auth and rate limit).

Choices where the spec is silent (see also ``validation.py`` and ``store.py``):

- Upsert whole-request errors (V3 body, HTTP 400): malformed JSON → 400103; body not an
  object, or ``persons`` missing/null → 400104; ``persons`` not an array → 400102; empty or
  more than 1000 persons → 400101. Top-level keys other than ``persons`` are ignored.
- ``GET /people/2/persons``: with ``identifier`` or ``type`` both are required (400
  otherwise); ``type`` must be in ``PersonUniqueFieldType``, only ID/EXTERNAL_ID/EMAIL/PHONE
  can match (others → 404). Without them: a page ``{"persons", "limit", "page"}`` plus
  ``orderBy`` when given and ``totalCount`` when ``includeTotalCount=true``; default order is
  by id. ``filter`` is not implemented: 400 saying so (never silently ignored).
- Upsert per-person failures (``PeopleSandbox.person_faults``, see ``person_faults.py``):
  chosen externalIds get a 5xx-class ``errors[]`` item or no entry at all in the 207.
- ``GET /people/2/tags`` returns a bare JSON array of tags, as the spec's schema declares.
- ``PATCH /people/2/tags/{name}/persons``: an unknown tag is 404 when
  ``require_existing_tags``, else it is created; queries matching nobody are skipped (200
  with an empty body), or answered as ``tag_missing_person`` says (see ``tag_batches.py``). ``DELETE`` on the same path removes the tag (404 for an unknown tag).
- Tag and custom-attribute names in paths are URL-decoded and case-insensitive.
- ``DELETE /people/2/persons/contactInformation``: removes the listed emails (any case) and
  phones from the person, ignoring ones it does not have; 200 with the person, 404 when the
  identifier matches nobody. ``contact_removal_failures`` = n answers the next n with 500.
- DATE_TIME values: both ``...SSZ`` and ``...SS`` unless ``datetime_format`` says one of them
  (see ``datetime_mode.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from bc2people.sandbox.http import BadJSON, Request, Response, Router
from bc2people.sandbox.people import errors as E
from bc2people.sandbox.people import matching, tag_batches
from bc2people.sandbox.people.datetime_mode import datetime_details
from bc2people.sandbox.people.shapes import to_v2
from bc2people.sandbox.people.store import ORDER_FIELDS, DuplicateName
from bc2people.sandbox.people.validation import DATA_TYPES, SCALAR_TYPES, validate_person

if TYPE_CHECKING:
    from bc2people.sandbox.people.server import PeopleSandbox

MAX_BATCH = 1000
ID_TYPES = (
    "ID", "EXTERNAL_ID", "PHONE", "EMAIL", "LINE", "FACEBOOK", "TELEGRAM", "PUSH", "WEB_PUSH",
    "LIVE_CHAT", "VIBER_BOTS", "INSTAGRAM", "INSTAGRAM_DM", "TWITTER", "APPLE_BUSINESS_CHAT",
    "KAKAO_SANGDAM", "OPEN_CHANNEL", "ZALO_FOLLOWER", "TIKTOK_BM", "WHATSAPP",
)  # fmt: skip
INVALID_PERSON_MESSAGE = "One or more properties of the person are invalid"


def _int_param(req: Request, name: str, default: int, lo: int, hi: int | None) -> int | Response:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        return E.bad_request(f"{name} must be an integer", name)
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        return E.bad_request(f"{name} must be {bound}", name)
    return value


def _paging(req: Request) -> tuple[int, int] | Response:
    limit = _int_param(req, "limit", 20, 1, 1000)
    if isinstance(limit, Response):
        return limit
    page = _int_param(req, "page", 1, 1, None)
    if isinstance(page, Response):
        return page
    return limit, page


def _json_object(req: Request) -> dict[str, Any] | Response:
    try:
        body = req.json()
    except BadJSON:
        return E.bad_request("Malformed JSON body")
    if not isinstance(body, dict):
        return E.bad_request("Request body must be a JSON object")
    return body


def build_router(sb: PeopleSandbox) -> tuple[Router, dict[Any, str]]:
    """The public routes and a handler -> route-template map (for the rate limiter)."""
    router = Router()
    store = sb.store
    add = router.add

    # -- v3 upsert ---------------------------------------------------------------------------
    def upsert(req: Request, replace: bool) -> Response:
        try:
            body = req.json()
        except BadJSON:
            return E.v3_error(400, E.MALFORMED_JSON, "Malformed JSON body, wrong syntax")
        if not isinstance(body, dict) or body.get("persons") is None:
            return E.v3_error(
                400,
                E.MISSING_PERSONS,
                "Missing required property 'persons'",
                [E.detail("persons", "Required, but value is missing")],
            )
        persons = body["persons"]
        if not isinstance(persons, list):
            return E.v3_error(
                400,
                E.INVALID_PERSONS,
                "Property 'persons' must be an array",
                [E.detail("persons", "Must be an array")],
            )
        if not 1 <= len(persons) <= MAX_BATCH:
            return E.v3_error(
                400,
                E.BATCH_SIZE,
                f"The batch must hold between 1 and {MAX_BATCH} persons",
                [E.detail("persons", f"Size must be between 1 and {MAX_BATCH}, got {len(persons)}")],
            )
        attrs = store.attribute_defs()
        known = store.known_tags() if sb.require_existing_tags else None
        valid: list[tuple[int, dict[str, Any]]] = []
        candidates, errors = sb.person_faults.split(persons)  # chosen persons People fails on
        for i, raw in candidates:
            person, details = validate_person(raw, i, attrs, known)
            if person is not None and sb.datetime_format != "any":
                details = datetime_details(person, i, attrs, sb.datetime_format)
                person = None if details else person
            if person is None:
                errors.append(
                    {
                        "code": E.INVALID_PERSON,
                        "message": INVALID_PERSON_MESSAGE,
                        "details": details,
                        "index": i,
                    }
                )
            else:
                valid.append((i, person))
        results, conflicts = store.upsert(valid, replace=replace)
        errors = sorted(errors + conflicts, key=lambda e: e["index"])
        return Response(207, {"results": results, "errors": errors})

    add("PATCH", "/people/3/persons/upsert", lambda req: upsert(req, replace=False))
    add("PUT", "/people/3/persons/upsert", lambda req: upsert(req, replace=True))

    # -- v2 persons --------------------------------------------------------------------------
    def _identity(req: Request) -> tuple[str, str] | Response:
        identifier, id_type = req.query.get("identifier"), req.query.get("type")
        if not identifier or not id_type:
            return E.bad_request(
                "Both identifier and type are required", "identifier" if not identifier else "type"
            )
        if id_type not in ID_TYPES:
            return E.bad_request(f"type must be one of {', '.join(ID_TYPES)}", "type")
        return id_type, identifier

    def get_persons(req: Request) -> Response:
        if "identifier" in req.query or "type" in req.query:
            ident = _identity(req)
            if isinstance(ident, Response):
                return ident
            person = store.find(*ident)
            return E.not_found("Person not found") if person is None else Response(200, to_v2(person))
        if req.query.get("filter"):
            return E.bad_request("The sandbox does not implement the filter parameter", "filter")
        paging = _paging(req)
        if isinstance(paging, Response):
            return paging
        limit, page = paging
        order_by = req.query.get("orderBy") or None
        if order_by is not None:
            field, _, direction = order_by.partition(":")
            if field not in ORDER_FIELDS or direction.lower() not in ("", "asc", "desc"):
                return E.bad_request(
                    f"orderBy must be one of {', '.join(ORDER_FIELDS)} with :asc or :desc", "orderBy"
                )
        people, total = store.page(limit, page, order_by)
        body: dict[str, Any] = {"persons": [to_v2(p) for p in people], "limit": limit, "page": page}
        if order_by:
            body["orderBy"] = order_by
        if req.query.get("includeTotalCount", "").lower() == "true":
            body["totalCount"] = total
        return Response(200, body)

    def delete_person(req: Request) -> Response:
        ident = _identity(req)
        if isinstance(ident, Response):
            return ident
        return Response(200) if store.delete(*ident) else E.not_found("Person not found")

    def delete_contacts(req: Request) -> Response:
        if sb.contact_removal_failures > 0:  # a test's way to make People fail here alone
            sb.contact_removal_failures -= 1
            return E.service_exception(500)
        ident = _identity(req)
        if isinstance(ident, Response):
            return ident
        body = _json_object(req)
        if isinstance(body, Response):
            return body
        parsed = contact_removal(body)
        if isinstance(parsed, Response):
            return parsed
        person = store.remove_contacts(*ident, *parsed)
        return E.not_found("Person not found") if person is None else Response(200, to_v2(person))

    add("DELETE", "/people/2/persons/contactInformation", delete_contacts)
    add("POST", "/people/2/persons/match", lambda req: matching.match(sb, req, ID_TYPES))
    add("GET", "/people/2/persons", get_persons)
    add("DELETE", "/people/2/persons", delete_person)

    # -- custom attributes -------------------------------------------------------------------
    def list_attributes(req: Request) -> Response:
        paging = _paging(req)
        if isinstance(paging, Response):
            return paging
        limit, page = paging
        items = store.attribute_list()
        body: dict[str, Any] = {
            "customAttributes": items[(page - 1) * limit : page * limit],
            "limit": limit,
            "page": page,
            "orderBy": "name:asc",
        }
        if req.query.get("includeTotalCount", "").lower() == "true":
            body["totalCount"] = len(items)
        return Response(200, body)

    def create_attribute(req: Request) -> Response:
        body = _json_object(req)
        if isinstance(body, Response):
            return body
        checked = check_attribute_definition(body)
        if isinstance(checked, str):
            return E.bad_request(checked)
        try:
            return Response(200, store.define_attribute(*checked))
        except DuplicateName:
            return E.duplicate_name("attribute", checked[0])

    def get_attribute(req: Request) -> Response:
        entry = store.attribute(unquote(req.path_params["name"]))
        return Response(200, entry) if entry else E.not_found("Custom attribute not found")

    add("GET", "/people/2/customAttributes", list_attributes)
    add("POST", "/people/2/customAttributes", create_attribute)
    add("GET", "/people/2/customAttributes/{name}", get_attribute)

    # -- tags --------------------------------------------------------------------------------
    def list_tags(req: Request) -> Response:
        paging = _paging(req)
        if isinstance(paging, Response):
            return paging
        limit, page = paging
        return Response(200, store.tag_list()[(page - 1) * limit : page * limit])

    def create_tag(req: Request) -> Response:
        body = _json_object(req)
        if isinstance(body, Response):
            return body
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            return E.bad_request("name must be a non-empty string of at most 256 characters", "name")
        try:
            return Response(200, store.create_tag(name))
        except DuplicateName:
            return E.duplicate_name("tag", name)

    def get_tag(req: Request) -> Response:
        entry = store.tag(unquote(req.path_params["name"]))
        return Response(200, entry) if entry else E.not_found("Tag not found")

    def tag_persons(req: Request, add_tag: bool) -> Response:
        body = _json_object(req)
        if isinstance(body, Response):
            return body
        people = body.get("people")
        if not isinstance(people, list) or not 1 <= len(people) <= MAX_BATCH:
            return E.bad_request(f"people must be an array of 1 to {MAX_BATCH} items", "people")
        queries: list[tuple[str, str]] = []
        for i, item in enumerate(people):
            query = item.get("query") if isinstance(item, dict) else None
            if (
                not isinstance(query, dict)
                or query.get("type") not in ID_TYPES
                or not isinstance(query.get("identifier"), str)
                or not query["identifier"]
            ):
                return E.bad_request(
                    f"people[{i}].query must be an object with a valid type and an identifier",
                    f"people[{i}].query",
                )
            queries.append((query["type"], query["identifier"]))
        name = unquote(req.path_params["name"])
        mode = sb.tag_missing_person
        if mode != "skip" and (store.tag(name) is not None or (add_tag and not sb.require_existing_tags)):
            missing = store.missing(queries)
            refused = tag_batches.refuse_whole(mode, missing)
            if refused is not None:
                return refused
        else:
            missing = []
        changed = store.tag_persons(name, queries, add=add_tag, create=not sb.require_existing_tags)
        if changed is None:
            return E.not_found("Tag not found")
        return tag_batches.answer(mode, queries, missing)

    add("GET", "/people/2/tags", list_tags)
    add("POST", "/people/2/tags", create_tag)
    add("GET", "/people/2/tags/{name}", get_tag)
    add("PATCH", "/people/2/tags/{name}/persons", lambda req: tag_persons(req, True))
    add("DELETE", "/people/2/tags/{name}/persons", lambda req: tag_persons(req, False))
    return router, router.templates


def contact_removal(body: dict[str, Any]) -> tuple[list[str], list[str]] | Response:
    """(emails, phones) from a ``PersonDestinationRequest`` body, or the 400 answer."""
    info = body.get("contactInformation")
    if not isinstance(info, dict):
        return E.bad_request("contactInformation is required", "contactInformation")
    out: list[list[str]] = []
    for kind, key in (("email", "address"), ("phone", "number")):
        items = info.get(kind) or []
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get(key), str) and i[key] for i in items
        ):
            return E.bad_request(f"contactInformation.{kind} must be a list of {{{key}}}", f"contactInformation.{kind}")
        out.append([i[key] for i in items])
    return out[0], out[1]


def check_attribute_definition(body: dict[str, Any]) -> tuple[str, str, dict[str, str] | None] | str:
    """(name, dataType, objectSchema) from a definition body, or the error text."""
    name, data_type, schema = body.get("name"), body.get("dataType"), body.get("objectSchema")
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        return "name must be a non-empty string of at most 256 characters"
    if any(ch in name for ch in "{}[]"):
        return "name must not contain any of { } [ ]"
    if data_type not in DATA_TYPES:
        return f"dataType must be one of {', '.join(DATA_TYPES)}"
    if data_type == "LIST_OF_OBJECTS":
        if not isinstance(schema, dict) or not schema:
            return "objectSchema is required for LIST_OF_OBJECTS"
        if any(not isinstance(k, str) or t not in SCALAR_TYPES for k, t in schema.items()):
            return f"objectSchema values must be one of {', '.join(SCALAR_TYPES)}"
        return name, data_type, schema
    if schema is not None:
        return "objectSchema is only allowed for LIST_OF_OBJECTS"
    return name, data_type, None
