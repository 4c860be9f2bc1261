"""Checking one webhook delivery before it is stored: size, authenticity, freshness, shape.

Authenticity: a Standard Webhooks signature (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``) verified with the ``standardwebhooks`` package, keyed by the app's
client secret (as BigCommerce signs); its timestamp must be within `TOLERANCE_S` of now
either way (stale or future: refused). Or, when configured, the shared custom header
registered on the hooks (compared in constant time). Nothing else is accepted.

Shape: a JSON object with a string ``scope`` under ``store/``, an object ``data`` and an
id to re-fetch for the scopes the lane syncs (customers: ``data.id``, or
``data.address.customer_id`` for address events; orders: ``data.id``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from bc2people.pipelines.lane.intake import Entry

MAX_BODY_BYTES = 64 * 1024  # a thin payload is ~250 bytes; anything near this is not BigCommerce's
TOLERANCE_S = 300


class Refused(Exception):
    """The delivery is refused with ``status`` (4xx); nothing is stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Verifier:
    """Verifies deliveries for one store (client secret and/or shared header)."""

    client_secret: str | None = None
    shared_header_name: str | None = None
    shared_header_value: str | None = None

    def __post_init__(self) -> None:
        self._webhook: Any = None
        if self.client_secret:
            from standardwebhooks import Webhook

            # BigCommerce's own sample: the base64 encoding of the client secret.
            self._webhook = Webhook(base64.b64encode(self.client_secret.encode()).decode())

    def check(self, body: bytes, headers: dict[str, str]) -> Entry:
        """An `Entry` to store, or `Refused` (413 too big, 401 unauthenticated or stale,
        400 malformed, 422 a well-formed payload the lane cannot use)."""
        if len(body) > MAX_BODY_BYTES:
            raise Refused(413, "payload too large")
        h = {k.lower(): v for k, v in headers.items()}
        webhook_id, timestamp = h.get("webhook-id"), h.get("webhook-timestamp")
        if not self._signed(body, h) and not self._shared(h):
            raise Refused(401, "unauthenticated delivery")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "body is not JSON") from None
        kind, entity_id = parse_payload(payload)
        created = payload.get("created_at")
        digest = payload.get("hash")
        if not isinstance(digest, str) or not digest:
            digest = hashlib.sha1(body).hexdigest()
        return Entry(scope=payload["scope"], kind=kind, entity_id=entity_id,
                     created_at=created if isinstance(created, int) and not isinstance(created, bool) else None,
                     hash=digest, payload=body.decode(), webhook_id=webhook_id or None, timestamp=timestamp or None)

    def _signed(self, body: bytes, h: dict[str, str]) -> bool:
        if self._webhook is None or not h.get("webhook-signature"):
            return False
        from standardwebhooks.webhooks import WebhookVerificationError

        try:
            self._webhook.verify(body, h, json_parse=False)
        except WebhookVerificationError as exc:
            text = str(exc)
            if "too old" in text or "too new" in text:
                raise Refused(401, "stale webhook timestamp") from None
            raise Refused(401, "bad webhook signature") from None
        except (ValueError, TypeError, UnicodeDecodeError):
            raise Refused(401, "bad webhook signature") from None
        return True

    def _shared(self, h: dict[str, str]) -> bool:
        if not self.shared_header_name or not self.shared_header_value:
            return False
        got = h.get(self.shared_header_name.lower())
        return got is not None and hmac.compare_digest(got.encode(), self.shared_header_value.encode())


def parse_payload(payload: Any) -> tuple[str, str | None]:
    """(kind, id to re-fetch) of a thin payload; `Refused` 400/422 when it has no usable shape."""
    if not isinstance(payload, dict):
        raise Refused(400, "payload is not a JSON object")
    scope, data = payload.get("scope"), payload.get("data")
    if not isinstance(scope, str) or not scope.startswith("store/") or not isinstance(data, dict):
        raise Refused(400, "payload lacks scope or data")
    parts = scope.split("/")
    family = parts[1] if len(parts) > 2 else ""
    if family == "customer":
        if len(parts) > 3 and parts[2] == "address":
            ident = (data.get("address") or {}).get("customer_id") if isinstance(data.get("address"), dict) else None
        else:
            ident = data.get("id")
        return "customer", _id(ident)
    if family == "order":
        return "order", _id(data.get("id"))
    ident = data.get("id")
    return family or "other", None if ident is None else str(ident)[:200]


def _id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit() or int(value) <= 0:
        raise Refused(422, "payload has no usable id")
    return str(int(value))
