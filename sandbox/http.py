"""A tiny threaded HTTP server shared by the sandboxes: routing, latency and fault injection.

The sandboxes are stand-ins for real services, so they speak real HTTP on 127.0.0.1 and a
client under test cannot tell them from the real thing except by their fidelity.

Fault injection (`FaultPlan`) models what real networks and platforms do:

- ``429``, ``500``, ``502``, ``503``: answered *instead of* the request (nothing processed);
  the 429 carries no rate-limit headers (BigCommerce's "platform under load" case).
- ``reset``: the request **is processed**, then the connection is closed with a TCP reset
  and no response: the client cannot know whether its write landed.
- ``truncate``: the request is processed and the response is cut in half (the
  ``Content-Length`` promises the whole body).
- ``slow``: the request is processed and the response is delayed by ``slow_seconds``
  (set it past the client's timeout).

Paths under ``/__sandbox__/`` are the sandbox's own control API: never faulted, delayed,
authenticated or counted against a quota.
"""

from __future__ import annotations

import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

ADMIN_PREFIX = "/__sandbox__/"
FAULT_KINDS = ("429", "500", "502", "503", "reset", "truncate", "slow")


class BadJSON(ValueError):
    """The request body is not valid JSON."""


@dataclass
class Request:
    """One parsed HTTP request as a handler sees it."""

    method: str
    path: str
    query: dict[str, str]
    query_multi: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    raw_query: str = ""
    path_params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup."""
        value = self.headers.get(name)
        return default if value is None else value

    def json(self) -> Any:
        """The body decoded as JSON; raises `BadJSON` when it is not."""
        try:
            return json.loads(self.body.decode("utf-8")) if self.body else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadJSON(str(exc)) from exc

    @property
    def is_admin(self) -> bool:
        return self.path.startswith(ADMIN_PREFIX)


@dataclass
class Response:
    """What a handler returns: a status, a JSON-able body (or raw bytes) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes | bytearray):
            return bytes(self.body)
        return encode_json(self.body)


def encode_json(body: Any) -> bytes:
    """``body`` as compact UTF-8 JSON, as a real service sends it.

    orjson writes a 250-customer page in under a millisecond where the standard encoder took
    ~6.5 ms: a quarter of the BigCommerce sandbox's CPU per page, taken from the client under
    test on a shared machine. What orjson refuses (an integer past 64 bits, a lone surrogate, a
    key that is not a string) goes through the standard encoder, so such values are served as
    before. A float NaN or infinity, which no JSON service sends, is written as null."""
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError included
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


Handler = Callable[[Request], Response]


class Router:
    """Maps ``METHOD /path/{param}/...`` patterns to handlers."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.templates: dict[Any, str] = {}  # handler -> "METHOD /pattern" (rate limiters key on it)

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern.rstrip("/")) + "/?$"
        self._routes.append((method.upper(), re.compile(regex), handler))
        self.templates[handler] = f"{method} {pattern}"

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator form of `add`."""

        def deco(fn: Handler) -> Handler:
            self.add(method, pattern, fn)
            return fn

        return deco

    def include(self, other: Router) -> None:
        """Add every route of another router (sandboxes are assembled from parts)."""
        self._routes.extend(other._routes)
        self.templates.update(other.templates)

    def resolve(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], bool]:
        """(handler, path params, path_known). path_known tells 405 from 404."""
        known = False
        for m, regex, handler in self._routes:
            hit = regex.match(path)
            if hit:
                known = True
                if m == method:
                    return handler, hit.groupdict(), True
        return None, {}, known


class FaultPlan:
    """Draws faults at a given rate from a set of kinds; thread-safe and seedable."""

    def __init__(
        self,
        rate: float = 0.0,
        kinds: Iterable[str] = FAULT_KINDS,
        seed: int | None = None,
        slow_seconds: float = 5.0,
    ) -> None:
        self.configure(rate=rate, kinds=kinds, seed=seed, slow_seconds=slow_seconds)
        self.injected: Counter[str] = Counter()

    def configure(
        self,
        rate: float | None = None,
        kinds: Iterable[str] | None = None,
        seed: int | None = None,
        slow_seconds: float | None = None,
    ) -> None:
        """Change the plan in place; unknown kinds raise ValueError."""
        if rate is not None:
            if not 0.0 <= rate <= 1.0:
                raise ValueError("fault rate must be between 0 and 1")
            self.rate = rate
        if kinds is not None:
            kinds = tuple(kinds)
            bad = [k for k in kinds if k not in FAULT_KINDS]
            if bad:
                raise ValueError(f"unknown fault kinds {bad}; known: {list(FAULT_KINDS)}")
            self.kinds = kinds
        if slow_seconds is not None:
            self.slow_seconds = slow_seconds
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def draw(self) -> str | None:
        """The fault for the next request, or None."""
        with self._lock:
            if self.rate <= 0 or not self.kinds or self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            self.injected[kind] += 1
            return kind


