"""The HTTP adapter an Answers API element calls (Starlette on uvicorn, the optional `http` extra).

- ``POST /functions/<name>``: JSON object of parameters in, flat JSON result out.
- ``POST /webhooks/bigcommerce``: the `store/cart/converted` callback; answers the order id.
- ``GET /openapi.json`` and ``GET /docs``: the contract (no authentication, no secrets).

Every POST needs the API key in ``X-Api-Key`` (env ``ANSWERS__API_KEY``); register the hook
with the same header (``--header X-Api-Key=...``). Status codes: 200 result; 400 bad JSON;
401 no/wrong key; 404 unknown function or ``found: false`` (only: a BigCommerce 404 on
something the call refers to, such as a consignment, is 422); 409/422 BigCommerce or
parameter errors; 413 body too large; 502 BigCommerce failed or refused our credentials;
503 BigCommerce rate limit; 504 no answer before the deadline (under Answers' 10 s).
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bc2people.answers.client import BigCommerceClient
from bc2people.answers.config import AnswersConfig
from bc2people.answers.errors import AnswersError, BigCommerceError, ConfigError
from bc2people.answers.registry import REGISTRY, get_function
from bc2people.answers.webhook import CartConverted, Deduper, LRUDeduper, handle_cart_converted

log = logging.getLogger("bc2people.answers")
API_KEY_HEADER = "X-Api-Key"
ENV_API_KEY = "ANSWERS__API_KEY"
ENV_DEADLINE = "ANSWERS__DEADLINE"
DEFAULT_DEADLINE_S = 9.0
MAX_BODY_BYTES = 64 * 1024


def _error(status: int, title: str, errors: dict[str, Any] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": True, "status": status, "title": title, "errors": errors or {}},
                        status_code=status, headers=headers)


def status_for(exc: AnswersError) -> int:
    """The adapter's HTTP status for an error (what the Answers element branches on).

    404 is kept for ``found: false`` (the thing asked for does not exist). A BigCommerce 404
    that reaches here is about something the call refers to (a cart to add to, a
    consignment, a checkout): it becomes 422, with ``errors.bigcommerce_status = "404"``.
    """
    if isinstance(exc, BigCommerceError):
        if exc.status == 404:
            return 422
        if exc.status in (401, 403):
            return 502  # our store credentials were refused: not the caller's fault
        if exc.status == 429:
            return 503
        if exc.status == 504:
            return 504
        if exc.status >= 500:
            return 502
        return exc.status
    return exc.status


class _Clients:
    """One BigCommerce client per worker thread (a requests.Session is not shared across threads)."""

    def __init__(self, config: AnswersConfig) -> None:
        self.config = config
        self._local = threading.local()

    def get(self) -> BigCommerceClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = BigCommerceClient(self.config)
        return client


def create_app(config: AnswersConfig | None = None, api_key: str | None = None, *,
               deduper: Deduper | None = None, deadline_s: float | None = None,
               on_cart_converted: Callable[[CartConverted], None] | None = None) -> Starlette:
    """The Starlette app; `config` and `api_key` default to the environment. No key, no app."""
    config = config or AnswersConfig.from_env()
    api_key = api_key if api_key is not None else os.environ.get(ENV_API_KEY, "")
    if not api_key or len(api_key) < 16:
        raise ConfigError(f"set {ENV_API_KEY} to an API key of at least 16 characters; calls are never unauthenticated")
    deadline = float(deadline_s if deadline_s is not None else os.environ.get(ENV_DEADLINE) or DEFAULT_DEADLINE_S)
    clients = _Clients(config)
    dedupe = deduper if deduper is not None else LRUDeduper()
    expected_key = api_key.encode()

    def authorized(request: Request) -> bool:
        given = request.headers.get(API_KEY_HEADER, "").encode()
        return hmac.compare_digest(given, expected_key)

    async def read_json(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            raise AnswersError(413, f"The body must be at most {MAX_BODY_BYTES} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise AnswersError(413, f"The body must be at most {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            return {}
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise AnswersError(400, "The body is not valid JSON") from None
        except RecursionError:  # nesting deeper than the parser's stack: hostile, never a 500
            raise AnswersError(400, "The body is nested too deeply") from None

    async def run(fn: Callable[[], Any]) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(None, fn), timeout=deadline)
        except TimeoutError:
            raise BigCommerceError(504, f"No answer from BigCommerce within {deadline:g} s") from None

    async def call_function(request: Request) -> Response:
        if not authorized(request):
            return _error(401, f"Missing or wrong {API_KEY_HEADER} header")
        try:
            spec = get_function(request.path_params["name"])
        except KeyError:
            return _error(404, "Unknown function", {"known": ", ".join(REGISTRY)})
        try:
            values = await read_json(request)
            if not isinstance(values, dict):
                raise AnswersError(422, "The body must be a JSON object of parameters")
            result = await run(lambda: spec.call(clients.get(), values))
        except AnswersError as exc:
            status = status_for(exc)
            headers = {"Retry-After": "30"} if status == 503 else None
            errors = dict(exc.errors)
            if isinstance(exc, BigCommerceError) and status != exc.status:
                errors["bigcommerce_status"] = str(exc.status)
            return _error(status, exc.title, errors, headers)
        except Exception as exc:  # noqa: BLE001 - a bot still gets flat JSON; the type alone is logged
            log.error("function %s failed: %s", spec.name, type(exc).__name__)
            return _error(500, "Internal error", {"type": type(exc).__name__})
        status = 404 if result.get("found") is False else 200
        return JSONResponse(result, status_code=status)

    async def webhook(request: Request) -> Response:
        if not authorized(request):
            return _error(401, f"Missing or wrong {API_KEY_HEADER} header")
        try:
            payload = await read_json(request)
            event = handle_cart_converted(payload, dedupe)
        except AnswersError as exc:
            return _error(exc.status, exc.title, exc.errors)
        if on_cart_converted is not None and not event.duplicate:
            on_cart_converted(event)
        return JSONResponse(event.to_dict(), status_code=200)

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page())

    routes = [
        Route("/functions/{name}", call_function, methods=["POST"]),
        Route("/webhooks/bigcommerce", webhook, methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    # No trailing-slash redirects: Starlette builds their Location from the caller's Host
    # header, and a chatbot has no use for them; an unknown path is simply a 404.
    app.router.redirect_slashes = False
    return app


_KIND_SCHEMA: dict[str, dict[str, Any]] = {"integer": {"type": "integer"}, "string": {"type": "string"}, "boolean": {"type": "boolean"},
                "array": {"type": "array", "items": {"type": "object"}}}


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.0 description of the adapter, generated from the registry."""
    error = {"$ref": "#/components/schemas/Error"}
    paths: dict[str, Any] = {}
    for spec in REGISTRY.values():
        props: dict[str, Any] = {}
        for p in spec.params:
            props[p.name] = dict(_KIND_SCHEMA[p.kind])
            if not p.required:
                props[p.name]["default"] = p.default
        schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        required = [p.name for p in spec.params if p.required]
        if required:
            schema["required"] = required
        paths[f"/functions/{spec.name}"] = {"post": {
            "operationId": spec.name, "summary": spec.answers_name, "description": spec.summary,
            "security": [{"ApiKey": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {
                "200": {"description": "Flat JSON result", "content": {"application/json": {"schema": {"type": "object"}}}},
                "404": {"description": "Not found (`found: false`): the thing asked for does not exist"},
                **{code: {"description": text, "content": {"application/json": {"schema": error}}}
                   for code, text in (("400", "Body is not JSON"), ("401", "Missing or wrong API key"),
                                      ("409", "Cart version conflict"), ("413", "Body too large"),
                                      ("422", "Invalid parameter or refused by BigCommerce"),
                                      ("502", "BigCommerce failed"), ("503", "BigCommerce rate limit"),
                                      ("504", "No answer in time"))},
            }}}
    paths["/webhooks/bigcommerce"] = {"post": {
        "operationId": "cart_converted", "summary": "store/cart/converted callback",
        "security": [{"ApiKey": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": [
            "scope", "store_id", "data", "hash", "created_at", "producer"]}}}},
        "responses": {"200": {"description": "order_id, cart_id, duplicate"},
                      "401": {"description": "Missing or wrong API key"},
                      "422": {"description": "Not a store/cart/converted payload"}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "bc2people Answers adapter", "version": "0.1.0",
                 "description": "BigCommerce functions for Infobip Answers chatbots."},
        "paths": paths,
        "components": {
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}},
            "schemas": {"Error": {"type": "object", "properties": {
                "error": {"type": "boolean"}, "status": {"type": "integer"}, "title": {"type": "string"},
                "errors": {"type": "object", "additionalProperties": {"type": "string"}}}}},
        },
    }


