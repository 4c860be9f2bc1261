"""The sandbox's webhook deliveries (signed, thin, retried, deactivated, blocklisted) and `hooks ensure|status`."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sources.bigcommerce.hooks import HooksClient, ensure_hooks, hooks_status

SECRET = "sandbox-app-secret-9f"
DEST = "https://hooks.example.com/bc"


class Sink:
    """A local HTTP endpoint answering ``status`` (changeable) and keeping what it got."""

    def __init__(self) -> None:
        self.status = 200
        self.got: list[tuple[dict[str, str], bytes]] = []
        sink = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def store() -> Iterator[tuple[BigCommerceSandbox, Sink, HooksClient]]:
    sb = BigCommerceSandbox(store_hash="hooked1", access_token="tok-hooks").start()
    sb.commerce.webhooks.client_secret = SECRET
    sink = Sink()
    sb.commerce.destination_overrides[DEST] = sink.url
    client = HooksClient(sb.base_url, sb.store_hash, sb.access_token)
    try:
        yield sb, sink, client
    finally:
        sb.commerce.webhooks.stop()
        sink.stop()
        sb.stop()


def _wait(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_deliveries_are_thin_and_verify_with_standardwebhooks(store) -> None:
    from standardwebhooks import Webhook

    sb, sink, client = store
    ensure_hooks(client, DEST, ["store/customer/*", "store/customer/address/*"], {"X-Custom": "yes"})
    c = sb.create_customer(email="a@example.com", first_name="A", last_name="B")
    sb.update_customer(c["id"], touch=False, addresses=[{"id": 5, "customer_id": c["id"], "city": "Split"}])
    _wait(lambda: len(sink.got) == 2)
    wh = Webhook(base64.b64encode(SECRET.encode()).decode())
    payloads = sorted((wh.verify(body, headers) for headers, body in sink.got), key=lambda p: p["scope"])
    assert [p["scope"] for p in payloads] == ["store/customer/address/created", "store/customer/created"]
    assert payloads[0]["data"] == {"type": "customer", "id": 5, "address": {"customer_id": c["id"]}}
    assert set(payloads[1]) == {"scope", "store_id", "data", "hash", "created_at", "producer"}
    assert all(h["x-custom"] == "yes" for h, _ in sink.got)  # the hook's custom headers go along


def test_address_changes_do_not_fire_customer_updated(store) -> None:
    sb, sink, client = store
    c = sb.create_customer(email="b@example.com", first_name="A", last_name="B")
    ensure_hooks(client, DEST, ["store/customer/*", "store/customer/address/*"])
    sb.update_customer(c["id"], addresses=[{"id": 7, "customer_id": c["id"], "city": "Rijeka"}])
    sb.update_customer(c["id"], first_name="Changed")
    scopes = [p["scope"] for p in sb.commerce.webhook_payloads]
    assert scopes == ["store/customer/address/created", "store/customer/updated"]


def test_failures_are_retried_on_the_schedule_then_the_hook_is_deactivated(store) -> None:
    from bc2people.sandbox.bigcommerce.webhook_sender import RETRY_SCHEDULE_S

    sb, sink, client = store
    sender = sb.commerce.webhooks
    sender.time_factor = 200_000.0  # 48 h of retries in under a second
    sink.status = 500
    ensure_hooks(client, DEST, ["store/order/*"])
    sb.commerce.create_order_for(0, 10.0)
    _wait(lambda: not client.list()[0]["is_active"])
    assert len(sink.got) == 1 + len(RETRY_SCHEDULE_S)
    assert len({h["webhook-id"] for h, _ in sink.got}) == 1  # one message, retried under its id
    status = hooks_status(client, DEST, ["store/order/*"])
    assert status["scopes"][0]["status"] == "deactivated"
    sink.status = 200
    changes = ensure_hooks(client, DEST, ["store/order/*"])
    assert [c.action for c in changes] == ["reactivated"]
    assert [c.action for c in ensure_hooks(client, DEST, ["store/order/*"])] == ["unchanged"]


def test_a_domain_under_90_percent_success_is_blocklisted(store) -> None:
    from bc2people.sandbox.bigcommerce.webhook_sender import BLOCK_MIN_REQUESTS

    sb, sink, client = store
    sender = sb.commerce.webhooks
    sender.time_factor = 60.0  # 3 min of blocklist = 3 s
    ensure_hooks(client, DEST, ["store/customer/*"])
    sink.status = 503
    for i in range(BLOCK_MIN_REQUESTS):
        sb.create_customer(email=f"x{i}@example.com", first_name="X", last_name="Y")
    _wait(lambda: hooks_status(client, DEST, [])["blocked_domains"], timeout=10)
    blocked = hooks_status(client, DEST, ["store/customer/*"])["blocked_domains"][0]
    assert blocked["destination"] == "hooks.example.com" and blocked["time_left"] > 0
    got = len(sink.got)
    time.sleep(0.5)
    assert len(sink.got) == got  # nothing is sent to a blocklisted domain
