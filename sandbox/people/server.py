"""`PeopleSandbox`: a local HTTP stand-in for Infobip People (``https://xxxxx.api.infobip.com``).

Request pipeline (``sandbox.http.SandboxServer``): count → latency → injected fault (429/5xx
answered in People's ``requestError`` envelope) → auth (``Authorization: App <key>``, else
401 UNAUTHORIZED) → unknown route (404/405, same envelope) → rate limit (per operation,
fixed 1 s window, 429 TOO_MANY_REQUESTS) → route. Paths under ``/__sandbox__/`` skip all of that:

- ``GET  /__sandbox__/state``: persons, customAttributes, tags, requestsServed, latencyMs,
  rateLimit, requireExistingTags, faultsInjected, personFailures
- ``POST /__sandbox__/reset``: back to construction defaults (data, counters, latency, faults,
  per-person failures, rate limit, event definitions and events)
- ``GET /__sandbox__/events``, ``POST /__sandbox__/event-definitions/delete``: see ``events.py``
- ``POST /__sandbox__/latency`` ``{"ms": 250}``
- ``POST /__sandbox__/faults`` ``{"rate", "kinds", "seed", "slow_seconds"}``
- ``POST /__sandbox__/rate-limit`` ``{"perSecond": 5 | null}``
- ``POST /__sandbox__/require-existing-tags`` ``{"value": true}``
- ``POST /__sandbox__/custom-attributes`` ``{"name", "dataType", "objectSchema"?}``
- ``POST /__sandbox__/datetime-format`` ``{"value": "any" | "utc_z" | "naive"}``: which DATE_TIME
  form the upsert accepts (see ``datetime_mode.py``)
- ``POST /__sandbox__/tag-missing-person`` ``{"value": "skip" | "404" | "409"}``: how a tag batch
  answers a query matching nobody (see ``tag_batches.py``)
- ``POST /__sandbox__/match-order`` ``{"order": null | ["EXTERNAL_ID", "EMAIL", "PHONE"], "none404"?: bool}``:
  the upsert's matching order and the match endpoint's empty answer (see ``matching.py``)
- ``POST /__sandbox__/person-failures`` ``{"error": [externalId...], "omit": [...], "code"?: 500100}``:
  the upsert fails on those persons inside its 207 (see ``person_faults.py``); empty lists clear
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Iterable
from typing import Any

from bc2people.sandbox.http import BadJSON, FaultPlan, Request, Response, Router, SandboxServer
from bc2people.sandbox.people import errors as E
from bc2people.sandbox.people import tag_batches
from bc2people.sandbox.people.api import build_router, check_attribute_definition
from bc2people.sandbox.people.datetime_mode import check_mode
from bc2people.sandbox.people.events import EventStore, build_event_router, install_event_admin
from bc2people.sandbox.people.matching import check_order
from bc2people.sandbox.people.person_faults import PersonFaults
from bc2people.sandbox.people.ratelimit import FixedWindowLimiter
from bc2people.sandbox.people.shapes import to_v2
from bc2people.sandbox.people.store import DuplicateName, PeopleStore

__all__ = ["PeopleSandbox"]


class PeopleSandbox:
    """Infobip People sandbox on 127.0.0.1 (ephemeral port unless ``port`` is given)."""

    def __init__(
        self,
        api_key: str = "sandbox-key",
        rate_limit: int | None = 5,
        require_existing_tags: bool = False,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        datetime_format: str = "any",
        tag_missing_person: str = "skip",
    ) -> None:
        self._api_key = api_key
        self._auth_value = f"App {api_key}".encode()
        self._default_rate_limit = rate_limit
        self._default_require_tags = require_existing_tags
        self.require_existing_tags = require_existing_tags
        self._default_datetime_format = check_mode(datetime_format)
        self.datetime_format = self._default_datetime_format  # "any", "utc_z" or "naive"
        self._default_tag_missing = tag_batches.check_mode(tag_missing_person)
        self.tag_missing_person = self._default_tag_missing  # "skip", "404" or "409" (tag_batches.py)
        self.contact_removal_failures = 0  # the next n DELETE .../contactInformation answer 500
        self.match_none_404 = False  # POST .../match answers 404 when nothing matches (matching.py)
        self.store = PeopleStore()
        self.person_faults = PersonFaults()
        self.limiter = FixedWindowLimiter(rate_limit)
        self.events = EventStore()  # event definitions and stored events (see events.py)
        api_router, self._templates = build_router(self)
        event_router, event_templates = build_event_router(self)
        self._templates.update(event_templates)
        self.router = Router()
        self.router.include(api_router)
        self.router.include(event_router)
        self._install_admin()
        install_event_admin(self)
        self.server = SandboxServer(
            self.router, host=host, port=port, before=self._before, fault_errors=E.fault_response
        )

    def __repr__(self) -> str:  # never shows the key
        return f"PeopleSandbox(base_url={self.base_url!r}, persons={len(self.store.persons)})"

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: plays ``https://xxxxx.api.infobip.com``."""
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def api_key(self) -> str:
        """The one key the sandbox accepts (``Authorization: App <key>``)."""
        return self._api_key

    def start(self) -> PeopleSandbox:
        """Serve in a background thread; returns self."""
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> PeopleSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- knobs -------------------------------------------------------------------------------
    @property
    def latency_ms(self) -> float:
        return self.server.latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        self.server.latency_ms = float(value)

    @property
    def faults(self) -> FaultPlan:
        return self.server.faults

    @property
    def requests_served(self) -> Counter[str]:
        """``"PATCH /people/3/persons/upsert" -> n`` (every non-admin request, refused ones too)."""
        return self.server.requests_served

    @property
    def rate_limit(self) -> int | None:
        return self.limiter.limit

    @rate_limit.setter
    def rate_limit(self, value: int | None) -> None:
        self.limiter.limit = value

    # -- state for tests ---------------------------------------------------------------------
    def persons(self) -> list[dict[str, Any]]:
        """Every stored person (v3 upsert shape + id/createdAt/modifiedAt), by id."""
        return self.store.all_persons()

    def person_by_external_id(self, external_id: str) -> dict[str, Any] | None:
        """The stored person with this externalId (case-sensitive), or None."""
        return self.store.find("EXTERNAL_ID", external_id)

    def custom_attributes(self) -> dict[str, str]:
        """Defined custom attributes: name -> dataType."""
        return {e["name"]: e["dataType"] for e in self.store.attribute_list()}

    def define_custom_attribute(
        self, name: str, data_type: str, object_schema: dict[str, str] | None = None
    ) -> None:
        """Define an attribute; a no-op when it exists with the same type, ValueError otherwise."""
        checked = check_attribute_definition(
            {"name": name, "dataType": data_type, "objectSchema": object_schema}
        )
        if isinstance(checked, str):
            raise ValueError(checked)
        try:
            self.store.define_attribute(*checked)
        except DuplicateName:
            existing = self.store.attribute(name)
            if existing is None or existing["dataType"] != data_type:
                raise ValueError(f"custom attribute {name!r} already exists with another data type") from None

    def fail_persons(self, *, error: Iterable[str] = (), omit: Iterable[str] = (), code: int | None = None) -> None:
        """From now on the upsert fails on these externalIds: a 5xx-class ``errors[]`` item
        (``error``, code default 500100) or no entry at all in the 207 (``omit``); neither is
        stored. Replaces the previous choice; ``fail_persons()`` clears it."""
        self.person_faults.configure(error=error, omit=omit, code=code)

    @property
    def match_order(self) -> tuple[str, ...] | None:
        """How the upsert resolves identifiers naming different persons: None (409100, the
        default) or an order of EXTERNAL_ID/EMAIL/PHONE whose first match wins (matching.py)."""
        return self.store.match_order

    @match_order.setter
    def match_order(self, order: Any) -> None:
        self.store.match_order = check_order(order)

    def tags(self) -> set[str]:
        """Names of the defined tags."""
        return {e["name"] for e in self.store.tag_list()}

    def reset(self) -> None:
        """Back to construction defaults: no data, counters cleared, no latency or faults."""
        self.store.reset()
        self.events.reset()
        self.limiter.reset()
        self.limiter.limit = self._default_rate_limit
        self.require_existing_tags = self._default_require_tags
        self.datetime_format = self._default_datetime_format
        self.tag_missing_person = self._default_tag_missing
        self.contact_removal_failures = 0
        self.match_none_404 = False
        self.store.match_order = None
        self.server.requests_served.clear()
        self.server.latency_ms = 0.0
        self.server.faults.configure(rate=0.0)
        self.server.faults.injected.clear()
        self.person_faults.clear()
        self.person_faults.hits.clear()

    # -- request hooks -----------------------------------------------------------------------
    def _before(self, req: Request) -> Response | None:
        header = req.header("Authorization") or ""
        if not hmac.compare_digest(header.encode("utf-8", "replace"), self._auth_value):
            return E.service_exception(401)
        handler, _, known = self.router.resolve(req.method, req.path)
        if handler is None:  # People's envelope rather than the shared server's default body
            return E.service_exception(405 if known else 404)
        operation = self._templates.get(handler, f"{req.method} {req.path}")
        if not self.limiter.allow(operation):
            return E.service_exception(429)
        return None

    # -- admin API ---------------------------------------------------------------------------
    def _install_admin(self) -> None:
        r = self.router

        def body_of(req: Request) -> dict[str, Any]:
            try:
                body = req.json()
            except BadJSON:
                body = None
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            return body

        def admin(fn: Any) -> Any:
            def wrapped(req: Request) -> Response:
                try:
                    return fn(req)
                except (ValueError, TypeError) as exc:
                    return Response(400, {"error": str(exc)})

            return wrapped

        @admin
        def state(req: Request) -> Response:
            return Response(
                200,
                {
                    "persons": self.persons(),
                    "personsV2": [to_v2(p) for p in self.persons()],
                    "customAttributes": self.custom_attributes(),
                    "tags": sorted(self.tags()),
                    "requestsServed": dict(self.requests_served),
                    "latencyMs": self.latency_ms,
                    "rateLimit": self.rate_limit,
                    "requireExistingTags": self.require_existing_tags,
                    "datetimeFormat": self.datetime_format,
                    "tagMissingPerson": self.tag_missing_person,
                    "faultsInjected": dict(self.faults.injected),
                    "personFailures": self.person_faults.as_dict(),
                },
            )

        @admin
        def reset(req: Request) -> Response:
            self.reset()
            return Response(200, {"ok": True})

        @admin
        def latency(req: Request) -> Response:
            ms = body_of(req).get("ms")
            if not isinstance(ms, int | float) or isinstance(ms, bool) or ms < 0:
                raise ValueError("ms must be a non-negative number")
            self.latency_ms = ms
            return Response(200, {"latencyMs": self.latency_ms})

        @admin
        def faults(req: Request) -> Response:
            b = body_of(req)
            self.faults.configure(
                rate=b.get("rate"),
                kinds=b.get("kinds"),
                seed=b.get("seed"),
                slow_seconds=b.get("slow_seconds"),
            )
            return Response(200, {"rate": self.faults.rate, "kinds": list(self.faults.kinds)})

        @admin
        def rate_limit(req: Request) -> Response:
            value = body_of(req).get("perSecond")
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError("perSecond must be a positive integer or null")
            self.rate_limit = value
            return Response(200, {"rateLimit": self.rate_limit})

        @admin
        def require_tags(req: Request) -> Response:
            value = body_of(req).get("value")
            if not isinstance(value, bool):
                raise ValueError("value must be true or false")
            self.require_existing_tags = value
            return Response(200, {"requireExistingTags": value})

        @admin
        def define(req: Request) -> Response:
            b = body_of(req)
            self.define_custom_attribute(b.get("name"), b.get("dataType"), b.get("objectSchema"))  # type: ignore[arg-type]
            return Response(200, {"customAttributes": self.custom_attributes()})

        @admin
        def person_failures(req: Request) -> Response:
            b = body_of(req)
            self.fail_persons(error=b.get("error") or (), omit=b.get("omit") or (), code=b.get("code"))
            return Response(200, self.person_faults.as_dict())

        @admin
        def datetime_format(req: Request) -> Response:
            self.datetime_format = check_mode(body_of(req).get("value"))
            return Response(200, {"datetimeFormat": self.datetime_format})

        @admin
        def tag_missing(req: Request) -> Response:
            self.tag_missing_person = tag_batches.check_mode(body_of(req).get("value"))
            return Response(200, {"tagMissingPerson": self.tag_missing_person})

        @admin
        def match_order(req: Request) -> Response:
            b = body_of(req)
            self.match_order = b.get("order")
            if "none404" in b:
                self.match_none_404 = bool(b["none404"])
            return Response(200, {"matchOrder": self.match_order, "matchNone404": self.match_none_404})

        r.add("POST", "/__sandbox__/match-order", match_order)
        r.add("POST", "/__sandbox__/tag-missing-person", tag_missing)
        r.add("POST", "/__sandbox__/datetime-format", datetime_format)
        r.add("GET", "/__sandbox__/state", state)
        r.add("POST", "/__sandbox__/reset", reset)
        r.add("POST", "/__sandbox__/latency", latency)
        r.add("POST", "/__sandbox__/faults", faults)
        r.add("POST", "/__sandbox__/rate-limit", rate_limit)
        r.add("POST", "/__sandbox__/require-existing-tags", require_tags)
        r.add("POST", "/__sandbox__/custom-attributes", define)
        r.add("POST", "/__sandbox__/person-failures", person_failures)
