"""The Answers HTTP adapter under hostile callers, over a real uvicorn server.

Unauthenticated calls are refused; malformed JSON, wrong types, oversized bodies and path
tricks get a 4xx; and whatever a caller sends, the adapter talks to no host but the
configured BigCommerce API, and only under ``/stores/<hash>/``.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from bc2people.answers.config import AnswersConfig
from bc2people.answers.http import create_app
from bc2people.answers.registry import REGISTRY
from bc2people.sandbox.http import Request, Response, Router, SandboxServer
from tests.fixtures_answers import ANSWERS_STORE, ANSWERS_TOKEN

API_KEY = "resilience-answers-key-5f3e9a1c"
AUTH = {"X-Api-Key": API_KEY, "Content-Type": "application/json"}


class Trap:
    """An HTTP server that counts every request it gets: the host nothing may reach."""

    def __init__(self) -> None:
        self.hits: list[str] = []

        def catch(req: Request) -> Response:
            self.hits.append(f"{req.method} {req.path}")
            return Response(200, {"data": []})

        self.server = SandboxServer(Router(), before=catch)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port}"


@pytest.fixture
def trap() -> Iterator[Trap]:
    t = Trap()
    with t.server:
        yield t


@pytest.fixture
def adapter(answers_config: AnswersConfig) -> Iterator[tuple[str, int]]:
    """The adapter on a real uvicorn server: (host, port)."""
    app = create_app(answers_config, API_KEY, deadline_s=5)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield "127.0.0.1", sock.getsockname()[1]
    server.should_exit = True
    thread.join(timeout=5)
    sock.close()


def raw(addr: tuple[str, int], method: str, target: str, body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Send one request with the target exactly as given (no client-side normalisation)."""
    conn = http.client.HTTPConnection(*addr, timeout=15)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        hdrs = {"Host": f"{addr[0]}:{addr[1]}", **(headers or {})}
        if body is not None:
            hdrs.setdefault("Content-Length", str(len(body)))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.fixture
def bc_paths(commerce_sandbox: Any) -> Iterator[list[str]]:
    """Every path (with its query) the adapter asked the BigCommerce sandbox for."""
    seen: list[str] = []
    commerce_sandbox.on_request = lambda req: seen.append(f"{req.path}?{req.raw_query}")
    yield seen
    commerce_sandbox.on_request = None


def _assert_stayed_on_the_store(paths: list[str], trap: Trap) -> None:
    assert trap.hits == [], trap.hits
    for p in paths:
        path = p.split("?", 1)[0]
        assert path.startswith(f"/stores/{ANSWERS_STORE}/v"), p
        assert ".." not in path.split("/") and "//" not in path, p


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_function_refuses_callers_without_the_key(adapter: tuple[str, int], name: str,
                                                        bc_paths: list[str]) -> None:
    body = b"{}"
    for headers in ({}, {"X-Api-Key": "wrong-key-wrong-key-wrong"}, {"X-Api-Key": API_KEY.upper()},
                    {"X-Api-Key": API_KEY[:-1]}, {"Authorization": f"Bearer {API_KEY}"}):
        status, text = raw(adapter, "POST", f"/functions/{name}", body, {"Content-Type": "application/json", **headers})
        assert status == 401, (headers, text)
    status, _ = raw(adapter, "POST", f"/functions/{name}?X-Api-Key={API_KEY}", body)
    assert status == 401
    assert bc_paths == []  # refused before anything reached BigCommerce


def test_the_webhook_refuses_callers_without_the_key(adapter: tuple[str, int]) -> None:
    payload = json.dumps({"scope": "store/cart/converted", "store_id": "1", "data": {"type": "cart", "id": "x",
                                                                                       "orderId": 1}}).encode()
    for headers in ({}, {"X-Api-Key": "wrong-key-wrong-key-wrong"}):
        status, _ = raw(adapter, "POST", "/webhooks/bigcommerce", payload, {"Content-Type": "application/json",
                                                                            **headers})
        assert status == 401
    assert raw(adapter, "GET", "/functions/get_product_by_id", None, {"X-Api-Key": API_KEY})[0] == 405


@pytest.mark.parametrize(("body", "statuses"), [
    (b"{not json", {400}), (b'{"product_id": 80', {400}), (b"\xff\xfe{}", {400}), (b"\x00\x00", {400}),
    # nesting deeper than Python's recursion limit, well under the 64 kB body limit
    (b"[" * 50_000, {400}), (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, {400}),
    (b'{"product_id": NaN}', {400, 422}), (b'{"product_id": Infinity}', {400, 422}),
])
def test_malformed_json_is_4xx(adapter: tuple[str, int], body: bytes, statuses: set[int]) -> None:
    status, text = raw(adapter, "POST", "/functions/get_product_by_id", body, AUTH)
    assert status in statuses, (status, text[:300])
    assert json.loads(text)["error"] is True


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"true", b'{"product_id": [80]}',
                                  b'{"product_id": {"id": 80}}', b'{"product_id": 8e1}', b'{"product_id": false}',
                                  b'{"product_id": 99999999999999999999999999}', b'{"product_id": "80; DROP"}'])
