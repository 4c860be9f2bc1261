"""Fixtures for the webhook lane: a receiver on uvicorn in a thread, signed deliveries, a wired world."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

LANE_SECRET = "bc-client-secret-Wq3xT8pL"
DESTINATION = "https://lane.example.com/webhooks/bigcommerce"


class ReceiverThread:
    """A Starlette app served by uvicorn on an ephemeral 127.0.0.1 port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.server.started, "receiver did not start"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/bigcommerce"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def sign(secret: str, msg_id: str, ts: int, body: str) -> str:
    digest = hmac.new(secret.encode(), f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def thin_payload(scope: str, data: dict[str, Any], created_at: int | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"scope": scope, "store_id": "1025646", "data": data,
                         "created_at": created_at or int(time.time()), "producer": "stores/lanestore"}
    p["hash"] = hashlib.sha1(json.dumps(p, sort_keys=True).encode()).hexdigest()
    return p


def post_signed(url: str, payload: Any, *, secret: str = LANE_SECRET, msg_id: str | None = None,
                ts: int | None = None, body: str | None = None, headers: dict[str, str] | None = None,
                session: Any = None) -> requests.Response:
    body = body if body is not None else json.dumps(payload, separators=(",", ":"))
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if ts is None else ts
    h = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(ts),
         "webhook-signature": sign(secret, msg_id, ts, body), **(headers or {})}
    return (session or requests).post(url, data=body.encode(), headers=h, timeout=10)


@dataclass
class LaneWorld:
    bc: Any
    people: Any
    workdir: Path
    env: dict[str, str]
    receiver: ReceiverThread

    @property
    def duckdb(self) -> Path:
        return self.workdir / "lane.duckdb"

    @property
    def intake_path(self) -> Path:
        from bc2people.pipelines.lane.intake import intake_path_for

        return intake_path_for(self.duckdb)

    def drainer(self, **kw: Any) -> Any:
        from bc2people.pipelines.lane.drain import Drainer
        from bc2people.pipelines.mapping import load_mapping
        from bc2people.sources.bigcommerce import make_client

        from .fixtures_sync import MAPPING

        client = make_client(self.bc.store_hash, self.bc.access_token, self.bc.base_url, pool_size=8)
        return Drainer(self.duckdb, load_mapping(str(MAPPING)), store_hash=self.bc.store_hash, client=client, **kw)

    def wait_delivered(self, n: int, timeout: float = 15.0) -> None:
        """Until the intake holds at least ``n`` deliveries."""
        from bc2people.pipelines.lane.intake import Intake

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            intake = Intake(self.intake_path)
            try:
                if intake.stats()["received"] >= n:
                    return
            finally:
                intake.close()
            time.sleep(0.05)
        raise AssertionError(f"fewer than {n} deliveries reached the intake")


@pytest.fixture
def lane_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LaneWorld]:
    """20 customers with orders, People, a receiver wired as the hooks' destination, hooks registered."""
    from bc2people.pipelines.lane.receiver import create_app
    from bc2people.pipelines.lane.verify import Verifier
    from bc2people.sandbox.run import env_for, start_sandboxes
    from bc2people.sources.bigcommerce.hooks import HooksClient, ensure_hooks

    bc, people = start_sandboxes(20, seed=3, orders=True)
    env = {**env_for(bc, people), "SOURCES__BIGCOMMERCE__CLIENT_SECRET": LANE_SECRET}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    bc.commerce.webhooks.client_secret = LANE_SECRET
    bc.commerce.webhooks.time_factor = 600.0
    workdir = tmp_path
    from bc2people.pipelines.lane.intake import intake_path_for

    receiver = ReceiverThread(create_app(intake_path_for(workdir / "lane.duckdb"), Verifier(LANE_SECRET)))
    bc.commerce.destination_overrides[DESTINATION] = receiver.url
    client = HooksClient(bc.base_url, bc.store_hash, bc.access_token)
    ensure_hooks(client, DESTINATION, ["store/customer/*", "store/customer/address/*", "store/order/*"])
    world = LaneWorld(bc, people, workdir, env, receiver)
    try:
        yield world
    finally:
        bc.commerce.webhooks.stop()
        receiver.stop()
        bc.stop()
        people.stop()
