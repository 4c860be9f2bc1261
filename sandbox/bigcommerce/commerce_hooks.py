"""Webhooks V3 for the BigCommerce sandbox: `/v3/hooks` and the `store/cart/converted` callback.

Destinations must be HTTPS on port 443 (as BigCommerce requires), so a test cannot receive
a callback directly; every payload produced is kept in `state.webhook_payloads`, and
`state.destination_overrides` maps a registered destination to a local URL for delivery.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from typing import Any
from urllib.parse import urlsplit

import requests

from bc2people.sandbox.bigcommerce.commerce_state import CommerceState, int_param, paginate, v3_error
from bc2people.sandbox.http import BadJSON, Request, Response, Router

MAX_HOOKS_PER_SCOPE = 10
KNOWN_SCOPE_PREFIXES = ("store/", "stores/")


def _invalid(field: str, message: str) -> Response:
    return v3_error(422, "JSON data is missing or invalid", {field: message})


def _validate(body: Any, partial: bool = False) -> tuple[dict[str, Any] | None, Response | None]:
    if not isinstance(body, dict):
        return None, v3_error(400, "Bad Request", {"body": "The request body must be a JSON object."})
    out: dict[str, Any] = {}
    for key in ("scope", "destination"):
        if key not in body:
            if partial:
                continue
            return None, _invalid(key, "error.path.missing.")
        if not isinstance(body[key], str) or not body[key].strip():
            return None, _invalid(key, "must be a non-empty string")
        out[key] = body[key].strip()
    if "scope" in out and not out["scope"].startswith(KNOWN_SCOPE_PREFIXES):
        return None, _invalid("scope", "unknown scope")
    if "destination" in out:
        parts = urlsplit(out["destination"])
        if parts.scheme != "https" or not parts.hostname:
            return None, _invalid("destination", "The destination must be an HTTPS URL.")
        try:
            port = parts.port
        except ValueError:
            return None, _invalid("destination", "The destination has an invalid port.")
        if port not in (None, 443):
            return None, _invalid("destination", "Custom ports are not supported; use port 443.")
    if "is_active" in body:
        if not isinstance(body["is_active"], bool):
            return None, _invalid("is_active", "must be a boolean")
        out["is_active"] = body["is_active"]
    if "headers" in body and body["headers"] is not None:
        headers = body["headers"]
        if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            return None, _invalid("headers", "must be an object of string values")
        out["headers"] = dict(headers)
    return out, None


def create_hook(state: CommerceState, req: Request) -> Response:
    try:
        body = req.json()
    except BadJSON:
        return v3_error(400, "Bad Request", {"body": "The request body is not valid JSON."})
    fields, error = _validate(body)
    if error is not None or fields is None:
        return error or _invalid("body", "invalid")
    with state.lock:
        same_scope = [h for h in state.hooks.values() if h["scope"] == fields["scope"]]
        if any(h["destination"] == fields["destination"] for h in same_scope):
            return _invalid("destination", "A webhook for this scope and destination already exists.")
        if len(same_scope) >= MAX_HOOKS_PER_SCOPE:
            return _invalid("scope", f"At most {MAX_HOOKS_PER_SCOPE} webhooks per scope.")
        now = state.now()
        hook = {"id": state.next_id("hook", 18048287), "client_id": state.client_id, "store_hash": state.store_hash,
                "scope": fields["scope"], "destination": fields["destination"],
                "is_active": fields.get("is_active", True), "headers": fields.get("headers"),
                "created_at": now, "updated_at": now}
        state.hooks[hook["id"]] = hook
        return Response(200, {"data": copy.deepcopy(hook), "meta": {}})


def list_hooks(state: CommerceState, req: Request) -> Response:
    q = req.query
    try:
        page = int_param(req, "page", 1) or 1
        limit = int_param(req, "limit", 50) or 50
    except ValueError as exc:
        return _invalid("page", str(exc))
    with state.lock:
        hits = [copy.deepcopy(h) for h in sorted(state.hooks.values(), key=lambda h: h["id"])
                if ("scope" not in q or h["scope"] == q["scope"])
                and ("destination" not in q or h["destination"] == q["destination"])
                and ("is_active" not in q or str(h["is_active"]).lower() == q["is_active"].lower())]
    chunk, meta = paginate(hits, page, limit)
    return Response(200, {"data": chunk, "meta": meta})


def _hook(state: CommerceState, req: Request) -> dict[str, Any] | None:
    try:
        return state.hooks.get(int(req.path_params["hook_id"]))
    except ValueError:
        return None


def get_hook(state: CommerceState, req: Request) -> Response:
    with state.lock:
        hook = _hook(state, req)
        if hook is None:
            return v3_error(404, "Webhook not found")
        return Response(200, {"data": copy.deepcopy(hook), "meta": {}})


def update_hook(state: CommerceState, req: Request) -> Response:
    try:
        body = req.json()
    except BadJSON:
        return v3_error(400, "Bad Request", {"body": "The request body is not valid JSON."})
    fields, error = _validate(body, partial=True)
    if error is not None or fields is None:
        return error or _invalid("body", "invalid")
    with state.lock:
        hook = _hook(state, req)
        if hook is None:
            return v3_error(404, "Webhook not found")
        hook.update(fields)
        hook["updated_at"] = state.now()
        return Response(200, {"data": copy.deepcopy(hook), "meta": {}})


def delete_hook(state: CommerceState, req: Request) -> Response:
    with state.lock:
        hook = _hook(state, req)
        if hook is None:
            return v3_error(404, "Webhook not found")
        del state.hooks[hook["id"]]
        return Response(200, {"data": copy.deepcopy(hook), "meta": {}})


def payload_hash(payload: dict[str, Any]) -> str:
    """SHA-1 of the payload (without its own `hash`), as compact sorted JSON."""
    body = {k: v for k, v in payload.items() if k != "hash"}
    return hashlib.sha1(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def cart_converted(state: CommerceState, order: dict[str, Any]) -> dict[str, Any]:
    """Mark the order's cart converted, record the payload and deliver it to active hooks."""
    with state.lock:
        cart = state.carts.get(order["cart_id"])
        if cart is not None:
            cart["converted"] = True
        payload: dict[str, Any] = {
            "scope": "store/cart/converted", "store_id": state.store_id,
            "data": {"type": "cart", "id": order["cart_id"], "orderId": order["id"]},
            "created_at": state.now(), "producer": f"stores/{state.store_hash}",
        }
        payload["hash"] = payload_hash(payload)
        state.webhook_payloads.append(payload)
        targets = [copy.deepcopy(h) for h in state.hooks.values()
                   if h["is_active"] and h["scope"] == "store/cart/converted"]
    for hook in targets:
        url = state.destination_overrides.get(hook["destination"])
        if url is not None:
            threading.Thread(target=_deliver, args=(state, hook, url, payload), daemon=True).start()
    return payload


def _deliver(state: CommerceState, hook: dict[str, Any], url: str, payload: dict[str, Any]) -> None:
    headers = {"Content-Type": "application/json", **(hook.get("headers") or {})}
    try:
        status: int | str = requests.post(url, json=payload, headers=headers, timeout=5).status_code
    except requests.RequestException as exc:
        status = type(exc).__name__
    with state.lock:
        state.deliveries.append({"hook_id": hook["id"], "url": url, "hash": payload["hash"], "status": status})


def register(router: Router, state: CommerceState, v3: str) -> None:
    """Add the hooks routes under the store's V3 prefix."""
    router.add("POST", f"{v3}/hooks", lambda r: create_hook(state, r))
    router.add("GET", f"{v3}/hooks", lambda r: list_hooks(state, r))
    router.add("GET", f"{v3}/hooks/{{hook_id}}", lambda r: get_hook(state, r))
    router.add("PUT", f"{v3}/hooks/{{hook_id}}", lambda r: update_hook(state, r))
    router.add("DELETE", f"{v3}/hooks/{{hook_id}}", lambda r: delete_hook(state, r))
