"""The `store/cart/converted` webhook: validate the payload, drop redeliveries, yield the order id.

BigCommerce signs nothing: it sends the custom headers registered with the hook, so the
receiver authenticates those (the HTTP adapter registers and checks its API-key header).
Deliveries may repeat, and a re-fired event can carry a new `created_at` and so a new
`hash`: an event is a duplicate when its hash, or its (cart id, order id) pair, was seen
before. A cart may give several orders (the checkouts spec allows it), so the pair, not the
cart id alone, identifies the conversion.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from bc2people.answers.client import BigCommerceClient
from bc2people.answers.errors import AnswersError

SCOPE = "store/cart/converted"
HASH_RE = re.compile(r"^[0-9a-fA-F]{40}$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
JOURNAL_ENV = "ANSWERS__CART_JOURNAL"  # the journal file the sync job reads (its EVENTS__CART_JOURNAL)


class WebhookError(AnswersError):
    """A payload that is not a valid `store/cart/converted` callback (422; 400 when not an object)."""


@dataclass(frozen=True)
class CartConverted:
    """One validated callback; `duplicate` is True when its hash was seen before."""

    order_id: int
    cart_id: str
    store_id: str
    producer: str
    hash: str
    created_at: int
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Deduper(Protocol):
    """Remembers keys: `check_and_add` is True when the key was already there."""

    def check_and_add(self, key: str) -> bool: ...


class LRUDeduper:
    """In-memory, thread-safe, keeps the `max_size` most recent keys (two per event)."""

    def __init__(self, max_size: int = 10_000) -> None:
        self.max_size = max_size
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def check_and_add(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return True
            self._seen[key] = None
            if len(self._seen) > self.max_size:
                self._seen.popitem(last=False)
            return False

    def __len__(self) -> int:
        return len(self._seen)


def _field_errors(payload: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}

    def need(key: str, ok: bool, message: str) -> None:
        if not ok:
            errors[key] = message if key in payload or "." in key else "is required"

    need("scope", payload.get("scope") == SCOPE, f"must be {SCOPE!r}")
    need("store_id", isinstance(payload.get("store_id"), str) and payload["store_id"].isdigit(),
         "must be a string of digits")
    need("hash", isinstance(payload.get("hash"), str) and bool(HASH_RE.match(payload["hash"])),
         "must be a 40-character hex SHA-1")
    created = payload.get("created_at")
    need("created_at", isinstance(created, int) and not isinstance(created, bool) and created >= 0,
         "must be Unix seconds (an integer)")
    need("producer", isinstance(payload.get("producer"), str) and payload["producer"].startswith("stores/"),
         "must look like 'stores/<store_hash>'")
    data = payload.get("data")
    if not isinstance(data, dict):
        errors["data"] = "is required" if "data" not in payload else "must be an object"
        return errors
    if data.get("type") != "cart":
        errors["data.type"] = "must be 'cart'"
    if not (isinstance(data.get("id"), str) and UUID_RE.match(data["id"])):
        errors["data.id"] = "must be the cart UUID"
    order_id = data.get("orderId")
    if not (isinstance(order_id, int) and not isinstance(order_id, bool) and order_id > 0):
        errors["data.orderId"] = "must be a positive integer order id"
    return errors


def parse_cart_converted(payload: Any) -> CartConverted:
    """Validate a callback body (already decoded JSON); raises `WebhookError` naming each bad field."""
    if not isinstance(payload, dict):
        raise WebhookError(400, "The webhook body must be a JSON object")
    errors = _field_errors(payload)
    if errors:
        raise WebhookError(422, "Not a store/cart/converted payload", errors)
    data = payload["data"]
    return CartConverted(order_id=data["orderId"], cart_id=data["id"], store_id=payload["store_id"],
                         producer=payload["producer"], hash=payload["hash"].lower(), created_at=payload["created_at"])


def dedupe_keys(event: CartConverted) -> tuple[str, str]:
    """The keys an event is remembered under: its hash and its (cart id, order id) pair."""
    return f"hash:{event.hash}", f"cart:{event.cart_id.lower()}:order:{event.order_id}"


def handle_cart_converted(payload: Any, deduper: Deduper) -> CartConverted:
    """Validate, then mark duplicates by `hash` or by (cart id, order id) (`duplicate=True`, same order id)."""
    event = parse_cart_converted(payload)
    seen = [deduper.check_and_add(key) for key in dedupe_keys(event)]  # both keys are always recorded
    if any(seen):
        return CartConverted(**{**event.to_dict(), "duplicate": True})
    return event


def register_cart_converted_hook(client: BigCommerceClient, destination: str,
                                 headers: dict[str, str] | None = None, is_active: bool = True) -> dict[str, Any]:
    """Create the hook (`POST /v3/hooks`, scope store/cart/converted) with custom auth headers.

    The destination must be HTTPS on port 443 (BigCommerce's rule, checked here first).
    The result lists header names only: their values are secrets.
    """
    parts = urlsplit(destination or "")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "https" or not parts.hostname or port not in (None, 443):
        raise WebhookError(422, "Invalid webhook destination", {"destination": "must be an https:// URL on port 443"})
    headers = dict(headers or {})
    for name, value in headers.items():
        if not HEADER_NAME_RE.match(name) or not isinstance(value, str) or any(c in value for c in "\r\n"):
            raise WebhookError(422, "Invalid webhook header", {"headers": f"bad header {name[:64]!r}"})
    body = {"scope": SCOPE, "destination": destination, "is_active": bool(is_active), "headers": headers}
    hook = (client.request("POST", "v3", "hooks", json=body) or {}).get("data") or {}
    return {"id": hook.get("id"), "scope": hook.get("scope"), "destination": hook.get("destination"),
            "is_active": hook.get("is_active"), "header_names": sorted((hook.get("headers") or {}).keys())}


class CartJournal:
    """The durable hand-over to the sync job: one JSON line per conversion, appended and fsynced
    before the webhook answers (a failed append answers 500, so BigCommerce delivers again).

    Lines: ``{"scope", "cart_id", "order_id", "created_at", "hash", "store_id"}``. The sync job
    (`pipelines.event_facts.read_journal`) reads the whole file each run and turns each line
    into at most one CartConverted event (its id is the (cart id, order id) pair), so a line
    written twice after a restart sends nothing twice. This module never calls an API here.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()

    def __call__(self, event: CartConverted) -> None:
        line = json.dumps({"scope": SCOPE, "cart_id": event.cart_id, "order_id": event.order_id,
                           "created_at": event.created_at, "hash": event.hash, "store_id": event.store_id},
                          separators=(",", ":")) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)


def journal_from_env() -> CartJournal | None:
    """The journal named by ``ANSWERS__CART_JOURNAL``, or None when it is not set."""
    path = os.environ.get(JOURNAL_ENV, "").strip()
    return CartJournal(path) if path else None
