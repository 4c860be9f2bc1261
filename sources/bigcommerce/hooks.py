"""Webhook subscriptions of one store: ``/v3/hooks`` and ``/v3/hooks/admin``.

`ensure_hooks` makes the store send the given scopes to one destination: it creates what is
missing, re-activates what BigCommerce deactivated (48 h of failed deliveries, or 90 days
unused) and puts the custom headers back when they differ; run twice, it changes nothing.
`hooks_status` reports each scope's hook, the blocklisted domains and (when known) the last
delivery. Errors name the URL, never the token.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import requests

from .helpers import BigCommerceError
from .settings import USER_AGENT

HOOKS_PATH = "/stores/{store_hash}/v3/hooks"


@dataclass
class HookChange:
    """What `ensure_hooks` did for one scope: created, reactivated, updated or unchanged."""

    scope: str
    action: str
    hook_id: int | None = None


@dataclass
class HooksClient:
    """The few hook calls, with the store's token."""

    base_url: str
    store_hash: str
    access_token: str = field(repr=False)
    timeout: float = 15.0

    def _call(self, method: str, path: str = "", *, params: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url.rstrip('/')}{HOOKS_PATH.format(store_hash=self.store_hash)}{path}"
        headers = {"X-Auth-Token": self.access_token, "Accept": "application/json", "User-Agent": USER_AGENT}
        try:
            resp = requests.request(method, url, params=params, json=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise BigCommerceError(f"{method} {url} failed: {type(exc).__name__}", url=url) from None
        if resp.status_code >= 400:
            title = ""
            with contextlib.suppress(ValueError):
                title = str(resp.json().get("title") or "")
            raise BigCommerceError(f"BigCommerce answered HTTP {resp.status_code} for {method} {url}: {title}",
                                   url=url, status=resp.status_code)
        return resp.json() if resp.content else None

    def list(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self._call("GET", params={"page": page, "limit": 250})
            out.extend(body.get("data") or [])
            pages = ((body.get("meta") or {}).get("pagination") or {}).get("total_pages") or 1
            if page >= pages:
                return out
            page += 1

    def admin(self) -> dict[str, Any]:
        return (self._call("GET", "/admin") or {}).get("data") or {}


def ensure_hooks(client: HooksClient, destination: str, scopes: list[str],
                 headers: dict[str, str] | None = None) -> list[HookChange]:
    """Make each scope's hook to ``destination`` exist, active, with ``headers`` (idempotent)."""
    existing = {h["scope"]: h for h in client.list() if h.get("destination") == destination}
    out = []
    for scope in scopes:
        hook = existing.get(scope)
        if hook is None:
            body: dict[str, Any] = {"scope": scope, "destination": destination, "is_active": True}
            if headers:
                body["headers"] = headers
            made = client._call("POST", body=body)["data"]
            out.append(HookChange(scope, "created", made["id"]))
            continue
        change: dict[str, Any] = {}
        if not hook.get("is_active"):
            change["is_active"] = True
        if headers and (hook.get("headers") or {}) != headers:
            change["headers"] = headers
        if change:
            client._call("PUT", f"/{hook['id']}", body=change)
        action = "reactivated" if "is_active" in change else "updated" if change else "unchanged"
        out.append(HookChange(scope, action, hook["id"]))
    return out


def hooks_status(client: HooksClient, destination: str | None, scopes: list[str]) -> dict[str, Any]:
    """Per wanted scope its hook (id, active, status), plus the blocklisted domains."""
    admin = client.admin()
    hooks = [h for h in admin.get("hooks_list") or [] if destination is None or h.get("destination") == destination]
    by_scope = {h["scope"]: h for h in hooks}
    return {
        "scopes": [{"scope": s, "hook_id": (by_scope.get(s) or {}).get("id"),
                    "is_active": (by_scope.get(s) or {}).get("is_active"),
                    "status": (by_scope.get(s) or {}).get("status", "missing" if s not in by_scope else None)}
                   for s in scopes],
        "blocked_domains": admin.get("blocked_domains") or [],
    }
