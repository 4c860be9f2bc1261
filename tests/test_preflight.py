"""``bc2people check`` and the pre-flight at the start of ``sync``, against the sandboxes (issue 15)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import duckdb
import pytest
import requests

from tests.fixtures_sync import MAPPING, SYNC_KEY, SyncWorld, started_sync_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncWorld]:
    with started_sync_world(tmp_path_factory.mktemp("preflight"), customers=20) as w:
        yield w


def check(w: SyncWorld, *args: str, **env: str) -> tuple[int, dict]:
    out = w.cli("check", "--json", "--mapping", str(MAPPING), *args, env={**w.env, **env})
    assert out.stdout.strip(), out
    return out.returncode, json.loads(out.stdout)


def failed(doc: dict) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in doc["checks"] if not c["ok"]}


def test_everything_right_passes(world: SyncWorld) -> None:
    code, doc = check(world)
    assert code == 0 and doc["ok"], doc
    assert {c["name"] for c in doc["checks"]} >= {"mapping", "settings", "BigCommerce", "People", "custom attributes"}


def test_a_wrong_store_hash_is_exit_2_with_that_hint(world: SyncWorld) -> None:
    code, doc = check(world, SOURCES__BIGCOMMERCE__STORE_HASH="wronghash9")
    assert code == 2
    assert "store hash is wrong" in failed(doc)["BigCommerce"] and "SOURCES__BIGCOMMERCE__STORE_HASH" in json.dumps(doc)


def test_a_wrong_token_and_a_wrong_key_are_exit_2_and_never_printed(world: SyncWorld) -> None:
    code, doc = check(world, SOURCES__BIGCOMMERCE__ACCESS_TOKEN="bc-tok-WRONG-123456")
    assert code == 2 and "token was refused" in failed(doc)["BigCommerce"]
    code, doc = check(world, DESTINATION__PEOPLE__API_KEY="ib-key-WRONG-654321")
    assert code == 2 and "API key was refused" in failed(doc)["People"]
    assert "WRONG" not in json.dumps(doc)


def test_a_token_without_the_orders_scope_is_named(world: SyncWorld) -> None:
    token = "bc-tok-CustomersOnly-77"
    world.bc.scoped_tokens[token] = frozenset({"store_v2_customers_read_only"})
    code, doc = check(world, SOURCES__BIGCOMMERCE__ACCESS_TOKEN=token)
    assert code == 2 and "Orders read-only scope" in failed(doc)["BigCommerce"], doc


def test_a_host_that_does_not_resolve_fails_fast_naming_it(world: SyncWorld) -> None:
    t0 = time.monotonic()
    code, doc = check(world, DESTINATION__PEOPLE__BASE_URL="http://no-such-host.invalid")
    assert time.monotonic() - t0 < 15
    assert code == 2 and "no-such-host.invalid" in failed(doc)["People"]
    assert "DESTINATION__PEOPLE__BASE_URL" in failed(doc)["People"]


def test_a_custom_attribute_people_has_with_another_type_is_exit_2(world: SyncWorld) -> None:
    from bc2people.pipelines.mapping import load_mapping

    attrs = load_mapping(str(MAPPING)).custom_attributes
    name, dtype = next(iter(sorted(attrs.items())))
    other = "STRING" if dtype != "STRING" else "DECIMAL"
    r = requests.post(f"{world.people.base_url}/people/2/customAttributes", json={"name": name, "dataType": other},
                      headers={"Authorization": f"App {SYNC_KEY}"}, timeout=10)
    assert r.status_code < 300, r.text
    try:
        code, doc = check(world)
        assert code == 2 and f"{name} is {other} in People, {dtype} in the mapping" in failed(doc)["custom attributes"]
        # sync stops on it before anything is extracted or recorded
        served = sum(world.bc.requests_served.values())
        out = world.sync()
        assert out.returncode == 2 and "pre-flight check failed" in out.stderr, out
        assert sum(world.bc.requests_served.values()) - served <= 1  # only the store-clock probe
    finally:
        world.people.reset()


def test_sync_with_a_wrong_people_key_stops_before_extracting(tmp_path_factory: pytest.TempPathFactory) -> None:
    with started_sync_world(tmp_path_factory.mktemp("wrongkey"), customers=5) as w:
        out = w.sync(env={**w.env, "DESTINATION__PEOPLE__API_KEY": "ib-key-WRONG-000111"})
        assert out.returncode == 2, out
        assert "pre-flight check failed" in out.stderr and "API key was refused" in out.stderr
        assert "WRONG-000111" not in out.stdout + out.stderr
        assert not any(k.endswith("/v3/customers") for k in w.bc.requests_served)  # no extract began
        if w.duckdb.exists():
            con = duckdb.connect(str(w.duckdb), read_only=True)
            try:
                assert con.execute("SELECT count(*) FROM people_sync.runs").fetchone()[0] == 0
            finally:
                con.close()
