"""The ``people`` dlt destination in a real dlt pipeline: batching, outcomes, terminal errors."""

from __future__ import annotations

import json
from pathlib import Path

import dlt
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from bc2people.destinations.people.client import PeopleClient
from bc2people.destinations.people.destination import load_people_config, people_destination
from bc2people.destinations.people.errors import PeopleConfigError, PeopleTransientError
from bc2people.sandbox.people import PeopleSandbox

UPSERT = "PATCH /people/3/persons/upsert"


def rows(n: int, bad: set[int] = frozenset()) -> list[dict]:  # type: ignore[assignment]
    out = []
    for i in range(n):
        email = "bad" if i in bad else f"p{i}@example.com"
        person = {"externalId": f"x-{i}", "contactInformation": [{"type": "EMAIL", "identifier": email}]}
        out.append({"external_id": f"x-{i}", "tag_along": i, "person": json.dumps(person)})
    return out


def test_batches_of_1000_one_request_each_and_all_outcomes_reported(
    people_sandbox: PeopleSandbox, people_client: PeopleClient, tmp_path: Path
) -> None:
    seen: list[tuple[str, str]] = []

    def sink(batch, outcomes):  # type: ignore[no-untyped-def]
        assert len(batch) == len(outcomes)
        seen.extend((r["external_id"], o.status) for r, o in zip(batch, outcomes, strict=True))

    dest = people_destination(people_client, sink, workers=2)
    pipeline = dlt.pipeline("dest_test", pipelines_dir=str(tmp_path / "p"), destination=dest, dataset_name="d")
    pipeline.run(dlt.resource(rows(2500, bad={5, 1700}), name="persons", columns={"person": {"data_type": "text"}}))
    assert people_sandbox.requests_served[UPSERT] == 3
    assert len(seen) == 2500 and len({e for e, _ in seen}) == 2500
    statuses = dict(seen)
    assert statuses["x-5"] == "REJECTED" and statuses["x-1700"] == "REJECTED"
    assert sum(1 for s in statuses.values() if s == "CREATED") == 2498
    assert len(people_sandbox.persons()) == 2498


def test_auth_failure_fails_the_load_without_leaking_the_key(people_sandbox: PeopleSandbox, tmp_path: Path) -> None:
    client = PeopleClient(people_sandbox.base_url, "very-secret-wrong-key", timeout=5)
    dest = people_destination(client, None, workers=1)
    pipeline = dlt.pipeline("dest_auth", pipelines_dir=str(tmp_path / "p"), destination=dest, dataset_name="d")
    with pytest.raises(PipelineStepFailed) as info:
        pipeline.run(dlt.resource(rows(3), name="persons", columns={"person": {"data_type": "text"}}))
    text = str(info.value)
    assert "very-secret-wrong-key" not in text
    assert "401" in text
    for f in (tmp_path / "p").rglob("*"):
        if f.is_file():
            assert b"very-secret-wrong-key" not in f.read_bytes(), f


def test_missing_config_names_env_var_and_toml_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DESTINATION__PEOPLE__BASE_URL", raising=False)
    monkeypatch.delenv("DESTINATION__PEOPLE__API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .dlt/ here
    with pytest.raises(PeopleConfigError) as info:
        load_people_config()
    msg = str(info.value)
    assert info.value.exit_code == 2
    assert "DESTINATION__PEOPLE__BASE_URL" in msg and "DESTINATION__PEOPLE__API_KEY" in msg
    assert "[destination.people]" in msg and "secrets.toml" in msg
    monkeypatch.setenv("DESTINATION__PEOPLE__BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("DESTINATION__PEOPLE__API_KEY", "k-123-secret")
    cfg = load_people_config()
    assert cfg.base_url == "http://127.0.0.1:1" and "k-123-secret" not in repr(cfg)


def test_request_timeout_is_configurable(monkeypatch: pytest.MonkeyPatch, people_sandbox: PeopleSandbox) -> None:
    from bc2people.pipelines.push import _client

    monkeypatch.setenv("DESTINATION__PEOPLE__BASE_URL", people_sandbox.base_url)
    monkeypatch.setenv("DESTINATION__PEOPLE__API_KEY", people_sandbox.api_key)
    assert load_people_config().timeout == 30.0
    monkeypatch.setenv("DESTINATION__PEOPLE__TIMEOUT", "0.5")
    assert load_people_config().timeout == 0.5
    client = _client()
    assert client.timeout == 0.5
    client.max_transient_retries = 0
    # Answers that take 1.5 s: fine under the default 30 s, a failure under 0.5 s.
    people_sandbox.faults.configure(rate=1.0, kinds=["slow"], slow_seconds=1.5)
    try:
        with pytest.raises(PeopleTransientError):
            client.upsert([{"externalId": "timeout-1"}])
    finally:
        people_sandbox.faults.configure(rate=0.0)
    for bad in ("0", "-1", "soon"):
        monkeypatch.setenv("DESTINATION__PEOPLE__TIMEOUT", bad)
        with pytest.raises(PeopleConfigError) as info:
            load_people_config()
        assert "DESTINATION__PEOPLE__TIMEOUT" in str(info.value) and info.value.exit_code == 2


def test_standalone_destination_reads_dlt_config(
    people_sandbox: PeopleSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bc2people.destinations.people.destination import people

    monkeypatch.setenv("DESTINATION__PEOPLE__BASE_URL", people_sandbox.base_url)
    monkeypatch.setenv("DESTINATION__PEOPLE__API_KEY", people_sandbox.api_key)
    pipeline = dlt.pipeline("dest_cfg", pipelines_dir=str(tmp_path / "p"), destination=people(), dataset_name="d")
    pipeline.run(dlt.resource(rows(1200), name="persons", columns={"person": {"data_type": "text"}}))
    assert people_sandbox.requests_served[UPSERT] == 2
    assert len(people_sandbox.persons()) == 1200
