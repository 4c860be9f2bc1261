"""People sandbox per-person failures: a 5xx-class error item, or an index left out of the 207."""

from __future__ import annotations

import pytest
import requests

from bc2people.sandbox.people import PeopleSandbox
from tests.fixtures_people import PeopleHTTP


def _person(ext: str) -> dict[str, object]:
    return {"externalId": ext, "firstName": "Ada"}


def test_error_and_omit_per_person(people_sandbox: PeopleSandbox, people_http: PeopleHTTP) -> None:
    people_sandbox.fail_persons(error=["p-err"], omit=["p-omit"])
    r = people_http.upsert([_person("p-ok"), _person("p-err"), _person("p-omit"), _person("p-ok2")])
    assert r.status_code == 207
    body = r.json()
    assert sorted(x["index"] for x in body["results"]) == [0, 3]
    assert body["errors"] == [
        {"code": 500100, "message": "People could not process this person, try again later", "index": 1}
    ]
    assert {p["externalId"] for p in people_sandbox.persons()} == {"p-ok", "p-ok2"}  # failed ones not stored
    assert people_sandbox.person_faults.hits == {"p-err": 1, "p-omit": 1}


def test_failures_last_until_cleared(people_sandbox: PeopleSandbox, people_http: PeopleHTTP) -> None:
    people_sandbox.fail_persons(error=["a"], code=503001)
    for _ in range(2):
        errors = people_http.upsert([_person("a")]).json()["errors"]
        assert [(e["code"], e["index"]) for e in errors] == [(503001, 0)]
    people_sandbox.fail_persons()
    body = people_http.upsert([_person("a")]).json()
    assert body["errors"] == [] and [x["status"] for x in body["results"]] == ["CREATED"]


def test_control_api_sets_reports_and_reset_clears(people_sandbox: PeopleSandbox, people_http: PeopleHTTP) -> None:
    url = people_sandbox.base_url + "/__sandbox__/person-failures"
    r = requests.post(url, json={"error": ["x"], "omit": ["y"], "code": 500200}, timeout=10)
    assert r.status_code == 200 and r.json()["error"] == ["x"] and r.json()["omit"] == ["y"]
    body = people_http.upsert([_person("x"), _person("y")]).json()
    assert body["results"] == [] and [(e["code"], e["index"]) for e in body["errors"]] == [(500200, 0)]
    state = requests.get(people_sandbox.base_url + "/__sandbox__/state", timeout=10).json()
    assert state["personFailures"]["hits"] == {"x": 1, "y": 1}
    assert requests.post(people_sandbox.base_url + "/__sandbox__/reset", timeout=10).status_code == 200
    assert people_sandbox.person_faults.as_dict() == {"error": [], "omit": [], "code": 500100, "hits": {}}
    assert len(people_http.upsert([_person("x"), _person("y")]).json()["results"]) == 2


@pytest.mark.parametrize(
    "body",
    [{"error": "x"}, {"error": [1]}, {"error": ["x"], "omit": ["x"]}, {"error": ["x"], "code": 400100},
     {"error": ["x"], "code": True}],
)
def test_control_api_refuses_bad_choices(people_sandbox: PeopleSandbox, body: dict[str, object]) -> None:
    r = requests.post(people_sandbox.base_url + "/__sandbox__/person-failures", json=body, timeout=10)
    assert r.status_code == 400 and r.json()["error"]
    assert people_sandbox.person_faults.as_dict()["error"] == []  # the bad choice was not applied
