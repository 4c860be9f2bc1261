"""BigCommerce sandbox plumbing over real HTTP: auth, headers, quota, faults, clock, admin API."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.http import Request, Response
from tests.fixtures_bigcommerce import BC_TOKEN, bc_url

AUTH = {"X-Auth-Token": BC_TOKEN, "Accept": "application/json"}
RATE_HEADERS = (
    "X-Rate-Limit-Requests-Left", "X-Rate-Limit-Requests-Quota", "X-Rate-Limit-Time-Reset-Ms", "X-Rate-Limit-Time-Window-Ms",
)


def customers_url(sb: BigCommerceSandbox) -> str:
    return bc_url(sb, "/v3/customers")


# -- auth, store hash, headers -------------------------------------------------------------
def test_missing_or_wrong_token_is_401_in_each_family_shape(bc_sandbox: BigCommerceSandbox) -> None:
    r = requests.get(customers_url(bc_sandbox))
    assert r.status_code == 401
    assert r.json() == {
        "status": 401,
        "title": "Unauthorized - the v3 Auth client ID or token in the request are not a valid combination for this store.",
        "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
    }
    assert requests.get(customers_url(bc_sandbox), headers={"X-Auth-Token": "nope"}).status_code == 401
    v2 = requests.get(bc_url(bc_sandbox, "/v2/time"), headers={"X-Auth-Token": "nope"})
    assert v2.status_code == 401 and isinstance(v2.json(), list) and v2.json()[0]["status"] == 401
    assert BC_TOKEN not in repr(bc_sandbox) and BC_TOKEN not in r.text


def test_unknown_store_hash_or_path_is_404(bc_sandbox: BigCommerceSandbox) -> None:
    r = requests.get(f"{bc_sandbox.base_url}/stores/otherstore/v3/customers", headers=AUTH)
    assert r.status_code == 404 and r.json()["status"] == 404
    assert requests.get(f"{bc_sandbox.base_url}/nothing", headers=AUTH).status_code == 404
    assert requests.get(bc_url(bc_sandbox, "/v3/nothing"), headers=AUTH).status_code == 404
    assert requests.patch(customers_url(bc_sandbox), headers=AUTH, json=[]).status_code == 405


def test_accept_must_allow_json(bc_sandbox: BigCommerceSandbox) -> None:
    r = requests.get(customers_url(bc_sandbox), headers={"X-Auth-Token": BC_TOKEN, "Accept": "text/html"})
    assert r.status_code == 406
    assert requests.get(customers_url(bc_sandbox), headers={"X-Auth-Token": BC_TOKEN, "Accept": "*/*"}).status_code == 200


def test_rate_limit_headers_on_every_response_when_unlimited(bc_sandbox: BigCommerceSandbox) -> None:
    for r in (
        requests.get(customers_url(bc_sandbox), headers=AUTH),
        requests.get(customers_url(bc_sandbox)),  # 401
        requests.get(customers_url(bc_sandbox), headers=AUTH, params={"limit": 999}),  # 422
    ):
        for h in RATE_HEADERS:
            assert h in r.headers, (r.status_code, h)
        assert int(r.headers["X-Rate-Limit-Requests-Quota"]) >= 100_000
        assert r.headers["X-Rate-Limit-Time-Window-Ms"] == "30000"


def test_store_time_follows_the_controllable_clock(bc_sandbox: BigCommerceSandbox) -> None:
    url = bc_url(bc_sandbox, "/v2/time")
    now = requests.get(url, headers=AUTH).json()["time"]
    assert abs(now - time.time()) < 5
    bc_sandbox.clock.freeze(1_600_000_000)
    assert requests.get(url, headers=AUTH).json() == {"time": 1_600_000_000}
    bc_sandbox.clock.advance(90)
    assert requests.get(url, headers=AUTH).json() == {"time": 1_600_000_090}
    bc_sandbox.clock.set(1_600_000_500)
    bc_sandbox.clock.unfreeze()
    assert 1_600_000_500 <= requests.get(url, headers=AUTH).json()["time"] <= 1_600_000_505
    assert not bc_sandbox.clock.frozen


# -- quota --------------------------------------------------------------------------------------
def test_quota_counts_down_refuses_then_refills() -> None:
    with BigCommerceSandbox(quota=(3, 0.6)) as sb:
        s = requests.Session()
        s.headers.update(AUTH)
        lefts = [s.get(customers_url(sb)).headers["X-Rate-Limit-Requests-Left"] for _ in range(3)]
        assert lefts == ["2", "1", "0"]
        refused = s.get(customers_url(sb))
        assert refused.status_code == 429
        assert refused.json()["status"] == 429
        for h in (*RATE_HEADERS, "X-Retry-After"):
            assert h in refused.headers
        assert refused.headers["X-Rate-Limit-Requests-Quota"] == "3"
        assert refused.headers["X-Rate-Limit-Time-Window-Ms"] == "600"
        wait_ms = int(refused.headers["X-Rate-Limit-Time-Reset-Ms"])
        assert 0 <= wait_ms <= 600
        time.sleep(wait_ms / 1000 + 0.05)
        ok = s.get(customers_url(sb))
        assert ok.status_code == 200 and ok.headers["X-Rate-Limit-Requests-Left"] == "2"
        windows = sb.quota_windows
        assert windows[0]["requests"] == 3 and windows[0]["refused"] == 1
        assert windows[-1]["requests"] == 1 and all(w["requests"] <= 3 for w in windows)


def test_other_apps_share_the_quota() -> None:
    with BigCommerceSandbox(quota=(5, 30.0)) as sb:
        assert sb.consume_quota(3) == 3
        r = requests.get(customers_url(sb), headers=AUTH)
        assert r.headers["X-Rate-Limit-Requests-Left"] == "1"
        assert sb.consume_quota(10) == 1  # only what was left
        assert requests.get(customers_url(sb), headers=AUTH).status_code == 429
        assert sb.quota_windows[-1]["consumed_by_others"] == 4
        sb.set_quota(None)
        assert requests.get(customers_url(sb), headers=AUTH).status_code == 200


def test_auth_failures_do_not_spend_quota() -> None:
    with BigCommerceSandbox(quota=(2, 30.0)) as sb:
        for _ in range(3):
            assert requests.get(customers_url(sb)).status_code == 401
        assert requests.get(customers_url(sb), headers=AUTH).headers["X-Rate-Limit-Requests-Left"] == "1"


# -- faults, latency, hooks -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_server_error_faults(bc_sandbox: BigCommerceSandbox, kind: str) -> None:
    bc_sandbox.faults.configure(rate=1.0, kinds=[kind], seed=1)
    r = requests.get(customers_url(bc_sandbox), headers=AUTH)
    assert r.status_code == int(kind) and r.json()["status"] == int(kind)
    assert bc_sandbox.faults.injected[kind] == 1


def test_fault_429_has_no_rate_limit_headers(bc_sandbox: BigCommerceSandbox) -> None:
    bc_sandbox.faults.configure(rate=1.0, kinds=["429"])
    r = requests.get(customers_url(bc_sandbox), headers=AUTH)
    assert r.status_code == 429 and not any(h in r.headers for h in RATE_HEADERS)


def test_reset_fault_processes_the_write_then_drops_the_connection(bc_sandbox: BigCommerceSandbox) -> None:
    bc_sandbox.faults.configure(rate=1.0, kinds=["reset"])
    with pytest.raises(requests.ConnectionError):
        requests.post(customers_url(bc_sandbox), headers=AUTH,
                      json=[{"email": "landed@example.com", "first_name": "L", "last_name": "D"}])
    assert bc_sandbox.store.id_for_email("landed@example.com") is not None


def test_truncate_fault_cuts_the_body(bc_sandbox: BigCommerceSandbox) -> None:
    bc_sandbox.faults.configure(rate=1.0, kinds=["truncate"])
    with pytest.raises(requests.RequestException):
        requests.get(customers_url(bc_sandbox), headers=AUTH).json()


def test_slow_fault_and_latency(bc_sandbox: BigCommerceSandbox) -> None:
    bc_sandbox.faults.configure(rate=1.0, kinds=["slow"], slow_seconds=0.5)
    with pytest.raises(requests.Timeout):
        requests.get(customers_url(bc_sandbox), headers=AUTH, timeout=0.2)
    bc_sandbox.faults.configure(rate=0.0)
    bc_sandbox.latency_ms = 150
    t = time.monotonic()
    assert requests.get(bc_url(bc_sandbox, "/v2/time"), headers=AUTH).status_code == 200
    assert time.monotonic() - t >= 0.15


def test_on_request_hook_and_requests_served(bc_sandbox: BigCommerceSandbox) -> None:
    seen: list[str] = []

    def hook(req: Request) -> None:
        seen.append(req.path)
        if len(seen) == 2:
            bc_sandbox.delete_customer(1)  # mutate mid-paging

    bc_sandbox.on_request = hook
    requests.get(customers_url(bc_sandbox), headers=AUTH, params={"id:in": "1"})
    second = requests.get(customers_url(bc_sandbox), headers=AUTH, params={"id:in": "1"})
    assert second.json()["data"] == []
    requests.get(f"{bc_sandbox.base_url}/__sandbox__/stats")
    assert len(seen) == 2
    assert bc_sandbox.requests_served["GET /stores/sandbox1/v3/customers"] == 2
    assert not any(k.startswith("GET /__sandbox__") for k in bc_sandbox.requests_served)


def test_extension_routes_get_the_same_auth_and_quota() -> None:
    with BigCommerceSandbox(quota=(1, 30.0)) as sb:
        sb.router.add("GET", "/stores/{store_hash}/v3/catalog/ping", lambda req: Response(200, {"data": "pong"}))
        url = bc_url(sb, "/v3/catalog/ping")
        assert requests.get(url).status_code == 401
        ok = requests.get(url, headers=AUTH)
        assert ok.json() == {"data": "pong"} and ok.headers["X-Rate-Limit-Requests-Left"] == "0"
        assert requests.get(url, headers=AUTH).status_code == 429


# -- admin API --------------------------------------------------------------------------------------
def admin(sb: BigCommerceSandbox, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{sb.base_url}/__sandbox__{path}", json=body)


def test_admin_customers(bc_empty_sandbox: BigCommerceSandbox) -> None:
    sb = bc_empty_sandbox
    sb.clock.freeze(1_700_000_000)
    created = admin(sb, "POST", "/customers", {"email": "a@example.com", "first_name": "A", "last_name": "B"}).json()
    assert created["id"] == 1 and created["date_modified"] == "2023-11-14T22:13:20Z"
    assert admin(sb, "POST", "/customers/generate", {"n": 5, "seed": 3}).json() == {"added": 5, "start_id": 2}
    assert admin(sb, "POST", "/customers", [{**created, "id": 50, "email": "z@example.com"}]).json() == {"added": 1}
    assert len(sb.store) == 7
    sb.clock.advance(60)
    patched = admin(sb, "PATCH", "/customers/1", {"last_name": "C"}).json()
    assert patched["last_name"] == "C" and patched["date_modified"] == "2023-11-14T22:14:20Z"
    quiet = admin(sb, "PATCH", "/customers/1", {"touch": False, "addresses": []}).json()
    assert quiet["date_modified"] == "2023-11-14T22:14:20Z"
    assert admin(sb, "GET", "/customers/1").json()["last_name"] == "C"
    assert admin(sb, "DELETE", "/customers/1").status_code == 200
    assert admin(sb, "GET", "/customers/1").status_code == 404
    assert admin(sb, "POST", "/customers", {"email": "a@example.com"}).status_code == 422
    assert admin(sb, "POST", "/customers/generate", {"seed": 1}).status_code == 400
    assert admin(sb, "POST", "/customers/generate", {"n": 2, "seed": 1, "nasty": True}).status_code == 200


def test_admin_controls(bc_empty_sandbox: BigCommerceSandbox) -> None:
    sb = bc_empty_sandbox
    assert admin(sb, "POST", "/clock", {"freeze": True, "epoch": 1_500_000_000}).json() == {"now": 1_500_000_000, "frozen": True}
    assert admin(sb, "POST", "/clock", {"advance": 10}).json()["now"] == 1_500_000_010
    assert admin(sb, "POST", "/clock", {"set": 1_500_000_100}).json()["now"] == 1_500_000_100
    assert admin(sb, "POST", "/clock", {"unfreeze": True}).json()["frozen"] is False
    assert admin(sb, "POST", "/clock", {"bogus": 1}).status_code == 400
    assert admin(sb, "POST", "/latency", {"ms": 5}).json() == {"latency_ms": 5.0} and sb.latency_ms == 5
    assert admin(sb, "POST", "/latency", {"ms": -1}).status_code == 400
    assert admin(sb, "POST", "/faults", {"rate": 1.0, "kinds": ["503"], "seed": 2}).status_code == 200
    assert requests.get(customers_url(sb), headers=AUTH).status_code == 503
    assert admin(sb, "GET", "/stats").status_code == 200  # admin paths are never faulted
    assert admin(sb, "POST", "/faults", {"rate": 2}).status_code == 400
    assert admin(sb, "POST", "/faults", {"kinds": ["boom"]}).status_code == 400
    admin(sb, "POST", "/faults", {"rate": 0})
    assert admin(sb, "POST", "/quota", {"quota": 2, "window_s": 30}).json() == {"quota": 2, "window_s": 30.0}
    assert admin(sb, "POST", "/quota/consume", {"n": 5}).json() == {"consumed": 2}
    assert requests.get(customers_url(sb), headers=AUTH).status_code == 429
    stats = admin(sb, "GET", "/stats").json()
    assert stats["faults_injected"] == {"503": 1} and stats["requests_served"]["GET /stores/sandbox1/v3/customers"] == 2
    assert stats["quota_windows"] == [{"window": 0, "requests": 0, "refused": 1, "consumed_by_others": 2}]
    assert stats["customers"] == 0
    assert admin(sb, "POST", "/quota", {"quota": None}).json()["quota"] is None
    assert admin(sb, "GET", "/stats").json()["quota_windows"] == []  # a new quota starts a new history


def test_bulk_load_is_all_or_nothing() -> None:
    from bc2people.sandbox.generator import generate_customers

    sb = BigCommerceSandbox()
    sb.add_customers(generate_customers(3, seed=1))
    batch = generate_customers(3, seed=2, start_id=10)
    with pytest.raises(ValueError, match="integer id"):
        sb.add_customers([*batch, {"email": "no-id@example.com"}])
    clash = dict(batch[0], id=20, email=sb.customer(1)["email"].upper())  # type: ignore[index]
    with pytest.raises(ValueError, match="email already used"):
        sb.add_customers([batch[1], clash])
    assert [c["id"] for c in sb.customers()] == [1, 2, 3]