class SandboxServer:
    """A ThreadingHTTPServer on 127.0.0.1 (ephemeral port by default) serving a `Router`.

    ``before`` may answer a request before routing (auth, quota); ``after`` may decorate
    every response (rate-limit headers). Both are skipped for admin paths.
    """

    def __init__(
        self,
        router: Router,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        before: Callable[[Request], Response | None] | None = None,
        after: Callable[[Request, Response], None] | None = None,
        fault_errors: Callable[[str], Response] | None = None,
        max_body_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.router = router
        self.before = before
        self.after = after
        self.fault_errors = fault_errors or (lambda kind: Response(int(kind), {"status": int(kind)}))
        self.faults = FaultPlan()
        self.latency_ms = 0.0
        self.max_body_bytes = max_body_bytes
        self.requests_served: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._httpd = _QuietHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> SandboxServer:
        """Serve in a background thread; returns self."""
        # a short poll interval makes stop() return in ~50 ms instead of up to 500 ms
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name=f"sandbox:{self.port}"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request pipeline -------------------------------------------------------------
    def dispatch(self, req: Request) -> tuple[Response, str | None]:
        """Answer one request; returns (response, post-processing fault or None)."""
        if not req.is_admin:
            with self._count_lock:
                self.requests_served[req.method + " " + req.path] += 1
            if self.latency_ms > 0:
                time.sleep(self.latency_ms / 1000.0)
            fault = self.faults.draw()
            if fault in ("429", "500", "502", "503"):
                return self.fault_errors(fault), None
            if self.before is not None:
                early = self.before(req)
                if early is not None:
                    self._decorate(req, early)
                    return early, None
        else:
            fault = None
        handler, params, known = self.router.resolve(req.method, req.path)
        if handler is None:
            status = 405 if known else 404
            resp = Response(status, {"status": status, "title": "Method Not Allowed" if known else "Not Found"})
        else:
            req.path_params = params
            try:
                resp = handler(req)
            except BadJSON as exc:
                resp = Response(400, {"status": 400, "title": "Malformed JSON body", "detail": str(exc)})
        self._decorate(req, resp)
        return resp, fault

    def _decorate(self, req: Request, resp: Response) -> None:
        if self.after is not None and not req.is_admin:
            self.after(req, resp)


class _QuietHTTPServer(ThreadingHTTPServer):
    """A client that hangs up (a killed job, a timeout, an injected reset) is normal traffic."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def _make_handler(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes: avoid 40 ms delayed-ACK stalls
        server_version = "bc2people-sandbox"

        def setup(self) -> None:
            super().setup()
            # headers and body go out as separate writes: without TCP_NODELAY, Nagle's
            # algorithm meets the client's delayed ACK and every response waits ~40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > server.max_body_bytes:
                self._send(Response(413, {"status": 413, "title": "Request entity too large"}))
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            multi = parse_qs(parts.query, keep_blank_values=True)
            req = Request(
                method=self.command,
                path=parts.path,
                query={k: v[-1] for k, v in multi.items()},
                query_multi=multi,
                headers=self.headers,  # type: ignore[arg-type]
                body=body,
                raw_query=parts.query,
            )
            resp, fault = server.dispatch(req)
            if fault == "reset":
                self._reset()
                return
            if fault == "slow":
                time.sleep(server.faults.slow_seconds)
            self._send(resp, truncate=(fault == "truncate"))

        def _send(self, resp: Response, truncate: bool = False) -> None:
            payload = resp.encode()
            self.send_response(resp.status)
            headers = {k.lower(): v for k, v in resp.headers.items()}
            if payload and "content-type" not in headers:
                self.send_header("Content-Type", "application/json")
            for k, v in resp.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                if truncate:
                    self.wfile.write(payload[: max(1, len(payload) // 2)])
                    self.wfile.flush()
                    self._reset()
                else:
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _reset(self) -> None:
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return _Handler


def json_response(status: int, body: Any, **headers: str) -> Response:
    """Shorthand for a JSON `Response`."""
    return Response(status, body, dict(headers))