def docs_page() -> str:
    """A self-contained HTML page listing every function and its parameters."""
    rows = []
    for spec in REGISTRY.values():
        params = ", ".join(f"<code>{p.name}</code>: {p.kind}" + ("" if p.required else " (optional)")
                           for p in spec.params)
        rows.append(f"<tr><td><code>POST /functions/{spec.name}</code><br>{html.escape(spec.answers_name)}</td>"
                    f"<td>{params}</td><td>{html.escape(spec.summary)}</td></tr>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>bc2people Answers adapter</title></head><body>"
            "<h1>bc2people Answers adapter</h1>"
            f"<p>Send a JSON object of parameters with the <code>{API_KEY_HEADER}</code> header. "
            "Results are flat JSON; read values with dotted paths such as <code>first_name</code> or "
            "<code>addresses.0.city</code>. Machine-readable: <a href='/openapi.json'>/openapi.json</a>.</p>"
            "<table border='1' cellpadding='4'><tr><th>Endpoint</th><th>Parameters</th><th>What it does</th></tr>"
            + "".join(rows) + "</table>"
            "<p><code>POST /webhooks/bigcommerce</code>: the store/cart/converted callback; answers "
            "<code>order_id</code>, <code>cart_id</code> and <code>duplicate</code>.</p></body></html>")


def serve(host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the adapter on uvicorn until interrupted."""
    import uvicorn

    from bc2people.answers.webhook import journal_from_env

    uvicorn.run(create_app(on_cart_converted=journal_from_env()), host=host, port=port, log_level="info",
                access_log=False)
