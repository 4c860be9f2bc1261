"""The quota-aware client against the BigCommerce sandbox over real HTTP."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sources.bigcommerce import make_client, store_time
from bc2people.sources.bigcommerce.client import BigCommerceClient
from bc2people.sources.bigcommerce.helpers import BigCommerceAuthError, BigCommerceError
from tests.fixtures_staging import FAST, STG_STORE, STG_TOKEN, CorruptingProxy, json_bytes

TIME_PATH = f"/stores/{STG_STORE}/v2/time"


def _client(base_url: str, token: str = STG_TOKEN, **kw: Any) -> BigCommerceClient:
    return make_client(STG_STORE, token, base_url, **{**FAST, **kw})


def _hammer(client: BigCommerceClient, threads: int, each: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(each):
                assert store_time(client) > 0
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors


def test_threads_share_one_quota_budget_and_never_get_more_than_one_429_per_window(
    stg_sandbox: BigCommerceSandbox,
) -> None:
    stg_sandbox.set_quota(5, 1.0)  # 1 s windows: scheduling delays on a busy machine stay small against them
    client = _client(stg_sandbox.base_url)
    assert _hammer(client, threads=4, each=5) == []
    windows = stg_sandbox.quota_windows
    assert sum(w["requests"] for w in windows) == 20
    assert len(windows) >= 4  # 20 requests at 5 per window cannot fit in fewer
    assert all(w["refused"] <= 1 for w in windows), windows
    assert client.budget.waited_s > 0  # it paused before running out


def test_quota_spent_by_another_app_is_respected(stg_sandbox: BigCommerceSandbox) -> None:
    stg_sandbox.set_quota(6, 1.0)
    stg_sandbox.consume_quota(4)  # another app on the store took most of this window
    client = _client(stg_sandbox.base_url)
    assert _hammer(client, threads=3, each=4) == []
    assert all(w["refused"] <= 1 for w in stg_sandbox.quota_windows), stg_sandbox.quota_windows


def test_429_without_quota_headers_5xx_resets_and_truncation_are_retried(stg_sandbox: BigCommerceSandbox) -> None:
    stg_sandbox.faults.configure(rate=0.5, kinds=["429", "500", "502", "503", "reset", "truncate"], seed=7)
    already = sum(stg_sandbox.faults.injected.values())
    client = _client(stg_sandbox.base_url, max_attempts=12)
    for _ in range(20):
        assert store_time(client) == stg_sandbox.clock.now()
    injected = sum(stg_sandbox.faults.injected.values()) - already
    assert injected >= 5
    assert client.retries == injected


def test_gives_up_after_max_attempts_with_the_url_and_reason_but_never_the_token(
    stg_sandbox: BigCommerceSandbox,
) -> None:
    stg_sandbox.faults.configure(rate=1.0, kinds=["503"])
    before = stg_sandbox.requests_served[f"GET {TIME_PATH}"]
    client = _client(stg_sandbox.base_url, max_attempts=3)
    with pytest.raises(BigCommerceError) as err:
        store_time(client)
    msg = str(err.value)
    assert err.value.exit_code == 1
    assert f"{stg_sandbox.base_url}{TIME_PATH}" in msg and "503" in msg and "3 attempt" in msg
    assert STG_TOKEN not in msg and STG_TOKEN not in repr(client)
    assert stg_sandbox.requests_served[f"GET {TIME_PATH}"] - before == 3


def test_wrong_token_is_a_configuration_error_naming_the_env_var(stg_sandbox: BigCommerceSandbox) -> None:
    before = stg_sandbox.requests_served[f"GET {TIME_PATH}"]
    client = _client(stg_sandbox.base_url, token="not-the-token-xyz")
    with pytest.raises(BigCommerceAuthError) as err:
        store_time(client)
    assert err.value.exit_code == 2
    assert "401" in str(err.value) and "SOURCES__BIGCOMMERCE__ACCESS_TOKEN" in str(err.value)
    assert "not-the-token-xyz" not in str(err.value)
    assert stg_sandbox.requests_served[f"GET {TIME_PATH}"] - before == 1  # not retried


def test_403_names_the_missing_customers_scope(stg_proxy: CorruptingProxy) -> None:
    stg_proxy.rewrite = lambda path, q, status, body: (403, json_bytes({"status": 403, "title": "Forbidden"}))
    client = _client(stg_proxy.base_url)
    with pytest.raises(BigCommerceAuthError) as err:
        store_time(client)
    assert err.value.exit_code == 2
    assert "Customers read-only OAuth scope" in str(err.value) and STG_TOKEN not in str(err.value)
    assert len(stg_proxy.seen) == 1


def test_other_client_errors_fail_at_once_with_the_reason(stg_sandbox: BigCommerceSandbox) -> None:
    client = _client(stg_sandbox.base_url)
    with pytest.raises(BigCommerceError) as err:
        client.get_json(f"/stores/{STG_STORE}/v3/customers", {"limit": 999})
    assert err.value.exit_code == 1 and "422" in str(err.value) and "limit" in str(err.value)
    assert client.requests == 1


def test_invalid_settings_fail_before_any_request() -> None:
    with pytest.raises(BigCommerceError, match="SOURCES__BIGCOMMERCE__STORE_HASH") as err:
        make_client("https://x/stores/abc", STG_TOKEN)
    assert err.value.exit_code == 2
    with pytest.raises(BigCommerceError, match="SOURCES__BIGCOMMERCE__API_BASE_URL"):
        make_client("abc", STG_TOKEN, "ftp://nope")
