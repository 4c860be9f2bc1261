"""The courier's lanes: a push keeps two load packages in flight (an overlapped first sync's
segments four), and a failure or a kill that leaves a package pending on any lane is finished
first by the next run, nothing lost or sent twice."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bc2people.destinations.people.client import PeopleClient, RecordOutcome
from bc2people.destinations.people.errors import PeopleTransientError
from bc2people.pipelines.core.deliver import DEFAULT_LANES, LANES, lane_pipeline_name
from bc2people.pipelines.ledger import start_run
from bc2people.pipelines.paths import pipelines_dir_for
from bc2people.pipelines.push import PIPELINE_NAME, PushSession, people_delivery, push_persons
from tests.fixtures_push import HandMapping, expected_persons, ledger_rows, stage

STORE = "sandbox1"
UPSERT = "PATCH /people/3/persons/upsert"


class _InFlight(PeopleClient):
    """The real client, counting its upsert requests in flight at once. With ``gather`` set, the
    first requests wait (up to `GATHER_S`) until that many are out together: whether lanes
    overlap must not depend on this machine's speed (on a loaded one a package's own CPU can
    outlast People's latency, and the requests never met)."""

    GATHER_S = 30.0

    def __init__(self, *args: Any, gather: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now = self.peak = 0
        self.count_lock = threading.Lock()
        self.at_two: Any = None  # called once, when a second request goes out beside a first
        self.two = 2  # ... or when this many are out at once
        self.gather = gather
        self.gathered = threading.Event()

    def upsert_json(self, persons_json: Any) -> list[RecordOutcome]:
        with self.count_lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            if self.now >= self.two and self.at_two is not None:
                self.at_two()
                self.at_two = None
            if self.now >= self.gather:
                self.gathered.set()
        if self.gather:
            self.gathered.wait(self.GATHER_S)  # lanes that never overlap fail the test's counts, late
        try:
            return super().upsert_json(persons_json)
        finally:
            with self.count_lock:
                self.now -= 1


def _pending_lanes(db: Path) -> list[int]:
    import dlt

    delivery = people_delivery(None)
    out = []
    for lane in range(LANES):
        name = lane_pipeline_name(delivery, lane)
        if (pipelines_dir_for(db) / name).exists() and dlt.attach(
            pipeline_name=name, pipelines_dir=str(pipelines_dir_for(db))
        ).has_pending_data:
            out.append(lane)
    return out


def _start(db: Path, run_id: str) -> None:
    con = duckdb.connect(str(db))
    try:
        start_run(con, run_id, "hand", "h", {})
    finally:
        con.close()


def test_two_packages_are_in_flight_at_once(push_env: dict[str, Any], customers_factory: Any) -> None:
    """One request per package and one worker per lane: two requests at once can only be two
    packages, one on each lane (a single pipeline sent one package at a time)."""
    ps, db = push_env["people"], push_env["db"]
    stage(db, customers_factory(400, seed=31))
    ps.latency_ms = 150
    client = _InFlight(ps.base_url, ps.api_key, gather=DEFAULT_LANES)
    res = push_persons(str(db), HandMapping(), "r1", store_hash=STORE, client=client, workers=1, batch_size=50,
                       delivery_chunk=50)
    assert client.peak == DEFAULT_LANES == 2
    assert res.counts["created"] == 400 and res.counts["sent"] == 400 and res.counts["failed"] == 0
    assert ps.requests_served[UPSERT] == 8  # each package once
    stored = ps.persons()
    assert len(stored) == len({p["externalId"] for p in stored}) == 400
    assert lane_pipeline_name(people_delivery(None), 0) == PIPELINE_NAME  # an existing folder stays lane 1's
    assert (pipelines_dir_for(db) / f"{PIPELINE_NAME}_2").is_dir()


def test_a_failure_leaves_packages_on_both_lanes_and_the_next_run_finishes_them(
    push_env: dict[str, Any], customers_factory: Any
) -> None:
    ps, db = push_env["people"], push_env["db"]
    stage(db, customers_factory(600, seed=32))
    ps.latency_ms = 100
    client = _InFlight(ps.base_url, ps.api_key, gather=2, max_transient_retries=0, backoff_base=0.01,
                       backoff_cap=0.02)
    outage = threading.Event()

    def go_down() -> None:  # People fails every request from now on, two packages out (the
        outage.set()       # client holds the first until the second is out: neither has reached People)
        ps.faults.configure(rate=1.0, kinds=["503"])

    client.at_two = go_down
    with pytest.raises(PeopleTransientError):  # People's own error, as it is
        push_persons(str(db), HandMapping(), "r1", store_hash=STORE, client=client, workers=1, batch_size=50,
                     delivery_chunk=50)
    assert outage.is_set() and _pending_lanes(db) == [0, 1]
    before = len(ps.persons())
    assert before < 600

    ps.faults.configure(rate=0.0)
    _next_run_finishes_the_pending_then_all(ps, db, resumed=100, total=600)  # both lanes' packages


def test_a_segment_session_keeps_four_packages_in_flight_and_a_failure_leaves_all_four_to_the_next_run(
    push_env: dict[str, Any], customers_factory: Any
) -> None:
    """An overlapped first sync's session delivers on `LANES` lanes; People going down with four
    packages out leaves one pending on each, and the next run (two lanes) finishes all four first."""
    ps, db = push_env["people"], push_env["db"]
    stage(db, customers_factory(800, seed=33))
    ps.latency_ms = 900  # longer than three of the limiter's upsert slots: four can be out at once
    client = _InFlight(ps.base_url, ps.api_key, gather=LANES, max_transient_retries=0, backoff_base=0.01,
                       backoff_cap=0.02)
    client.two = LANES

    def go_down() -> None:
        ps.faults.configure(rate=1.0, kinds=["503"])

    client.at_two = go_down
    with pytest.raises(PeopleTransientError), PushSession(
        str(db), HandMapping(), "r1", store_hash=STORE, client=client, workers=1, batch_size=50,
        delivery_chunk=50, lanes=LANES,
    ) as session:
        session.push_all(None)
    assert client.peak == LANES == 4
    assert _pending_lanes(db) == [0, 1, 2, 3]
    assert len(ps.persons()) < 800

    ps.faults.configure(rate=0.0)
    ps.latency_ms = 0
    _next_run_finishes_the_pending_then_all(ps, db, resumed=200, total=800)  # the four lanes' packages


def _next_run_finishes_the_pending_then_all(ps: Any, db: Path, *, resumed: int, total: int) -> None:
    """The next run (two lanes) delivers the packages left pending first, then the rest: People
    and the ledger end with every person once."""
    _start(db, "r2")
    res = push_persons(str(db), HandMapping(), "r2", store_hash=STORE, workers=1, batch_size=50, delivery_chunk=50)
    assert res.counts["resumed"] == resumed
    assert _pending_lanes(db) == []
    expected = expected_persons(db, HandMapping(), STORE)
    stored = {p["externalId"]: p for p in ps.persons()}
    assert len(stored) == len(ps.persons()) == len(expected) == total
    accepted = ledger_rows(db, "SELECT count(*) FROM people_sync.person_state WHERE accepted_hash = payload_hash")
    assert accepted[0][0] == total


def _one_person_twice(db: Path, client: Any, payloads: tuple[dict[str, Any], dict[str, Any]], *,
                      hashes: tuple[str, str], accepted_before: bool | None, track: bool) -> tuple[Any, int]:
    """Two packages of one person (``bc-sandbox1-7``), one payload each, handed to a courier one
    after the other and delivered; returns the ledger's open connection and the outcomes tallied."""
    import json

    from bc2people.pipelines.contact_removals import ContactTracker
    from bc2people.pipelines.core.deliver import Courier
    from bc2people.pipelines.ledger import LEDGER_DATASET, TARGET, ensure_ledger, ledger

    con = duckdb.connect(str(db))
    ensure_ledger(con)
    writer = ledger(con)
    tracker = ContactTracker(con, LEDGER_DATASET, TARGET, writer.lock) if track else None
    courier = Courier(pipelines_dir_for(db), people_delivery(client, tracker, "r1"), writer, "r1", workers=1,
                      batch_size=50)
    done = 0

    def count(tally: Any, n: int) -> None:
        nonlocal done
        done += sum(tally.values())

    try:
        for person, payload_hash in zip(payloads, hashes, strict=True):
            row = {"key": "bc-sandbox1-7", "entity_id": 7, "payload_hash": payload_hash,
                   "payload": json.dumps({"externalId": "bc-sandbox1-7", **person}), "run_id": "r1",
                   "source_version": None, "derived_hash": None, "mapping_hash": "m",
                   "accepted_before": accepted_before}
            courier.send([row], count)
        courier.drain()
    finally:
        courier.close()
    return con, done


def test_a_key_in_flight_is_not_sent_again_until_its_package_is_recorded(push_env: dict[str, Any]) -> None:
    """Two packages carrying the same person (a customer changed while a first sync ran lands in
    two segments): the second waits for the first, so People and the ledger end on the later payload."""
    ps, db = push_env["people"], push_env["db"]
    ps.latency_ms = 150
    client = _InFlight(ps.base_url, ps.api_key)
    con, done = _one_person_twice(db, client, ({"firstName": "First"}, {"firstName": "Second"}),
                                  hashes=("First", "Second"), accepted_before=None, track=False)
    assert client.peak == 1  # a free lane, but the key was in flight: the second package waited
    assert done == 2
    assert [p["firstName"] for p in ps.persons()] == ["Second"]
    row = con.execute("SELECT payload_hash, accepted_hash FROM people_sync.sync_state WHERE key = 'bc-sandbox1-7'")
    assert row.fetchall() == [("Second", "Second")]
    con.close()


def test_a_person_sent_twice_in_one_run_loses_what_its_first_copy_sent(push_env: dict[str, Any]) -> None:
    """A customer changed while a first sync reads the store is selected twice, both times before
    People accepted it (``accepted_before`` False). The email its first copy sent and its second
    copy drops is queued for removal, as on any later run."""
    import json

    from bc2people.pipelines.ledger import LEDGER_DATASET

    ps, db = push_env["people"], push_env["db"]
    ps.latency_ms = 150
    emails = ("first@example.com", "second@example.com")
    con, done = _one_person_twice(
        db, PeopleClient(ps.base_url, ps.api_key),
        ({"contactInformation": [{"type": "EMAIL", "identifier": emails[0]}]},
         {"contactInformation": [{"type": "EMAIL", "identifier": emails[1]}]}),
        hashes=emails, accepted_before=False, track=True)
    assert done == 2
    queued = con.execute(f"SELECT key, type, identifier FROM {LEDGER_DATASET}.contact_removals").fetchall()
    assert queued == [("bc-sandbox1-7", "EMAIL", "first@example.com")]
    tracked = con.execute(f"SELECT contacts FROM {LEDGER_DATASET}.person_contacts").fetchall()
    assert [json.loads(c) for (c,) in tracked] == [[["EMAIL", "second@example.com"]]]
    con.close()


def test_packages_leave_the_environment_whole_for_other_threads(push_env: dict[str, Any], customers_factory: Any) -> None:
    """dlt's file sizes reach each lane's pipeline through the environment. Another thread
    iterating ``os.environ`` meanwhile (``requests`` does for proxies, e.g. the BigCommerce
    readers of an overlapped first sync) must never find a key gone, and no setting may leak
    to other pipelines (the staging's)."""
    import os

    ps, db = push_env["people"], push_env["db"]
    stage(db, customers_factory(150, seed=33))
    errors: list[BaseException] = []
    done = threading.Event()

    def iterate() -> None:
        while not done.is_set():
            try:
                dict(os.environ.items())
            except BaseException as exc:  # noqa: BLE001 - what the reader thread would have raised
                errors.append(exc)

    reader = threading.Thread(target=iterate, daemon=True)
    reader.start()
    try:
        res = push_persons(str(db), HandMapping(), "r-env", store_hash=STORE, client=PeopleClient(ps.base_url, ps.api_key),
                           workers=1, batch_size=50, delivery_chunk=50)
    finally:
        done.set()
        reader.join()
    assert res.counts["sent"] == 150
    assert errors == []
    assert "DATA_WRITER__FILE_MAX_ITEMS" not in os.environ
    assert "NORMALIZE__DATA_WRITER__FILE_MAX_ITEMS" not in os.environ
    lane = lane_pipeline_name(people_delivery(None), 0).upper()
    assert os.environ.get(f"{lane}__NORMALIZE__DATA_WRITER__FILE_MAX_ITEMS") == "50"
