"""`BigCommerceSandbox`: a local stand-in for ``https://api.bigcommerce.com/stores/{hash}``.

Every non-admin request goes through, in order: latency and injected faults (from
`sandbox.http.SandboxServer`), ``on_request``, the store hash (unknown → 404), ``X-Auth-Token``
(missing or wrong → 401 with the documented body; V2 paths get the V2 array shape), the
``Accept`` header (given and not JSON → 406), the quota (exhausted → 429 with
``X-Retry-After``), then ``Content-Type`` on POST/PUT (not JSON → 415) and the route.
Every such response carries the four ``X-Rate-Limit-*`` headers (401/404 too; they are not
counted against the quota). This applies equally to routes other parts add to ``router``
(``sandbox/bigcommerce/commerce.py``).

Routes: ``GET/POST/PUT/DELETE /stores/{hash}/v3/customers`` (see
`sandbox.bigcommerce.customers`) and ``GET /stores/{hash}/v2/time`` → ``{"time": unix}``.

Admin API (JSON in and out; never authenticated, delayed, faulted or counted):

==========================================  ===============================================
``GET  /__sandbox__/stats``                 customers, clock, quota, quota_windows,
                                            requests_served, faults_injected, latency_ms
``POST /__sandbox__/customers``             object → `create_customer` (stamped by the clock);
                                            array → `add_customers` (kept as given)
``POST /__sandbox__/customers/generate``    ``{"n", "seed", "start_id"?, "nasty"?}`` → generated and added
``GET  /__sandbox__/customers/{id}``        the full stored object (404 if absent)
``PATCH|PUT /__sandbox__/customers/{id}``   fields → `update_customer` (``"touch": false`` keeps date_modified)
``DELETE /__sandbox__/customers/{id}``      `delete_customer`
``GET  /__sandbox__/clock``                 ``{"now", "frozen"}``
``POST /__sandbox__/clock``                 one of ``{"set": epoch}``, ``{"advance": s}``,
                                            ``{"freeze": true, "epoch"?}``, ``{"unfreeze": true}``
``POST /__sandbox__/latency``               ``{"ms": 150}``
``POST /__sandbox__/faults``                ``{"rate", "kinds"?, "seed"?, "slow_seconds"?}``
``POST /__sandbox__/quota``                 ``{"quota": 150, "window_s": 30}`` or ``{"quota": null}``
``POST /__sandbox__/quota/consume``         ``{"n": 40}`` (another app spends quota)
==========================================  ===============================================

Admin errors are ``400 {"error": "..."}``.
"""

from __future__ import annotations

import copy
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from bc2people.sandbox.bigcommerce import customers as customers_routes
from bc2people.sandbox.bigcommerce import scopes
from bc2people.sandbox.bigcommerce.clock import Clock
from bc2people.sandbox.bigcommerce.errors import (
    UNAUTHORIZED_TITLE,
    error_for,
    fault_error,
    v2_error,
    v3_error,
)
from bc2people.sandbox.bigcommerce.quota import DEFAULT_WINDOW_S, Quota
from bc2people.sandbox.bigcommerce.store import CustomerStore
from bc2people.sandbox.bigcommerce.writes import (
    CustomerError,
    new_customer,
    new_uuid,
    updated_customer,
    validate_post,
    validate_put,
)
from bc2people.sandbox.http import FaultPlan, Request, Response, Router, SandboxServer

if TYPE_CHECKING:
    from bc2people.sandbox.bigcommerce.commerce import Commerce

_STORE_PATH = re.compile(r"^/stores/([^/]+)(/.*)?$")
_JSON_TYPES = ("application/json", "application/problem+json")


