"""Webhook deliveries of the BigCommerce sandbox: thin payloads, signed, retried, deactivated, blocklisted.

What BigCommerce documents (reference notes §7), played with real HTTP:

- A change fires the hooks whose scope matches (``store/customer/*`` matches one level below
  ``store/customer/``; ``store/customer/address/*`` is its own family, as in the docs'
  scope lists). The payload is thin: ``scope``, ``store_id``, ``data`` (``type``, ``id``, ...),
  ``hash`` (SHA-1 of the rest), ``created_at`` (store clock), ``producer``.
- Each delivery is signed under Standard Webhooks: ``webhook-id`` (one per message, kept
  across retries), ``webhook-timestamp`` (the attempt's time), ``webhook-signature``
  ``v1,<base64 HMAC-SHA256(client secret, id.timestamp.body)>``; the hook's custom
  ``headers`` go along.
- A failed attempt (non-2xx, timeout, refused) is retried after `RETRY_SCHEDULE_S`;
  after the last the hook is deactivated (``is_active`` false, status ``deactivated``).
- A destination domain whose success ratio over `BLOCK_WINDOW_S` falls under 90 % (after
  `BLOCK_MIN_REQUESTS` attempts) is blocklisted for `BLOCK_FOR_S`: its deliveries wait.
- ``time_factor`` compresses every one of those durations for tests (60 s / factor).

A registered destination is ``https://...:443``; ``state.destination_overrides`` maps it to
the local URL actually POSTed to (no override: the payload is recorded, nothing is sent).
``GET /v3/hooks/admin`` reports the hooks with their status and the blocked domains.
"""

from __future__ import annotations

import base64
import collections
import copy
import hashlib
import heapq
import hmac
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from bc2people.sandbox.bigcommerce.commerce_state import CommerceState
from bc2people.sandbox.http import Request, Response, Router

RETRY_SCHEDULE_S = (60, 180, 300, 600, 900, 1800, 3600, 7200, 21600, 50400, 86400)
BLOCK_WINDOW_S = 120.0
BLOCK_MIN_REQUESTS = 100
BLOCK_RATIO = 0.9
BLOCK_FOR_S = 180.0
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"


def scope_matches(hook_scope: str, scope: str) -> bool:
    """``store/customer/*`` matches ``store/customer/updated`` but not ``store/customer/address/updated``."""
    if hook_scope == scope:
        return True
    if hook_scope.endswith("/*"):
        prefix = hook_scope[:-1]
        return scope.startswith(prefix) and "/" not in scope[len(prefix):]
    return False


