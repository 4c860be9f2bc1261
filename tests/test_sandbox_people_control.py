"""People sandbox: auth, rate limit, faults, latency, admin API, reset and concurrency."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from bc2people.sandbox.people import PeopleSandbox
from tests.fixtures_people import PeopleHTTP

UPSERT = "/people/3/persons/upsert"


@pytest.mark.parametrize(
    "header",
    [None, "App wrong-key", "sandbox-key", "Basic c2FuZGJveC1rZXk=", "Bearer sandbox-key", "app sandbox-key"],
)
def test_auth_required(people_sandbox, header):
    headers = {"Authorization": header} if header else {}
    r = requests.patch(
        people_sandbox.base_url + UPSERT, json={"persons": [{"externalId": "x"}]}, headers=headers
    )
    assert r.status_code == 401
    assert r.json() == {
        "requestError": {"serviceException": {"messageId": "UNAUTHORIZED", "text": "Unauthorized"}}
    }
    assert "sandbox-key" not in r.text
    assert people_sandbox.persons() == []


def test_key_never_in_repr(people_sandbox):
    assert "sandbox-key" not in repr(people_sandbox)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_per_operation_fixed_window(people_sandbox, people_http: PeopleHTTP):
    people_sandbox.rate_limit = 5
    clock = people_sandbox.limiter.clock = FakeClock()
    codes = [people_http.request("GET", "/people/2/tags").status_code for _ in range(7)]
    assert codes == [200] * 5 + [429, 429]
    assert people_http.request("GET", "/people/2/customAttributes").status_code == 200  # own budget
    r = people_http.request("GET", "/people/2/tags")
    assert r.json() == {
        "requestError": {"serviceException": {"messageId": "TOO_MANY_REQUESTS", "text": "Too many requests"}}
    }
    # one operation = method + route template: different tag names share one budget
    assert [people_http.request("GET", f"/people/2/tags/t{i}").status_code for i in range(6)] == [404] * 5 + [
        429
    ]
    clock.now += 0.99  # same window
    assert people_http.request("GET", "/people/2/tags").status_code == 429
    clock.now += 0.02  # next window
    assert people_http.request("GET", "/people/2/tags").status_code == 200
    assert people_sandbox.limiter.refused == 5


def test_rate_limit_window_on_real_clock(people_sandbox, people_http: PeopleHTTP):
    people_sandbox.rate_limit = 1
    time.sleep(1.0 - (time.monotonic() % 1.0) + 0.01)
    first = people_http.upsert([{"externalId": "a"}])
    second = people_http.upsert([{"externalId": "b"}])
    assert (first.status_code, second.status_code) == (207, 429)
    assert [p["externalId"] for p in people_sandbox.persons()] == ["a"]  # a refused upsert applies nothing
    time.sleep(1.0 - (time.monotonic() % 1.0) + 0.01)
    assert people_http.upsert([{"externalId": "b"}]).status_code == 207


def test_unauthenticated_requests_do_not_use_the_budget(people_sandbox, people_http: PeopleHTTP):
    people_sandbox.rate_limit = 2
    people_sandbox.limiter.clock = FakeClock()
    for _ in range(3):
        assert requests.get(people_sandbox.base_url + "/people/2/tags").status_code == 401
    assert [people_http.request("GET", "/people/2/tags").status_code for _ in range(3)] == [200, 200, 429]


def test_faults_use_people_envelopes(people_sandbox, people_http: PeopleHTTP):
    people_sandbox.faults.configure(rate=1.0, kinds=["429"], seed=1)
    r = people_http.upsert([{"externalId": "a"}])
    assert r.status_code == 429
    assert r.json()["requestError"]["serviceException"]["messageId"] == "TOO_MANY_REQUESTS"
    people_sandbox.faults.configure(kinds=["500"])
    r = people_http.upsert([{"externalId": "a"}])
    assert r.status_code == 500
    assert r.json()["requestError"]["serviceException"]["messageId"] == "GENERAL_ERROR"
    assert people_sandbox.persons() == []  # 429/5xx faults are answered instead of the request
    people_sandbox.faults.configure(kinds=["reset"])
    with pytest.raises(requests.ConnectionError):
        people_http.upsert([{"externalId": "landed"}])
    assert people_sandbox.person_by_external_id("landed") is not None  # processed, then reset
    assert people_sandbox.faults.injected["reset"] == 1
    # admin paths are never faulted
    assert requests.get(people_sandbox.base_url + "/__sandbox__/state").status_code == 200


def test_latency_applies_to_api_not_admin(people_sandbox, people_http: PeopleHTTP):
    people_sandbox.latency_ms = 200
    t0 = time.perf_counter()
    people_http.request("GET", "/people/2/tags")
    api_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    requests.get(people_sandbox.base_url + "/__sandbox__/state")
    admin_s = time.perf_counter() - t0
    assert api_s >= 0.2
    assert admin_s < 0.2


def test_requests_served_counter(people_sandbox, people_http: PeopleHTTP):
    people_http.upsert([{"externalId": "a"}])
    people_http.upsert([{"externalId": "b"}], method="PUT")
    requests.get(people_sandbox.base_url + "/__sandbox__/state")
    assert people_sandbox.requests_served["PATCH /people/3/persons/upsert"] == 1
    assert people_sandbox.requests_served["PUT /people/3/persons/upsert"] == 1
    assert sum(people_sandbox.requests_served.values()) == 2  # admin not counted


def test_admin_http_api(people_sandbox, people_http: PeopleHTTP):
    base = people_sandbox.base_url + "/__sandbox__"
    r = requests.post(base + "/custom-attributes", json={"name": "group", "dataType": "INTEGER"})
    assert r.status_code == 200 and r.json()["customAttributes"] == {"group": "INTEGER"}
    assert (
        requests.post(base + "/custom-attributes", json={"name": "group", "dataType": "DATE"}).status_code
        == 400
    )
    assert requests.post(base + "/latency", json={"ms": 5}).json() == {"latencyMs": 5}
    assert requests.post(base + "/latency", json={"ms": -1}).status_code == 400
    assert requests.post(base + "/rate-limit", json={"perSecond": 3}).json() == {"rateLimit": 3}
    assert people_sandbox.rate_limit == 3
    assert requests.post(base + "/rate-limit", json={"perSecond": None}).json() == {"rateLimit": None}
    assert requests.post(base + "/faults", json={"rate": 2}).status_code == 400
    assert requests.post(base + "/faults", json={"rate": 0.0, "kinds": ["503"]}).json()["kinds"] == ["503"]
    assert requests.post(base + "/require-existing-tags", json={"value": True}).status_code == 200
    assert people_sandbox.require_existing_tags is True
    assert requests.post(base + "/latency", data=b"{nope").status_code == 400
    people_sandbox.require_existing_tags = False
    people_http.upsert([{"externalId": "a", "tags": ["T"], "customAttributes": {"group": 1}}])
    state = requests.get(base + "/state").json()
    assert [p["externalId"] for p in state["persons"]] == ["a"]
    assert state["personsV2"][0]["contactInformation"] == {"email": [], "phone": []}
    assert state["customAttributes"] == {"group": "INTEGER"} and state["tags"] == ["T"]
    assert state["requestsServed"] == {"PATCH /people/3/persons/upsert": 1}
    assert requests.post(base + "/reset").status_code == 200
    assert people_sandbox.persons() == [] and people_sandbox.custom_attributes() == {}
    assert people_sandbox.latency_ms == 0 and people_sandbox.rate_limit is None
    assert sum(people_sandbox.requests_served.values()) == 0


def test_concurrent_batches_are_all_applied(people_sandbox):
    """Several threads upserting 500-person batches: every person lands once, ids are unique."""
    people_sandbox.latency_ms = 50
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            http = PeopleHTTP(people_sandbox)
            for b in range(2):
                batch = [{"externalId": f"t{t}-b{b}-{i}", "contactInformation": [
                    {"type": "EMAIL", "identifier": f"t{t}b{b}i{i}@example.com"}]} for i in range(500)]  # fmt: skip
                body = http.upsert(batch).json()
                assert body["errors"] == [] and len(body["results"]) == 500
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    persons = people_sandbox.persons()
    assert len(persons) == 4000
    assert len({p["id"] for p in persons}) == 4000


def test_validation_runs_outside_the_store_lock(people_sandbox, people_http: PeopleHTTP):
    """While the store lock is held, requests that need no state change still get answered."""
    with people_sandbox.store.lock:
        r = people_http.request("PATCH", UPSERT, data=b"{broken", timeout=5)
        assert r.json()["code"] == 400103
        r = people_http.upsert([], method="PUT")
        assert r.json()["code"] == 400101


def test_separate_instances_do_not_share_state():
    with PeopleSandbox(api_key="k1", rate_limit=None) as a, PeopleSandbox(api_key="k2", rate_limit=None) as b:
        ha = requests.patch(a.base_url + UPSERT, json={"persons": [{"externalId": "x"}]},
                            headers={"Authorization": "App k1"})  # fmt: skip
        hb = requests.patch(b.base_url + UPSERT, json={"persons": [{"externalId": "x"}]},
                            headers={"Authorization": "App k1"})  # fmt: skip
        assert ha.status_code == 207 and hb.status_code == 401
        assert len(a.persons()) == 1 and b.persons() == []
        assert a.port != b.port


def test_unknown_routes_answer_in_people_envelope(people_http: PeopleHTTP):
    r = people_http.request("GET", "/people/9/nothing")
    assert r.status_code == 404
    assert r.json()["requestError"]["serviceException"]["messageId"] == "NOT_FOUND"
    r = people_http.request("POST", "/people/3/persons/upsert", json={"persons": []})
    assert r.status_code == 405
    assert r.json()["requestError"]["serviceException"]["messageId"] == "METHOD_NOT_ALLOWED"
