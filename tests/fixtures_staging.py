"""Fixtures for the source and staging tests: a shared BigCommerce sandbox reset per test,
source settings pointing at it, and a corrupting HTTP proxy for shapes the sandbox never sends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.bigcommerce.customers import render
from bc2people.sandbox.http import Request, Response, Router, SandboxServer

STG_STORE = "stage1"
STG_TOKEN = "stg-secret-token-5f3a9c"
API_INCLUDE = frozenset({"addresses", "storecredit", "attributes", "formfields"})
# Fast retries for tests; production defaults back off for seconds.
FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "max_attempts": 4}


@pytest.fixture(scope="session")
def _stg_server() -> Iterator[BigCommerceSandbox]:
    with BigCommerceSandbox(store_hash=STG_STORE, access_token=STG_TOKEN) as sb:
        yield sb


@pytest.fixture
def stg_sandbox(_stg_server: BigCommerceSandbox) -> BigCommerceSandbox:
    """The shared staging sandbox, emptied, clock frozen at a fixed second, knobs off."""
    sb = _stg_server
    sb.on_request = None
    sb.latency_ms = 0
    sb.faults.configure(rate=0.0)
    sb.set_quota(None)
    sb.strict_date_bounds = sb.refuse_encoded_dates = False
    sb.address_edits_touch_customer = True
    sb.store.delete([c["id"] for c in sb.customers()])
    sb.clock.freeze(1_780_000_000)  # 2026-05-28T20:26:40Z, after the generator's data
    return sb


@pytest.fixture
def stg_db(tmp_path: Path) -> Path:
    """A DuckDB path in a fresh temp dir (its dlt state goes beside it)."""
    return tmp_path / "stage.duckdb"


@pytest.fixture
def stg_source(stg_sandbox: BigCommerceSandbox) -> dict[str, Any]:
    """Source overrides for the sandbox: credentials, URL, fast retries, 2 workers."""
    return {
        "store_hash": STG_STORE,
        "access_token": STG_TOKEN,
        "api_base_url": stg_sandbox.base_url,
        "max_workers": 2,
        **FAST,
    }


def api_view(sb: BigCommerceSandbox, ids: list[int] | None = None) -> dict[int, dict[str, Any]]:
    """What ``GET /v3/customers?include=addresses,storecredit,attributes,formfields`` returns per id."""
    return {c["id"]: render(c, API_INCLUDE) for c in sb.customers() if ids is None or c["id"] in ids}


class CorruptingProxy:
    """A real HTTP proxy in front of a sandbox that can rewrite or replace its answers.

    ``rewrite(path, query, status, body) -> (status, body_bytes) | None`` sees every answer;
    None passes it through unchanged. Rate-limit headers are passed on.
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.rewrite: Callable[[str, dict[str, str], int, bytes], tuple[int, bytes] | None] | None = None
        self.seen: list[tuple[str, dict[str, str]]] = []
        router = Router()
        for pattern in ("/stores/{h}/v3/customers", "/stores/{h}/v2/time"):
            router.add("GET", pattern, self._forward)
        self.server = SandboxServer(router)

    @property
    def base_url(self) -> str:
        return self.server.url

    def _forward(self, req: Request) -> Response:
        self.seen.append((req.path, dict(req.query)))
        headers = {k: v for k, v in req.headers.items() if k.lower() in ("x-auth-token", "accept")}
        r = requests.get(f"{self.target}{req.path}?{req.raw_query}", headers=headers, timeout=10)
        passed = {k: v for k, v in r.headers.items() if k.lower().startswith("x-rate-limit")}
        status, body = r.status_code, r.content
        if self.rewrite is not None:
            out = self.rewrite(req.path, dict(req.query), status, body)
            if out is not None:
                status, body = out
        return Response(status, bytes(body), passed)


@pytest.fixture
def stg_proxy(stg_sandbox: BigCommerceSandbox) -> Iterator[CorruptingProxy]:
    proxy = CorruptingProxy(stg_sandbox.base_url)
    with proxy.server:
        yield proxy


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def wait_until(pred: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()