def payload_hash(payload: dict[str, Any]) -> str:
    """SHA-1 of the payload without its own ``hash`` (compact sorted JSON)."""
    body = {k: v for k, v in payload.items() if k != "hash"}
    return hashlib.sha1(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The Standard Webhooks ``webhook-signature`` value for one attempt."""
    digest = hmac.new(secret.encode(), f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass(order=True)
class _Attempt:
    due: float
    seq: int
    hook_id: int = field(compare=False)
    msg_id: str = field(compare=False)
    body: str = field(compare=False)
    first_at: float = field(compare=False)
    tries: int = field(compare=False, default=0)


class WebhookSender:
    """Delivers a store's webhook payloads to its hooks (see the module docstring)."""

    def __init__(self, state: CommerceState, *, client_secret: str = DEFAULT_CLIENT_SECRET,
                 time_factor: float = 1.0, timeout: float = 5.0, workers: int = 4) -> None:
        self.state = state
        self.client_secret = client_secret
        self.time_factor = float(time_factor)
        self.timeout = timeout
        self.workers = workers
        self.attempts: list[dict[str, Any]] = []  # every attempt: hook_id, msg_id, status, ok, at
        self.last_delivery: dict[int, dict[str, Any]] = {}  # hook id -> last attempt
        self._heap: list[_Attempt] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self._domain_log: dict[str, collections.deque[tuple[float, bool]]] = {}
        self._blocked_until: dict[str, float] = {}
        self._block_reasons: dict[str, dict[str, Any]] = {}
        self.paused = False  # tests: hold every delivery (as if the dispatcher were down)

    # -- durations ---------------------------------------------------------------------
    def _s(self, seconds: float) -> float:
        return seconds / self.time_factor

    # -- producing ---------------------------------------------------------------------
    def emit(self, scope: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Build the payload of one event and queue it for every active matching hook.

        Returns the payload, or None when no active hook matches (nothing recorded)."""
        state = self.state
        with state.lock:
            hooks = [h for h in state.hooks.values() if h["is_active"] and scope_matches(h["scope"], scope)]
            if not hooks:
                return None
            payload: dict[str, Any] = {"scope": scope, "store_id": state.store_id, "data": data,
                                       "created_at": state.now(), "producer": f"stores/{state.store_hash}"}
            payload["hash"] = payload_hash(payload)
            state.webhook_payloads.append(payload)
            body = json.dumps(payload, separators=(",", ":"))
            now = time.monotonic()
            queued = [_Attempt(now, next(self._seq), h["id"], f"msg_{uuid.uuid4().hex}", body, now) for h in hooks]
        with self._cv:
            for a in queued:
                heapq.heappush(self._heap, a)
            self._cv.notify_all()
        self._ensure_threads()
        return payload

    def has_hooks(self) -> bool:
        """Whether any hook is active (callers skip building events otherwise)."""
        return any(h["is_active"] for h in list(self.state.hooks.values()))

    # -- delivering --------------------------------------------------------------------
    def _ensure_threads(self) -> None:
        with self._cv:
            if self._threads or self._stopped:
                return
            for i in range(self.workers):
                t = threading.Thread(target=self._work, name=f"bc-webhooks-{i}", daemon=True)
                self._threads.append(t)
                t.start()

    def stop(self) -> None:
        """Stop delivering (queued attempts are dropped)."""
        with self._cv:
            self._stopped = True
            self._cv.notify_all()

    def pending(self) -> int:
        """Attempts queued (including retries not yet due)."""
        with self._cv:
            return len(self._heap)

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._stopped and (self.paused or not self._heap or self._heap[0].due > time.monotonic()):
                    wait = None if (self.paused or not self._heap) else max(0.0, self._heap[0].due - time.monotonic())
                    self._cv.wait(timeout=wait if wait is not None else 0.5)
                if self._stopped:
                    return
                attempt = heapq.heappop(self._heap)
            self._attempt(attempt)

    def _attempt(self, a: _Attempt) -> None:
        state = self.state
        with state.lock:
            hook = copy.deepcopy(state.hooks.get(a.hook_id))
        if hook is None or not hook["is_active"]:
            return  # deleted or deactivated meanwhile: BigCommerce drops its queue
        url = state.destination_overrides.get(hook["destination"])
        if url is None:
            return
        domain = urlsplit(hook["destination"]).hostname or ""
        now = time.monotonic()
        blocked = self._blocked_until.get(domain, 0.0)
        if blocked > now:
            self._requeue(a, blocked)
            return
        ts = int(time.time())
        headers = {"Content-Type": "application/json", **(hook.get("headers") or {}),
                   "webhook-id": a.msg_id, "webhook-timestamp": str(ts),
                   "webhook-signature": sign(self.client_secret, a.msg_id, ts, a.body)}
        try:
            status: int | str = requests.post(url, data=a.body.encode(), headers=headers, timeout=self.timeout).status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        ok = isinstance(status, int) and 200 <= status < 300
        record = {"hook_id": a.hook_id, "msg_id": a.msg_id, "status": status, "ok": ok, "at": time.time(),
                  "try": a.tries + 1}
        with state.lock:
            self.attempts.append(record)
            self.last_delivery[a.hook_id] = record
            state.deliveries.append({"hook_id": a.hook_id, "url": url, "hash": json.loads(a.body)["hash"],
                                     "status": status})
        self._note_domain(domain, ok, status)
        if ok:
            return
        if a.tries >= len(RETRY_SCHEDULE_S):
            with state.lock:
                live = state.hooks.get(a.hook_id)
                if live is not None:
                    live["is_active"] = False
                    live["status"] = "deactivated"
                    live["updated_at"] = state.now()
            return
        delay = self._s(RETRY_SCHEDULE_S[a.tries])
        a.tries += 1
        self._requeue(a, time.monotonic() + delay)

    def _requeue(self, a: _Attempt, due: float) -> None:
        a.due, a.seq = due, next(self._seq)
        with self._cv:
            heapq.heappush(self._heap, a)
            self._cv.notify_all()

    def _note_domain(self, domain: str, ok: bool, status: int | str) -> None:
        now = time.monotonic()
        with self._cv:
            log = self._domain_log.setdefault(domain, collections.deque())
            log.append((now, ok))
            horizon = now - self._s(BLOCK_WINDOW_S)
            while log and log[0][0] < horizon:
                log.popleft()
            if ok or len(log) < BLOCK_MIN_REQUESTS:
                return
            good = sum(1 for _, k in log if k)
            if good / len(log) < BLOCK_RATIO:
                self._blocked_until[domain] = now + self._s(BLOCK_FOR_S)
                self._block_reasons[domain] = {"failure_description": f"success ratio {good}/{len(log)} under 90%",
                                               "count": len(log) - good, "timestamp": int(time.time()),
                                               "last_status": str(status)}
                log.clear()

    # -- reporting ---------------------------------------------------------------------
    def blocked_domains(self) -> list[dict[str, Any]]:
        """Domains on the denylist now, in the spec's ``blocked_domains`` shape."""
        now = time.monotonic()
        with self._cv:
            return [{"destination": d, "time_left": max(1, round((until - now) * self.time_factor)),
                     "reasons": [{k: v for k, v in self._block_reasons.get(d, {}).items() if k != "last_status"}]}
                    for d, until in self._blocked_until.items() if until > now]

    def admin(self, req: Request) -> Response:
        """``GET /v3/hooks/admin`` (``is_active`` filters the hooks)."""
        want = req.query.get("is_active")
        with self.state.lock:
            hooks = []
            for h in sorted(self.state.hooks.values(), key=lambda h: h["id"]):
                if want is not None and str(h["is_active"]).lower() != want.lower():
                    continue
                out = copy.deepcopy(h)
                out["status"] = h.get("status") if not h["is_active"] and h.get("status") else (
                    "active" if h["is_active"] else "inactive")
                hooks.append(out)
        return Response(200, {"data": {"emails": list(self.state.__dict__.get("admin_emails", [])),
                                       "hooks_list": hooks, "blocked_domains": self.blocked_domains()},
                              "meta": {"pagination": {"total": len(hooks), "count": len(hooks), "per_page": 50,
                                                      "current_page": 1, "total_pages": 1}}})


def customer_events(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """The webhook events one customer change fires (scope, data).

    ``store/customer/updated`` fires for changes of the customer's own fields only (not for
    ``date_modified`` alone, not for addresses); address changes fire
    ``store/customer/address/{created,updated,deleted}`` with the address id and its customer."""
    if old is None and new is None:
        return []
    cid = int((new or old or {})["id"])
    if old is None:
        return [("store/customer/created", {"type": "customer", "id": cid})]
    if new is None:
        return [("store/customer/deleted", {"type": "customer", "id": cid})]
    out: list[tuple[str, dict[str, Any]]] = []
    skip = {"addresses", "date_modified", "address_count"}
    if any(old.get(k) != new.get(k) for k in (set(old) | set(new)) - skip):
        out.append(("store/customer/updated", {"type": "customer", "id": cid}))
    before = {a.get("id"): a for a in old.get("addresses") or []}
    after = {a.get("id"): a for a in new.get("addresses") or []}
    for aid in sorted(set(before) | set(after), key=lambda x: (x is None, x)):
        kind = "created" if aid not in before else "deleted" if aid not in after else (
            "updated" if before[aid] != after[aid] else None)
        if kind is not None:
            out.append((f"store/customer/address/{kind}",
                        {"type": "customer", "id": aid, "address": {"customer_id": cid}}))
    return out


def install(sandbox: Any, state: CommerceState, router: Router, v3: str) -> WebhookSender:
    """Attach ``state.webhooks`` (a `WebhookSender`), the admin route, and the change listeners."""
    sender = WebhookSender(state)
    state.webhooks = sender
    router.add("GET", f"{v3}/hooks/admin", sender.admin)

    def on_customers(changes: list[tuple[dict[str, Any] | None, dict[str, Any] | None]]) -> None:
        if not sender.has_hooks():
            return
        for old, new in changes:
            for scope, data in customer_events(old, new):
                sender.emit(scope, data)

    store = getattr(sandbox, "store", None)
    if store is not None and hasattr(store, "listeners"):
        store.listeners.append(on_customers)
    return sender