def test_wrong_types_are_4xx(adapter: tuple[str, int], body: bytes) -> None:
    status, text = raw(adapter, "POST", "/functions/get_product_by_id", body, AUTH)
    # 422 for the wrong type; an integer no product can have may also be a plain "not found"
    assert status == 422 or (b"9999999999" in body and status == 404), text[:300]


def test_a_redirect_never_points_at_the_callers_host(adapter: tuple[str, int], trap: Trap) -> None:
    """Starlette's trailing-slash redirect builds its Location from the Host header; a client
    that follows a 307 re-sends the body and its X-Api-Key to wherever that points."""
    conn = http.client.HTTPConnection(*adapter, timeout=15)
    try:
        conn.request("POST", "/functions/get_product_by_id/", body=b'{"product_id": 80}',
                     headers={**AUTH, "Host": trap.host})
        resp = conn.getresponse()
        location = resp.getheader("Location") or ""
        resp.read()
    finally:
        conn.close()
    assert trap.host not in location, f"{resp.status} Location: {location}"
    assert 400 <= resp.status < 500 or resp.status == 200


def test_oversized_bodies_are_413_however_they_arrive(adapter: tuple[str, int]) -> None:
    big = b'{"email": "' + b"a" * 100_000 + b'"}'
    assert raw(adapter, "POST", "/functions/find_customer_by_email", big, AUTH)[0] == 413
    # a small Content-Length that lies is cut at what it declares: the rest is not a body
    status, _ = raw(adapter, "POST", "/functions/find_customer_by_email", big, {**AUTH, "Content-Length": "10"})
    assert 400 <= status < 500
    # chunked, with no length announced
    conn = http.client.HTTPConnection(*adapter, timeout=15)
    try:
        conn.request("POST", "/functions/find_customer_by_email", body=iter([big[i:i + 8192]
                     for i in range(0, len(big), 8192)]), headers={**AUTH, "Transfer-Encoding": "chunked"},
                     encode_chunked=True)
        assert conn.getresponse().status == 413
    finally:
        conn.close()


@pytest.mark.parametrize("target", [
    "/functions/../functions/get_product_by_id", "/functions/%2e%2e/webhooks/bigcommerce",
    "/functions/get_product_by_id/../../openapi.json", "//{trap}/functions/get_product_by_id",
    "http://{trap}/functions/get_product_by_id", "/functions/get_product_by_id%2F..%2F..%2Fv2%2Forders",
    "/functions/get_product_by_id/", "/functions/%00", "/functions/get_product_by_id;x=1",
    "/Functions/get_product_by_id", "/functions/" + "a" * 5000,
])
def test_path_tricks_are_4xx_and_reach_nothing(adapter: tuple[str, int], trap: Trap, bc_paths: list[str],
                                              target: str) -> None:
    target = target.replace("{trap}", trap.host)
    status, text = raw(adapter, "POST", target, b'{"product_id": 80}', AUTH)
    if status == 200:  # only the plain function may answer, and only from the configured store
        assert json.loads(text)["id"] == 80
    else:  # never a redirect: its Location would be built from the caller's Host header
        assert 400 <= status < 500, (target, status, text[:200])
    _assert_stayed_on_the_store(bc_paths, trap)


HOSTILE_TEXT = ["../../v2/orders", "..%2F..%2Fv2%2Forders", "http://{trap}/x", "//{trap}/x", "@{trap}", "x?limit=1",
                "x#frag", "x/../../../y", "\r\nHost: {trap}", "%0d%0aHost:%20{trap}", "\u202e../", "a" * 300, "",
                "{trap}"]
HOSTILE_ANY = [-1, 0, 1.5, True, [1], {"a": 1}, 10**30, None, "1/../2", "80 OR 1=1", "https://{trap}/"]


def _values(kind: str, trap: Trap) -> list[Any]:
    vals: list[Any] = [*HOSTILE_ANY, *HOSTILE_TEXT] if kind == "string" else [*HOSTILE_ANY, "../7", "7?x=1"]
    return [v.replace("{trap}", trap.host) if isinstance(v, str) else v for v in vals]


def _plain(kind: str) -> Any:
    return {"integer": 1, "string": "abc", "boolean": True, "array": []}.get(kind, "abc")


@pytest.mark.slow
def test_no_parameter_value_reaches_another_host(adapter: tuple[str, int], trap: Trap, bc_paths: list[str]) -> None:
    """Every parameter of every function, filled with path tricks, URLs, CRLF and wrong types."""
    answered: dict[int, int] = {}
    for spec in REGISTRY.values():
        for param in spec.params:
            for value in _values(param.kind, trap):
                body = {p.name: _plain(p.kind) for p in spec.params if p.required}
                body[param.name] = value
                status, text = raw(adapter, "POST", f"/functions/{spec.name}", json.dumps(body).encode(), AUTH)
                answered[status] = answered.get(status, 0) + 1
                assert status < 500, (spec.name, param.name, value, status, text[:300])
                assert ANSWERS_TOKEN.encode() not in text
    _assert_stayed_on_the_store(bc_paths, trap)
    assert answered.get(422, 0) > 0 and sum(answered.values()) > 300, answered
    assert all(re.fullmatch(r"/stores/\w+/v[23]/[\w/.-]*\?.*", p, re.S) for p in bc_paths), bc_paths[:5]
