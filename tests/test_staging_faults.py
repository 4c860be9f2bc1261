"""Staging under quota pressure, faults, malformed pages, bad credentials and config errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bc2people.pipelines.staging import make_pipeline, stage_customers
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers, nasty_customers
from bc2people.sandbox.http import Request
from bc2people.sources.bigcommerce.helpers import BigCommerceConfigError, BigCommerceError, format_ts
from tests.fixtures_staging import STG_STORE, STG_TOKEN, CorruptingProxy, api_view, json_bytes
from tests.test_staging_incremental import CUSTOMERS, load_ids, staged


@pytest.fixture(autouse=True)
def _customers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests fault the customers resource (the proxy forwards only customers and the clock);
    the orders resource has its own fault tests in test_source_orders.py."""
    monkeypatch.setenv("SOURCES__BIGCOMMERCE__ORDERS", "false")


def cursor(db: Path) -> str | None:
    state = make_pipeline(db).state.get("sources", {}).get("bigcommerce", {})
    return state.get("resources", {}).get("customers", {}).get("last_window_end")


def test_small_quota_is_shared_by_all_workers_with_at_most_one_429_per_window(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    stg_sandbox.add_customers(generate_customers(1200, seed=11))
    # 1 s windows: short enough to need several, long enough that two test workers sharing the
    # machine's cores do not turn scheduling delays into lost windows
    stg_sandbox.set_quota(4, 1.0)
    res = stage_customers(stg_db, **{**stg_source, "max_workers": 4, "split_pages": 1})
    assert res.extracted == 1200 and staged(stg_db) == api_view(stg_sandbox)
    windows = stg_sandbox.quota_windows
    assert sum(w["requests"] for w in windows) >= res.pages
    assert all(w["refused"] <= 1 for w in windows), windows
    assert res.quota_wait_s > 0


def test_faults_are_retried_and_the_data_is_complete(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    stg_sandbox.add_customers(generate_customers(900, seed=12))
    stg_sandbox.faults.configure(rate=0.3, kinds=["429", "500", "502", "503", "reset", "truncate"], seed=3)
    res = stage_customers(stg_db, **{**stg_source, "max_attempts": 10, "max_workers": 3, "split_pages": 2})
    stg_sandbox.faults.configure(rate=0.0)
    assert res.retries > 0
    assert staged(stg_db) == api_view(stg_sandbox)


def test_a_page_that_stays_truncated_fails_the_run_keeps_staging_and_the_cursor(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    stg_sandbox.add_customers(generate_customers(400, seed=13))
    first = stage_customers(stg_db, **stg_source)
    before = load_ids(stg_db)
    # Changes to read next time; then every customers page comes back cut in half.
    stg_sandbox.clock.advance(600)
    fresh = generate_customers(600, seed=14, start_id=1001)
    for i, c in enumerate(fresh):
        c["date_modified"] = format_ts(stg_sandbox.clock.now() - 120 + i % 60)
    stg_sandbox.add_customers(fresh)
    stg_sandbox.update_customer(1, first_name="Later")
    stg_sandbox.clock.advance(120)
    calls = {"n": 0}

    def break_after_first_page(req: Request) -> None:
        if req.path.endswith(CUSTOMERS):
            calls["n"] += 1
            if calls["n"] == 2:
                stg_sandbox.faults.configure(rate=1.0, kinds=["truncate"])

    stg_sandbox.on_request = break_after_first_page
    with pytest.raises(BigCommerceError) as err:
        stage_customers(stg_db, **{**stg_source, "max_workers": 1})
    stg_sandbox.faults.configure(rate=0.0)
    stg_sandbox.on_request = None
    msg = str(err.value)
    assert err.value.exit_code == 1
    assert f"{stg_sandbox.base_url}/stores/{STG_STORE}/v3/customers?" in msg
    assert "truncated response body" in msg and "4 attempt" in msg
    assert STG_TOKEN not in msg
    assert load_ids(stg_db) == before and cursor(stg_db) == first.window_end  # nothing lost, nothing moved

    resumed = stage_customers(stg_db, **stg_source)
    assert resumed.window_start == format_ts(stg_sandbox.clock.now() - 720 - 60 - 300)
    assert staged(stg_db) == api_view(stg_sandbox) and len(staged(stg_db)) == 1000


@pytest.mark.parametrize(
    ("label", "corrupt"),
    [
        ("missing data", lambda body: {"meta": body["meta"]}),
        ("data not a list", lambda body: {**body, "data": {"id": 1}}),
        ("id not an integer", lambda body: {**body, "data": [{"id": "1"}, *body["data"]]}),
        ("meta not an object", lambda body: {**body, "meta": []}),
    ],
)
def test_malformed_pages_are_retried_then_fail_with_url_and_reason(
    stg_sandbox: BigCommerceSandbox, stg_proxy: CorruptingProxy, stg_db: Path, stg_source: dict[str, Any],
    label: str, corrupt: Any,
) -> None:
    stg_sandbox.add_customers(generate_customers(20, seed=15))
    budget = {"bad": 2}

    def rewrite(path: str, q: dict[str, str], status: int, body: bytes) -> tuple[int, bytes] | None:
        if not path.endswith(CUSTOMERS) or budget["bad"] == 0:
            return None
        budget["bad"] -= 1
        return status, json_bytes(corrupt(json.loads(body)))

    stg_proxy.rewrite = rewrite
    source = {**stg_source, "api_base_url": stg_proxy.base_url}
    ok = stage_customers(stg_db, **source)  # two bad answers, then a good one: retried
    assert ok.retries == 2 and len(staged(stg_db)) == 20

    budget["bad"] = 100
    stg_sandbox.clock.advance(10)
    with pytest.raises(BigCommerceError) as err:
        stage_customers(stg_db, **source)
    assert "malformed response" in str(err.value) and f"{stg_proxy.base_url}/stores/" in str(err.value)
    assert cursor(stg_db) == ok.window_end and len(staged(stg_db)) == 20


def test_page_number_fallback_steps_back_when_rows_leave_the_window(
    stg_sandbox: BigCommerceSandbox, stg_proxy: CorruptingProxy, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    stg_sandbox.add_customers(generate_customers(1000, seed=16))

    def no_cursors(path: str, q: dict[str, str], status: int, body: bytes) -> tuple[int, bytes] | None:
        if not path.endswith(CUSTOMERS) or status != 200:
            return None
        data = json.loads(body)
        data["meta"].pop("cursor_pagination", None)
        return status, json_bytes(data)

    stg_proxy.rewrite = no_cursors
    pages_served = {"n": 0}
    read_first: list[int] = []

    def mutate(req: Request) -> None:
        if req.path.endswith(CUSTOMERS):
            pages_served["n"] += 1
            if pages_served["n"] == 3:  # two pages read: move customers out from under them
                rows = sorted(stg_sandbox.customers(), key=lambda c: (c["date_modified"], c["id"]))
                for c in rows[:5]:
                    read_first.append(c["id"])
                    stg_sandbox.update_customer(c["id"], notes="moved")

    stg_sandbox.on_request = mutate
    res = stage_customers(stg_db, **{**stg_source, "api_base_url": stg_proxy.base_url, "max_workers": 1})
    stg_sandbox.on_request = None
    assert all("page" in q or "after" not in q for _, q in stg_proxy.seen)  # no cursor was ever sent
    rows = staged(stg_db)
    # Every customer that never changed was read although five rows before them left the window.
    assert set(rows) == set(range(1, 1001)) - (set(read_first) - set(rows))
    assert len(rows) >= 995 and res.pages > 4  # it stepped back at least once


def test_wrong_token_fails_the_run_with_exit_code_2_and_stages_nothing(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    stg_sandbox.add_customers(generate_customers(5, seed=17))
    with pytest.raises(BigCommerceConfigError) as err:
        stage_customers(stg_db, **{**stg_source, "access_token": "wrong-token-123"})
    assert err.value.exit_code == 2 and "SOURCES__BIGCOMMERCE__ACCESS_TOKEN" in str(err.value)
    assert "wrong-token-123" not in str(err.value)
    assert cursor(stg_db) is None


def test_config_env_var_names_resolve_for_the_source(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stg_sandbox.add_customers(generate_customers(5, seed=18))
    monkeypatch.setenv("SOURCES__BIGCOMMERCE__STORE_HASH", STG_STORE)
    monkeypatch.setenv("SOURCES__BIGCOMMERCE__ACCESS_TOKEN", STG_TOKEN)
    monkeypatch.setenv("SOURCES__BIGCOMMERCE__API_BASE_URL", stg_sandbox.base_url)
    assert stage_customers(stg_db).extracted == 5
    stg_sandbox.delete_customer(2)
    assert stage_customers(stg_db, sweep_deletions=True).deleted_marked == 1  # the sweep resolves them too


@pytest.mark.parametrize("missing", ["SOURCES__BIGCOMMERCE__STORE_HASH", "SOURCES__BIGCOMMERCE__ACCESS_TOKEN"])
def test_a_missing_setting_fails_fast_naming_the_env_var_and_toml_key(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setenv("SOURCES__BIGCOMMERCE__STORE_HASH", STG_STORE)
    monkeypatch.setenv("SOURCES__BIGCOMMERCE__ACCESS_TOKEN", STG_TOKEN)
    monkeypatch.setenv("SOURCES__BIGCOMMERCE__API_BASE_URL", stg_sandbox.base_url)
    monkeypatch.delenv(missing)
    before = sum(stg_sandbox.requests_served.values())
    with pytest.raises(BigCommerceConfigError) as err:
        stage_customers(stg_db)
    key = missing.rsplit("__", 1)[-1].lower()
    assert err.value.exit_code == 2
    assert missing in str(err.value) and f"{key} = " in str(err.value) and "[sources.bigcommerce]" in str(err.value)
    assert sum(stg_sandbox.requests_served.values()) == before  # failed before any request


def test_hostile_customers_are_staged_without_loss(
    stg_sandbox: BigCommerceSandbox, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    stg_sandbox.add_customers(nasty_customers(40, seed=19))
    res = stage_customers(stg_db, **stg_source)
    rows = staged(stg_db)
    assert res.extracted == 40 and set(rows) == {c["id"] for c in stg_sandbox.customers()}
    api = api_view(stg_sandbox)
    for cid, row in rows.items():
        assert row["notes"] == api[cid]["notes"] and row["addresses"] == api[cid]["addresses"]
        assert row["form_fields"] == api[cid]["form_fields"]


def test_a_failing_worker_ends_the_run_without_waiting_out_the_quota_window(
    stg_sandbox: BigCommerceSandbox, stg_proxy: CorruptingProxy, stg_db: Path, stg_source: dict[str, Any]
) -> None:
    import time

    stg_sandbox.add_customers(generate_customers(1500, seed=25))
    stg_sandbox.set_quota(5, 30.0)  # the other workers will be waiting for a refill
    seen = {"n": 0}

    def deny_later(path: str, q: dict[str, str], status: int, body: bytes) -> tuple[int, bytes] | None:
        seen["n"] += 1
        return (403, json_bytes({"status": 403, "title": "Forbidden"})) if seen["n"] == 5 else None

    stg_proxy.rewrite = deny_later
    started = time.monotonic()
    with pytest.raises(BigCommerceConfigError, match="OAuth scope"):
        stage_customers(stg_db, **{**stg_source, "api_base_url": stg_proxy.base_url, "max_workers": 4, "split_pages": 1})
    assert time.monotonic() - started < 10
    assert cursor(stg_db) is None


def test_settings_in_dlt_toml_files_resolve_for_the_source(stg_sandbox: BigCommerceSandbox, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    stg_sandbox.add_customers(generate_customers(7, seed=27))
    dlt_dir = tmp_path / ".dlt"
    dlt_dir.mkdir()
    (dlt_dir / "config.toml").write_text(
        f'[sources.bigcommerce]\nstore_hash = "{STG_STORE}"\napi_base_url = "{stg_sandbox.base_url}"\n'
    )
    (dlt_dir / "secrets.toml").write_text(f'[sources.bigcommerce]\naccess_token = "{STG_TOKEN}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    code = "from bc2people.pipelines.staging import stage_customers; print(stage_customers('s.duckdb').extracted)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "7"