class BigCommerceSandbox:
    """A BigCommerce store served over real HTTP on 127.0.0.1 (see the module docstring)."""

    commerce: Commerce  # catalog, carts, checkouts, orders, hooks: attached by `commerce.install`

    def __init__(
        self,
        store_hash: str = "sandbox1",
        access_token: str = "sandbox-token",
        quota: tuple[int, float] | None = None,
        seed: int = 0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.store_hash = store_hash
        self._access_token = access_token
        self.clock = Clock()
        self.store = CustomerStore()
        self.quota = Quota(*(quota if quota is not None else (None, DEFAULT_WINDOW_S)))
        self.on_request: Callable[[Request], None] | None = None
        self.scoped_tokens: dict[str, frozenset[str]] = {}  # extra tokens -> their OAuth scopes (403 without)
        # Modes for behaviour the docs leave open (see `sandbox.bigcommerce.customers`):
        self.strict_date_bounds = False  # date_*:min / :max exclusive instead of inclusive
        self.refuse_encoded_dates = False  # 422 for date filters sent with %3A
        self.address_edits_touch_customer = True  # `edit_address` bumps the customer's date_modified
        self._rng = random.Random(seed)
        self.router = Router()
        customers_routes.install(self, self.router)
        self.router.add("GET", "/stores/{store_hash}/v2/time", lambda req: Response(200, {"time": self.clock.now()}))
        self._install_admin()
        self._server = SandboxServer(
            self.router, host=host, port=port, before=self._before, after=self._after, fault_errors=fault_error
        )
        from bc2people.sandbox.bigcommerce import commerce

        commerce.install(self)

    def __repr__(self) -> str:
        return f"BigCommerceSandbox(store_hash={self.store_hash!r}, customers={len(self.store)}, url={self.base_url!r})"

    # -- lifecycle --------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, standing in for ``https://api.bigcommerce.com``."""
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def access_token(self) -> str:
        """The one ``X-Auth-Token`` the store accepts (never part of the repr)."""
        return self._access_token

    def start(self) -> BigCommerceSandbox:
        """Serve in a background thread; returns self."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.stop()

    def __enter__(self) -> BigCommerceSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- knobs shared with SandboxServer ----------------------------------------------
    @property
    def latency_ms(self) -> float:
        return self._server.latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        self._server.latency_ms = float(value)

    @property
    def faults(self) -> FaultPlan:
        return self._server.faults

    @property
    def requests_served(self) -> Counter[str]:
        return self._server.requests_served

    @property
    def quota_windows(self) -> list[dict[str, Any]]:
        """Per-window stats since the quota was last set:
        ``{"window", "requests", "refused", "consumed_by_others"}``; ``requests`` counts the
        requests served within the quota, ``refused`` the 429s."""
        return self.quota.windows

    def set_quota(self, quota: int | None, window_s: float = DEFAULT_WINDOW_S) -> None:
        """``set_quota(150, 30.0)`` Standard, ``(450, 30.0)`` Pro, ``set_quota(None)`` unlimited.

        Starts a fresh window and a fresh ``quota_windows`` history.
        """
        self.quota.configure(quota, window_s)

    def consume_quota(self, n: int) -> int:
        """Another app on the store spends ``n`` requests of the current window; returns how many it got."""
        return self.quota.consume_others(n)

    # -- data -------------------------------------------------------------------------
    def add_customers(self, customers: Iterable[dict[str, Any]]) -> int:
        """Bulk load full customer objects as given (ids and dates kept); returns how many."""
        return self.store.put_many(customers)

    def customer(self, customer_id: int) -> dict[str, Any] | None:
        """A deep copy of the stored object, or None."""
        with self.store.lock:
            c = self.store.get(customer_id)
            return None if c is None else copy.deepcopy(c)

    def customers(self) -> list[dict[str, Any]]:
        """Every stored object (the live dicts; do not mutate them), in id order."""
        return self.store.all()

    def create_customers(self, items: Any) -> list[dict[str, Any]]:
        """Validate and create like ``POST /v3/customers``; raises CustomerError."""
        validate_post(items)
        with self.store.lock:
            seen: set[str] = set()
            for i, item in enumerate(items):
                key = item["email"].casefold()
                if key in seen or self.store.id_for_email(key) is not None:
                    raise CustomerError(
                        422, "This email address is already in use by a customer.", {f"{i}.email": "already in use"}
                    )
                seen.add(key)
            now = self.clock.iso()
            created = [
                new_customer(item, self.store.allocate_id(), now, new_uuid(self._rng)) for item in items
            ]
            self.store.put_many(created)
            return copy.deepcopy(created)

    def create_customer(self, **fields: Any) -> dict[str, Any]:
        """Create one customer (``email``, ``first_name``, ``last_name`` required); dates from the clock."""
        return self.create_customers([fields])[0]

    def update_customers(self, items: Any) -> list[dict[str, Any]]:
        """Validate and apply like ``PUT /v3/customers``; raises CustomerError."""
        validate_put(items)
        with self.store.lock:
            now = self.clock.iso()
            out: list[dict[str, Any]] = []
            for i, item in enumerate(items):
                existing = self.store.get(item["id"])
                if existing is None:
                    raise CustomerError(422, "Update customers failed.", {f"{i}.id": f"customer {item['id']} not found"})
                if "email" in item:
                    holder = self.store.id_for_email(item["email"])
                    if holder is not None and holder != item["id"]:
                        raise CustomerError(
                            422, "This email address is already in use by a customer.", {f"{i}.email": "already in use"}
                        )
                out.append(updated_customer(existing, item, now))
            try:
                self.store.put_many(out)
            except ValueError as exc:  # two items of the batch claim one email
                raise CustomerError(422, "This email address is already in use by a customer.", {"email": str(exc)}) from exc
            return copy.deepcopy(out)

    def update_customer(self, customer_id: int, *, touch: bool = True, **fields: Any) -> dict[str, Any]:
        """Change any fields (sub-resources and dates too) of one customer.

        ``date_modified`` becomes the clock's now unless ``touch=False`` or it is given,
        which lets tests model edits that do not bump it (address changes, per the docs).
        Raises KeyError for an unknown id, ValueError for an email already in use.
        """
        with self.store.lock:
            existing = self.store.get(customer_id)
            if existing is None:
                raise KeyError(f"customer {customer_id} not found")
            new = copy.deepcopy(existing)
            new.update(copy.deepcopy({k: v for k, v in fields.items() if k != "id"}))
            if touch and "date_modified" not in fields:
                new["date_modified"] = self.clock.iso()
            self.store.replace(new)
            return copy.deepcopy(new)

    def edit_address(self, customer_id: int, index: int = 0, **fields: Any) -> dict[str, Any]:
        """Change fields of one of a customer's addresses (``index`` in its ``addresses``), as
        ``PUT /v3/customers/addresses`` would.

        Whether that bumps the customer's ``date_modified`` is undocumented (and the webhook
        docs say ``store/customer/updated`` ignores address changes): it does unless
        ``address_edits_touch_customer`` is False. Raises KeyError / IndexError.
        """
        with self.store.lock:
            existing = self.store.get(customer_id)
            if existing is None:
                raise KeyError(f"customer {customer_id} not found")
            new = copy.deepcopy(existing)
            addresses = new.get("addresses") or []
            addresses[index].update(copy.deepcopy(fields))
            if self.address_edits_touch_customer:
                new["date_modified"] = self.clock.iso()
            self.store.replace(new)
            return copy.deepcopy(new)

    def delete_customer(self, customer_id: int) -> bool:
        """Delete one customer; False when it did not exist."""
        return bool(self.store.delete([customer_id]))

    # -- request pipeline -------------------------------------------------------------
    def _before(self, req: Request) -> Response | None:
        if self.on_request is not None:
            self.on_request(req)
        m = _STORE_PATH.match(req.path)
        if m is None or m.group(1) != self.store_hash:
            return error_for(req.path, 404, "The requested resource was not found." if "/v2/" in req.path
                             else "Store not found")
        token = req.header("X-Auth-Token")
        if token != self._access_token and token not in self.scoped_tokens:
            if "/v2/" in req.path:
                return v2_error(401, "You have not been authorized to access this resource. Check the X-Auth-Token.")
            return v3_error(401, UNAUTHORIZED_TITLE)
        if token != self._access_token and not scopes.allowed(req.method, m.group(2) or "",
                                                             self.scoped_tokens.get(token or "", frozenset())):
            return error_for(req.path, 403, scopes.MISSING_SCOPE_TITLE)
        accept = (req.header("Accept") or "").lower()
        if accept and not any(t in accept for t in ("json", "*/*", "application/*")):
            return error_for(req.path, 406, "Not Acceptable: this API only produces application/json")
        grant = self.quota.consume()
        req.__dict__["_bc_grant"] = grant
        if not grant.allowed:
            return error_for(req.path, 429, "Too many requests. The store's request quota is exhausted.")
        if req.method in ("POST", "PUT", "PATCH") and req.body:
            ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
            if ctype not in _JSON_TYPES:
                return error_for(req.path, 415, "Unsupported Media Type: send Content-Type: application/json")
        return None

    def _after(self, req: Request, resp: Response) -> None:
        grant = req.__dict__.get("_bc_grant") or self.quota.peek()
        for k, v in grant.headers().items():
            resp.headers.setdefault(k, v)

    # -- admin API --------------------------------------------------------------------
    def _install_admin(self) -> None:
        from bc2people.sandbox.bigcommerce.admin import install as install_admin

        install_admin(self, self.router)
