"""People client against the real People sandbox over HTTP: 207 parsing, errors, retries."""

from __future__ import annotations

import threading
import time

import pytest

from bc2people.destinations.people.client import PeopleClient, parse_upsert_response
from bc2people.destinations.people.errors import (
    PeopleAuthError,
    PeopleRequestError,
    PeopleTerminalError,
    PeopleTransientError,
)
from bc2people.destinations.people.limiter import RateLimiter
from bc2people.sandbox.people import PeopleSandbox

UPSERT = "PATCH /people/3/persons/upsert"


def person(i: int, email: str | None = None) -> dict:
    return {
        "externalId": f"ext-{i}",
        "firstName": f"First{i}",
        "contactInformation": [{"type": "EMAIL", "identifier": email or f"p{i}@example.com"}],
    }


def test_mixed_207_is_attributed_by_index(people_sandbox: PeopleSandbox, people_client: PeopleClient) -> None:
    people_sandbox.store  # noqa: B018 - the sandbox is empty at start
    first = people_client.upsert([person(0), person(1)])
    assert [o.status for o in first] == ["CREATED", "CREATED"]
    batch = [person(0), person(2, "not-an-email"), person(3), person(1) | {"firstName": "Changed"}]
    outcomes = people_client.upsert(batch)
    assert [o.index for o in outcomes] == [0, 1, 2, 3]
    assert [o.status for o in outcomes] == ["NOT_MODIFIED", "REJECTED", "CREATED", "UPDATED"]
    assert outcomes[1].error_code == "400100"
    assert "contactInformation" in (outcomes[1].error_message or "")
    assert not outcomes[1].accepted and outcomes[2].accepted
    stored = people_sandbox.person_by_external_id("ext-3")
    assert stored is not None and outcomes[2].people_id == stored["id"]
    assert people_sandbox.person_by_external_id("ext-2") is None
    assert people_sandbox.person_by_external_id("ext-1")["firstName"] == "Changed"


def test_parse_upsert_response_handles_missing_and_out_of_range_indexes() -> None:
    body = {
        "results": [{"id": 7, "index": 0, "status": "CREATED"}, {"id": 9, "index": 5, "status": "CREATED"}],
        "errors": [{"code": 409100, "message": "conflict", "index": 2, "details": []}],
    }
    out = parse_upsert_response(body, 3)
    assert [(o.status, o.people_id) for o in out] == [("CREATED", 7), ("MISSING", None), ("REJECTED", None)]
    assert out[2].error_code == "409100" and out[2].error_message == "conflict"


def test_wrong_key_is_terminal_and_never_echoed(people_sandbox: PeopleSandbox) -> None:
    secret = "sEcReT-key-123456"
    client = PeopleClient(people_sandbox.base_url, secret, timeout=5)
    with pytest.raises(PeopleAuthError) as info:
        client.upsert([person(1)])
    err = info.value
    assert err.exit_code == 2 and err.status == 401
    assert isinstance(err, PeopleTerminalError)
    assert secret not in str(err) and secret not in repr(err) and secret not in repr(client)
    assert "DESTINATION__PEOPLE__API_KEY" in str(err)


def test_whole_request_400_is_terminal(people_client: PeopleClient) -> None:
    with pytest.raises(PeopleRequestError) as info:
        people_client.send_upsert({"people": []}, 1)
    assert info.value.code == "400104"
    assert "persons" in str(info.value)
    with pytest.raises(ValueError):
        people_client.upsert([person(i) for i in range(1001)])


def test_429_backs_off_and_succeeds(people_sandbox: PeopleSandbox, people_client: PeopleClient) -> None:
    people_sandbox.faults.configure(rate=0.6, kinds=["429"], seed=3)
    try:
        for i in range(4):
            assert people_client.upsert([person(i)])[0].status == "CREATED"
    finally:
        people_sandbox.faults.configure(rate=0.0)
    assert people_client.throttled > 0
    assert len(people_sandbox.persons()) == 4


def test_5xx_and_resets_are_retried_without_duplicates(
    people_sandbox: PeopleSandbox, people_client: PeopleClient
) -> None:
    people_sandbox.faults.configure(rate=0.5, kinds=["500", "503", "reset", "truncate"], seed=1)
    try:
        for i in range(6):
            out = people_client.upsert([person(i), person(100 + i)])
            assert all(o.accepted for o in out)
    finally:
        people_sandbox.faults.configure(rate=0.0)
    assert people_client.retried > 0
    ids = sorted(p["externalId"] for p in people_sandbox.persons())
    assert ids == sorted([f"ext-{i}" for i in range(6)] + [f"ext-{100 + i}" for i in range(6)])


def test_persistent_5xx_raises_retryable_error(people_sandbox: PeopleSandbox, people_client: PeopleClient) -> None:
    people_sandbox.faults.configure(rate=1.0, kinds=["503"], seed=1)
    try:
        with pytest.raises(PeopleTransientError) as info:
            people_client.upsert([person(1)])
    finally:
        people_sandbox.faults.configure(rate=0.0)
    assert not isinstance(info.value, PeopleTerminalError)  # dlt retries the job
    assert "503" in str(info.value)
    assert people_sandbox.api_key not in str(info.value)


def test_timeout_is_retried(people_sandbox: PeopleSandbox) -> None:
    client = PeopleClient(people_sandbox.base_url, people_sandbox.api_key, timeout=0.3, backoff_base=0.01,
                          max_transient_retries=1, rate=1000)
    people_sandbox.faults.configure(rate=1.0, kinds=["slow"], slow_seconds=0.6, seed=1)
    try:
        with pytest.raises(PeopleTransientError) as info:
            client.upsert([person(1)])
    finally:
        people_sandbox.faults.configure(rate=0.0)
    assert "Timeout" in str(info.value)
    # the write landed (slow = processed, answered late): a re-send is a harmless NOT_MODIFIED
    assert client.upsert([person(1)])[0].status == "NOT_MODIFIED"


def test_limiter_spaces_slots() -> None:
    lim = RateLimiter(rate=5, headroom=0.05)
    waits = [lim.reserve() for _ in range(6)]
    assert waits[0] == pytest.approx(0, abs=0.01)
    assert waits[5] == pytest.approx(5 * 0.21, abs=0.02)
    gaps = [b - a for a, b in zip(waits, waits[1:], strict=False)]
    assert all(g == pytest.approx(0.21, abs=0.01) for g in gaps)


def test_shared_limiter_keeps_threads_under_people_limit(people_sandbox: PeopleSandbox) -> None:
    people_sandbox.rate_limit = 5
    client = PeopleClient(people_sandbox.base_url, people_sandbox.api_key, timeout=5, max_429_retries=0)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(4):
                client.upsert([person(t * 10 + i)])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    start = time.monotonic()
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert people_sandbox.limiter.refused == 0
    assert people_sandbox.requests_served[UPSERT] == 16
    assert time.monotonic() - start >= 15 * 0.2  # 16 requests spaced at >= 1/5 s

