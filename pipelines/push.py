"""The persons flow on the sync core: staged customers (with their traits) → People persons.

``push_persons`` does, for one run:

1. finishes a load package a killed or failed earlier push left behind, recording its
   per-record outcomes;
2. computes the mapping's traits (SQL over the staged tables) when it declares any;
3. selects, maps and diffs the customers that need it (`pipelines.core.select_and_diff`:
   new or changed staged rows, changed traits, never-accepted persons, a changed mapping,
   deleted customers whose deletion action is not done);
4. provisions custom attributes and tags (only when something will be sent or acted on);
5. sends the changed persons through the ``people`` dlt destination (batches of ≤1000, several
   load files in parallel, one shared rate limiter), each batch's outcomes (and the contacts
   People now holds) written to the ledger in one transaction as it completes. Steps 3 and 5
   overlap: a thread maps and diffs the next customers while the persons already selected
   are delivered, ``delivery_chunk`` (20,000) per dlt load package;
6. applies the mapping's ``on_deleted`` action to customers deleted in the store;
7. removes from People the emails/phones an accepted person no longer maps
   (`pipelines.contact_removals`; failures stay queued for the next run).

With ``dry_run`` steps 1, 4, 5, 6 and 7 are skipped and nothing is written.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bc2people.pipelines.contact_removals import ContactTracker, remove_pending
from bc2people.pipelines.core import (
    Delivery,
    Derived,
    Mapped,
    Outcome,
    Selected,
    StagedEntity,
    SyncSpec,
    resume_pending,
    select_and_diff,
)
from bc2people.pipelines.core.deliver import DEFAULT_LANES, Courier, OutcomeSink
from bc2people.pipelines.core.ledger import FAILED, REJECTED_BY_TARGET, Ledger
from bc2people.pipelines.core.offload import Offload
from bc2people.pipelines.ledger import LEDGER_DATASET, PUSH_COUNTS, TARGET, ensure_ledger, ledger
from bc2people.pipelines.mapping import Mapping
from bc2people.pipelines.memory import fewer_collections
from bc2people.pipelines.output import event
from bc2people.pipelines.paths import pipelines_dir_for
from bc2people.pipelines.staging import (
    DUCKDB_MEMORY_LIMIT,
    STAGED_CUSTOMERS,
    iter_staged_customers,
    staged_customer_table,
)

PIPELINE_NAME = "bc2people_people"
PUSH_DATASET = "people_push"
PUSH_TABLE = "persons"
DEFAULT_WORKERS = 8
# persons delivered per dlt load package while the next ones are mapped; parts of _PART_SIZE
# mapped records at a time
DELIVERY_CHUNK = 20_000
_PART_SIZE = 5000
COUNT_KEYS = PUSH_COUNTS
# person_state.deleted_action once the mapping's on_deleted action is done for a person
DELETED_ACTION_RECORD = {"none": "none", "tag": "tagged", "delete": "deleted"}
# outcome of a deletion tag that cannot apply because People has no such person
NOT_IN_PEOPLE = "NOT_IN_PEOPLE"
_STATUS_COUNT = {"CREATED": "created", "UPDATED": "updated", "NOT_MODIFIED": "not_modified",
                 REJECTED_BY_TARGET: "rejected_by_people", FAILED: "failed"}


@dataclass
class PushResult:
    """Counts of one push and up to ``sample`` field-level diffs of the persons sent.

    Counts: every key of `COUNT_KEYS`, plus ``selected`` (staged customers the SQL picked for
    mapping), ``would_create``/``would_update`` (persons sent that People never / already
    accepted), ``still_rejected`` (rejected by People before, payload unchanged, not resent;
    included in ``unchanged``), ``deleted_in_store_seen``, ``resumed`` (persons of an earlier
    run's pending load package delivered first), ``traits`` (customers with traits),
    ``contacts_removed`` (old emails/phones removed from People) and ``contact_removals_pending``
    (still queued after this run). Each
    diff: ``{external_id, customer_id, kind: create|update, changes: [{field, before, after}]}``.
    """

    counts: dict[str, int]
    sample_diffs: list[dict[str, Any]] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # values on_invalid: drop left out, per People field


def on_deleted_action(mapping: Mapping) -> tuple[str, str | None]:
    """(action, tag) of the mapping's ``on_deleted``: none (default), tag or delete."""
    spec = mapping.on_deleted or {}
    action = str(spec.get("action") or "none")
    if action not in DELETED_ACTION_RECORD:
        raise ValueError(f"on_deleted action must be none, tag or delete, got {action!r}")
    return action, spec.get("tag")


def _read_customers(con: Any, ids: list[int]) -> Iterator[dict[str, Any]]:
    return iter_staged_customers(con, customer_ids=ids)


def traits_of(con: Any, mapping: Mapping, as_of: datetime | None, keys_sql: str | None = None) -> Derived | None:
    """Compute the mapping's traits for every customer, or those ``keys_sql`` selects (None when
    it declares none)."""
    spec = mapping.traits
    if spec is None:
        return None
    from bc2people.pipelines.mapping.traits import TRAITS_ROOT, TRAITS_TABLE, compute_traits, traits_for

    compute_traits(con, spec, as_of=as_of or datetime.now(UTC), keys_sql=keys_sql, hashed=mapping.traits_read())
    return Derived(table=TRAITS_TABLE, attach_as=TRAITS_ROOT, hash_column="traits_hash", read=traits_for)


_PAYLOAD_ATTRIBUTES = (
    f"SELECT unnest(json_keys(json_extract(last_payload, '$.customAttributes'))) AS name, last_success_at AS seen "
    f"FROM {LEDGER_DATASET}.sync_state WHERE target = '{TARGET}' AND accepted_hash IS NOT NULL "
    "AND json_type(json_extract(last_payload, '$.customAttributes')) = 'OBJECT'"
)


_SINCE_REMEMBERED = (f"(SELECT coalesce(max(last_seen_at), TIMESTAMP '1970-01-01') "
                     f"FROM {LEDGER_DATASET}.sent_attributes)")


def remember_attributes(con: Any) -> None:
    """Add the custom attribute names of payloads People accepted since the last call to
    ``people_sync.sent_attributes``: once a payload without an attribute is accepted, the
    ledger's last payload no longer shows that People still holds it; this table does."""
    ds = LEDGER_DATASET
    con.execute(
        f"INSERT INTO {ds}.sent_attributes (name, first_seen_at, last_seen_at) "
        f"SELECT name, min(seen), max(seen) FROM ({_PAYLOAD_ATTRIBUTES} AND last_success_at > {_SINCE_REMEMBERED}) "
        "GROUP BY name "
        "ON CONFLICT (name) DO UPDATE SET last_seen_at = greatest(sent_attributes.last_seen_at, excluded.last_seen_at)"
    )


def stale_attributes(con: Any, mapping: Mapping) -> dict[str, int]:
    """Custom attributes People accepted from earlier payloads that ``mapping`` no longer sends
    (renamed or removed): name -> persons whose last accepted payload still has it (0 once a
    later payload left it out). People's PATCH keeps what it is not given, so these stay in
    People unless the mapping says ``removed_attributes: clear``.

    The names come from ``sent_attributes`` plus the payloads accepted since it was last
    updated, so a night with nothing stale reads no payload; only stale names are counted
    over every payload."""
    has_table = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
                            "AND table_name = 'sent_attributes'", [LEDGER_DATASET]).fetchone()
    if has_table and has_table[0]:
        names = {str(n) for (n,) in con.execute(f"SELECT name FROM {LEDGER_DATASET}.sent_attributes").fetchall()}
        recent = f"{_PAYLOAD_ATTRIBUTES} AND last_success_at > {_SINCE_REMEMBERED}"
    else:  # a file no push of this release has written yet
        names, recent = set(), _PAYLOAD_ATTRIBUTES
    names |= {str(n) for (n,) in con.execute(f"SELECT DISTINCT name FROM ({recent})").fetchall()}
    current = {name.lower() for name in mapping.custom_attributes}
    stale = sorted(n for n in names if n.lower() not in current)
    if not stale:
        return {}
    counts = {str(n): int(k) for n, k in con.execute(
        f"SELECT name, count(*) FROM ({_PAYLOAD_ATTRIBUTES}) WHERE name IN (SELECT unnest(?)) GROUP BY name",
        [stale]).fetchall()}
    return {name: counts.get(name, 0) for name in stale}


def person_spec(mapping: Mapping, store_hash: str, traits: Derived | None = None,
                clear: tuple[str, ...] = ()) -> SyncSpec:
    """The customers → persons flow as the core sees it; ``clear`` names custom attributes every
    payload sets to null (the mapping's ``removed_attributes: clear``). Large selections are
    mapped in a worker process (`pipelines.core.offload`) unless ``sync.map_worker`` is false
    or the mapping was not loaded from a file's text."""
    from bc2people.destinations.people.outcomes import flatten
    from bc2people.pipelines.config import MAP_WORKER, enabled

    action, _tag = on_deleted_action(mapping)
    recipe = PersonMapper(mapping, store_hash, clear)
    offload = None
    if getattr(mapping, "source", None) is not None and enabled(MAP_WORKER):
        offload = Offload(read_raw=_raw_customers, recipe=recipe,
                          key=f"{mapping.sha256}:{store_hash}:{','.join(clear)}")
    return SyncSpec(
        dataset=LEDGER_DATASET,
        target=TARGET,
        entity=StagedEntity(table=STAGED_CUSTOMERS, read=_read_customers, derived=traits),
        map_record=recipe(),
        mapping_hash=mapping.sha256,
        deleted_record=DELETED_ACTION_RECORD[action],
        flatten=flatten,
        offload=offload,
    )


@dataclass(frozen=True)
class PersonMapper:
    """Builds the customer → person mapper; pickles (the mapping as its text), so a worker
    process builds the same one."""

    mapping: Mapping
    store_hash: str
    clear: tuple[str, ...] = ()

    def __call__(self) -> Callable[[dict[str, Any]], Mapped]:
        mapping, context, nulls = self.mapping, {"store_hash": self.store_hash}, dict.fromkeys(self.clear)

        def map_record(customer: dict[str, Any]) -> Mapped:
            rec = mapping.map(customer, context=context)
            payload = rec.payload
            if nulls and payload is not None:
                payload = {**payload, "customAttributes": {**nulls, **(payload.get("customAttributes") or {})}}
            return Mapped(rec.customer_id, rec.external_id, payload, rec.rejection, rec.rejection_field,
                          tuple(rec.dropped))

        return map_record


def _raw_customers(con: Any, ids: list[int]) -> tuple[Callable[[Any], Iterator[dict[str, Any]]], Any] | None:
    got = staged_customer_table(con, ids)
    return None if got is None else (got[0].decode_table, got[1])


def people_delivery(client: Any, contacts: ContactTracker | None = None, run_id: str = "") -> Delivery:
    """How People receives persons: the ``people`` dlt destination, its 207 read into outcomes.

    With ``contacts``, the contacts of every accepted person are tracked (and the ones People
    still has but the person no longer maps are queued for removal) in the transaction that
    records the batch.
    """
    from bc2people.destinations.people.client import RecordOutcome
    from bc2people.destinations.people.destination import people_destination
    from bc2people.destinations.people.errors import PeopleError
    from bc2people.destinations.people.outcomes import REJECTED, status_of

    def outcome(o: RecordOutcome) -> Outcome:
        status = status_of(o)
        return Outcome(REJECTED_BY_TARGET if status == REJECTED else status, o.people_id, o.error_code,
                       o.error_property, o.error_message)

    def make(sink: OutcomeSink, batch_size: int, workers: int) -> Any:
        def people_sink(rows: Any, outcomes: Any) -> None:
            sink([_current_row(r) for r in rows], [outcome(o) for o in outcomes])

        return people_destination(client, people_sink, batch_size=batch_size, workers=workers)

    def track(rows: Any, statuses: Any) -> Any:
        # the contacts are written in the batch's ledger transaction, before its outcomes
        return contacts.prepare(rows, statuses, run_id) if contacts is not None else None

    return Delivery(PIPELINE_NAME, PUSH_DATASET, PUSH_TABLE, make, lambda e: isinstance(e, PeopleError),
                    track if contacts is not None else None)


def _current_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of a load package written by release 0.1 in today's column names."""
    if "key" in row:
        return row
    return {"key": row["external_id"], "entity_id": row.get("customer_id"), "payload_hash": row["payload_hash"],
            "payload": row["person"], "source_version": row.get("source_load_id"),
            "mapping_hash": row.get("mapping_hash")}


def _spec_for_run(con: Any, mapping: Mapping, store_hash: str, as_of: datetime | None,
                  keys_sql: str | None = None) -> tuple[SyncSpec, int]:
    """Traits (computed now, for the customers ``keys_sql`` selects when given), the
    stale-attribute warning and the run's spec; also the number of customers with traits."""
    traits = traits_of(con, mapping, as_of, keys_sql)
    with_traits = 0
    if traits is not None:
        row = con.execute(f"SELECT count(*) FROM {traits.table}").fetchone()
        with_traits = int(row[0]) if row else 0
    stale = stale_attributes(con, mapping)
    if stale:
        event("People holds custom attributes this mapping no longer sends", level=30 if
              mapping.removed_attributes == "leave" else 20, attributes=", ".join(sorted(stale)),
              removed_attributes=mapping.removed_attributes)
    spec = person_spec(mapping, store_hash, traits,
                       clear=tuple(sorted(stale)) if mapping.removed_attributes == "clear" else ())
    return spec, with_traits


SEGMENT_VIEW = "main.staged_segment"  # TEMP view: the customers one staged segment (load) holds


def _segment_view(con: Any, load_id: str) -> None:
    """The TEMP view `SEGMENT_VIEW`: the customers the dlt load ``load_id`` staged (nothing is
    left in the file by a kill)."""
    quoted = "'" + load_id.replace("'", "''") + "'"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {SEGMENT_VIEW.split('.')[1]} AS SELECT * FROM {STAGED_CUSTOMERS} "
                f"WHERE _dlt_load_id = {quoted}")


def _only_segment(spec: SyncSpec) -> SyncSpec:
    """``spec`` reading only the customers of `SEGMENT_VIEW`."""
    return replace(spec, entity=replace(spec.entity, table=SEGMENT_VIEW))


def _people_named(sel: Selected) -> Selected:
    """A selection's sample diffs and counts in the persons flow's names (in place)."""
    sel.sample_diffs = [
        {"external_id": d["key"], "customer_id": d["entity_id"], "kind": d["kind"], "changes": d["changes"]}
        for d in sel.sample_diffs
    ]
    if "deleted_at_source_seen" in sel.counts:
        sel.counts["deleted_in_store_seen"] = sel.counts.pop("deleted_at_source_seen")
    return sel


def select(con: Any, mapping: Mapping, run_id: str, *, store_hash: str, retry_rejected: bool = False,
           sample: int = 10, progress: Any = None, as_of: datetime | None = None) -> tuple[Selected, int]:
    """Traits, then the core's selection and diff; returns it and the number of customers with traits."""
    spec, with_traits = _spec_for_run(con, mapping, store_hash, as_of)
    sel = select_and_diff(con, spec, run_id, retry_rejected=retry_rejected, sample=sample, progress=progress)
    sel = _people_named(sel)
    sel.counts["deleted_in_store_seen"] = sel.counts.get("deleted_in_store_seen", 0)
    return sel, with_traits


@fewer_collections()
def push_persons(
    duckdb_path: str,
    mapping: Mapping,
    run_id: str,
    *,
    store_hash: str,
    dry_run: bool = False,
    retry_rejected: bool = False,
    progress: Any = None,
    workers: int = DEFAULT_WORKERS,
    batch_size: int = 1000,
    sample: int = 10,
    client: Any = None,
    as_of: datetime | None = None,
    delivery_chunk: int = DELIVERY_CHUNK,
) -> PushResult:
    """Map, diff and deliver changed persons for one run; see the module docstring.

    ``workers`` parallel load jobs share one rate limiter; ``batch_size`` persons per upsert
    request (≤1000). ``client`` (a `PeopleClient`) defaults to one built from dlt config.
    ``as_of`` is the reference time of the traits (default: now). Persons are delivered
    ``delivery_chunk`` at a time (one dlt load package each) while the next ones are mapped.
    """
    if dry_run:
        return _dry_run(duckdb_path, mapping, run_id, store_hash=store_hash, retry_rejected=retry_rejected,
                        progress=progress, sample=sample, as_of=as_of)
    with PushSession(duckdb_path, mapping, run_id, store_hash=store_hash, retry_rejected=retry_rejected,
                     progress=progress, workers=workers, batch_size=batch_size, sample=sample, client=client,
                     delivery_chunk=delivery_chunk) as session:
        return session.push_all(as_of)


def _dry_run(duckdb_path: str, mapping: Mapping, run_id: str, *, store_hash: str, retry_rejected: bool,
             progress: Any, sample: int, as_of: datetime | None) -> PushResult:
    """What a push would send and do, writing nothing."""
    import duckdb

    counts: Counter[str] = Counter({k: 0 for k in COUNT_KEYS})
    con = duckdb.connect(str(duckdb_path))
    try:
        ensure_ledger(con)
        sel, with_traits = select(con, mapping, run_id, store_hash=store_hash, retry_rejected=retry_rejected,
                                  sample=sample, progress=progress, as_of=as_of)
        counts.update(sel.counts)
        counts["traits"] = with_traits
        counts["sent"] += len(sel.to_send)
        action, _tag = on_deleted_action(mapping)
        counts["delete_actions"] += len([d for d in sel.deletions if d["at_target"] and action != "none"])
        return PushResult(dict(counts), sel.sample_diffs, dict(sel.dropped))
    finally:
        con.close()


class PushSession:
    """One People delivery over one or more selections of a run.

    Opening it finishes the packages an earlier run left (`resume_pending`); `push_all` maps,
    diffs and delivers everything a run needs and waits for it (what `push_persons` does);
    `push_segment` does that for the customers one dlt load staged and returns as soon as its
    last package is handed to the courier, so an overlapped first sync (`pipelines.overlap`)
    selects and maps the next segment while People still receives this one's. `finish` waits
    for every package and returns the session's counts. A key still in flight is never sent
    again before its package is recorded (`Courier.send`). ``lanes`` packages of
    ``delivery_chunk`` persons are in flight at once.
    """

    def __init__(self, duckdb_path: str, mapping: Mapping, run_id: str, *, store_hash: str,
                 retry_rejected: bool = False, progress: Any = None, workers: int = DEFAULT_WORKERS,
                 batch_size: int = 1000, sample: int = 10, client: Any = None,
                 delivery_chunk: int = DELIVERY_CHUNK, lanes: int = DEFAULT_LANES) -> None:
        import duckdb

        from bc2people.pipelines.drops import ensure_drops

        self.mapping, self.run_id, self.store_hash = mapping, run_id, store_hash
        self.retry_rejected, self.sample, self.delivery_chunk = retry_rejected, sample, delivery_chunk
        self.counts: Counter[str] = Counter({k: 0 for k in COUNT_KEYS})
        self.con = duckdb.connect(str(duckdb_path))
        self.wcon: Any = None
        try:
            # the staging's cap, for the file's whole DuckDB instance: without it the selection's
            # join of 1M staged rows with 1M ledger rows took ~850 MB (the run's peak), with it
            # ~250 MB and 0.3 s more
            self.con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
            ensure_ledger(self.con)
            # The ledger writes on a cursor of their own: the selection reads ``con`` (whose TEMP
            # traits table only it sees) in a thread while the chunks before it are delivered.
            self.wcon = self.con.cursor()
            self.writer = ledger(self.wcon)
            self.client = client or _client()
            tracker = ContactTracker(self.wcon, LEDGER_DATASET, TARGET, self.writer.lock)
            delivery = people_delivery(self.client, tracker, run_id)
            pipelines_dir = pipelines_dir_for(duckdb_path)
            resumed = resume_pending(pipelines_dir, delivery, self.writer, run_id, workers=workers,
                                     batch_size=batch_size, progress=progress)
            if resumed:
                self.counts["resumed"] = sum(resumed.values())
                _merge_outcomes(self.counts, resumed)
            ensure_drops(self.con)
            self.run = _Delivering(self.wcon, self.writer, mapping, self.client, delivery, pipelines_dir, run_id,
                                   self.counts, workers=workers, batch_size=batch_size, progress=progress,
                                   chunk=delivery_chunk, lanes=lanes)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> PushSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _deliver(self, spec: SyncSpec) -> None:
        """Select, map and diff ``spec``'s customers in parts and hand their payloads to the courier."""
        part_size = max(1, min(_PART_SIZE, self.delivery_chunk))
        parts = _parts_ahead(self.con, spec, self.run_id, retry_rejected=self.retry_rejected,
                             sample=max(0, self.sample - len(self.run.sample_diffs)), part_size=part_size,
                             ahead=max(1, self.delivery_chunk // part_size))
        try:
            for part in parts:
                self.run.take(_people_named(part))
            self.run.flush()
        finally:
            parts.close()

    def provision_ahead(self) -> None:
        """Provision People's custom attributes and tags now, in the background (a run that will
        send); the first package waits for it, and raises its error."""
        self.run.provision_ahead()

    @fewer_collections()
    def push_segment(self, load_id: str, as_of: datetime | None) -> None:
        """The customers the dlt load ``load_id`` staged (their traits only); returns once their
        payloads are handed over (deletions and contact removals are left to `push_all`)."""
        remember_attributes(self.con)
        _segment_view(self.con, load_id)
        spec, with_traits = _spec_for_run(self.con, self.mapping, self.store_hash, as_of,
                                          keys_sql=f"SELECT id FROM {SEGMENT_VIEW}")
        with self.run.tally:
            self.counts["traits"] = with_traits
        self._deliver(_only_segment(spec))

    def push_all(self, as_of: datetime | None) -> PushResult:
        """Everything the run needs sent or done, delivered and recorded (see the module docstring)."""
        remember_attributes(self.con)
        spec, with_traits = _spec_for_run(self.con, self.mapping, self.store_hash, as_of)
        self.counts["traits"] = with_traits
        if with_traits:
            _keep_traits(self.con)
        self._deliver(spec)
        self.run.courier.drain()
        counts = self.counts
        action, tag = on_deleted_action(self.mapping)
        if self.run.deletions:
            self.run.provision_once([d for d in self.run.deletions if d["at_target"] and action != "none"])
            counts["delete_actions"] += _apply_deletions(self.client, self.writer, self.run_id, self.run.deletions,
                                                         action, tag)
        counts["contacts_removed"], counts["contact_removals_pending"] = remove_pending(self.client, self.writer,
                                                                                        self.run_id)
        return self.finish()

    def finish(self) -> PushResult:
        """Wait for every package handed over; the session's counts, sample diffs and dropped values."""
        self.run.courier.drain()
        self.counts["deleted_in_store_seen"] += 0  # present (0) when nothing was deleted
        return PushResult(dict(self.counts), self.run.sample_diffs, dict(self.run.dropped))

    def close(self) -> None:
        """Start no further package, wait for those in flight, close the connections."""
        run = getattr(self, "run", None)
        if run is not None:
            run.courier.close()
        if self.wcon is not None:
            self.wcon.close()
        self.con.close()


class _Delivering:
    """The consuming half of an overlapped push: records each selected part (its entries and
    dropped values) and hands its payloads to a `Courier` ``DELIVERY_CHUNK`` at a time, each
    chunk its own dlt load package (so a crash leaves at most one chunk pending per courier
    lane; the chunks not yet selected, or not yet handed over, are simply selected again by the
    next run). The courier's lanes record outcomes while this thread takes the next parts: the
    ledger connection is shared under the ledger's lock, the counts under ``tally``."""

    def __init__(self, con: Any, writer: Ledger, mapping: Mapping, client: Any, delivery: Delivery,
                 pipelines_dir: Any, run_id: str, counts: Counter[str], *, workers: int, batch_size: int,
                 progress: Any, chunk: int = DELIVERY_CHUNK, lanes: int = DEFAULT_LANES) -> None:
        self.con, self.writer, self.mapping, self.client, self.delivery = con, writer, mapping, client, delivery
        self.pipelines_dir, self.run_id, self.counts = pipelines_dir, run_id, counts
        self.workers, self.batch_size, self.progress, self.chunk = workers, batch_size, progress, max(1, chunk)
        self.courier = Courier(pipelines_dir, delivery, writer, run_id, workers=workers, batch_size=batch_size,
                               lanes=lanes)
        self.recorded: dict[int, int] = {}  # package -> persons recorded so far (progress)
        self.tally = threading.Lock()  # counts and progress, updated here and on the courier's lanes
        self.pending: list[dict[str, Any]] = []
        self.deletions: list[dict[str, Any]] = []
        self.sample_diffs: list[dict[str, Any]] = []
        self.dropped: Counter[str] = Counter()
        self.provisioned = False
        self._ahead: Future[None] | None = None  # `provision_ahead`'s provisioning
        self.mapped = 0

    def take(self, part: Selected) -> None:
        """Record one part and deliver what it made due."""
        from bc2people.pipelines.drops import record_drops

        with self.tally:
            self.counts.update(part.counts)
            self.counts["sent"] += len(part.to_send)
        self.mapped += part.counts.get("mapped", 0) + part.counts.get("rejected_by_mapping", 0)
        self.deletions.extend(part.deletions)
        self.sample_diffs.extend(part.sample_diffs)
        self.dropped.update(part.dropped)
        self.writer.write(part.entries)
        if part.drops:
            with self.writer.lock:  # the ledger connection is shared with the courier's lanes
                record_drops(self.con, self.run_id, part.drops)
        self.pending.extend(part.to_send)
        while len(self.pending) >= self.chunk:
            self.flush(self.chunk)

    def provision_ahead(self) -> None:
        """Start provisioning now, on a thread of its own, for a run that will send (an
        overlapped first sync): the first package then does not wait for it (one request per
        missing custom attribute: 5.6 s for the default mapping at 250 ms latency). Its error,
        if any, is raised by `provision_once`, before anything is sent."""
        if self.provisioned or self._ahead is not None:
            return
        ahead: Future[None] = Future()

        def run() -> None:  # a daemon: a run that stops meanwhile does not wait for People at exit
            try:
                self._provision()
                ahead.set_result(None)
            except BaseException as exc:  # noqa: BLE001 - raised by provision_once, in the run's thread
                ahead.set_exception(exc)

        self._ahead = ahead
        threading.Thread(target=run, name="people-provision", daemon=True).start()

    def provision_once(self, acting: list[dict[str, Any]] | None = None) -> None:
        """Custom attributes and tags, before the first person is sent or acted on."""
        if self.provisioned or (acting is not None and not acting):
            return
        if self._ahead is not None:
            self._ahead.result()  # provisioned there, or its error
            return
        self._provision()

    def _provision(self) -> None:
        from bc2people.destinations.people.provisioning import provision

        action, tag = on_deleted_action(self.mapping)
        tags = list(self.mapping.fixed_tags)
        if action == "tag" and tag:
            tags.append(tag)
        provision(self.client, dict(self.mapping.custom_attributes), tags)
        self.provisioned = True

    def flush(self, size: int | None = None) -> None:
        """Deliver the first ``size`` payloads gathered (all by default) as one load package."""
        if not self.pending:
            return
        cut = len(self.pending) if size is None else size
        rows, self.pending = self.pending[:cut], self.pending[cut:]
        self.provision_once()
        package = len(self.recorded)
        self.recorded[package] = 0

        def progress(phase: str, **kw: Any) -> None:  # on a courier lane
            with self.tally:
                self.recorded[package] = kw.get("records", 0)
                done = sum(self.recorded.values())
            if self.progress is not None:
                self.progress("push", records=done, mapped=self.mapped)

        def delivered(outcome: Counter[str], sent: int) -> None:  # on a courier lane
            with self.tally:
                _merge_outcomes(self.counts, outcome)
                self.counts["failed"] += sent - sum(outcome.values())

        self.courier.send(rows, delivered, progress)


def _parts_ahead(con: Any, spec: SyncSpec, run_id: str, *, retry_rejected: bool, sample: int,
                 part_size: int, ahead: int) -> Any:
    """`select_chunks` run in a thread on ``con``, up to ``ahead`` parts ahead of the caller:
    the next parts are mapped while the caller delivers (the caller must not use ``con``
    meanwhile). A generator; closing it stops the thread. An error in the thread is raised here."""
    import queue

    from bc2people.pipelines.core.plan import select_chunks

    q: queue.Queue[Any] = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    end = object()
    def produce() -> None:
        item: Any = end
        try:
            for part in select_chunks(con, spec, run_id, retry_rejected=retry_rejected, sample=sample,
                                      chunk_size=part_size):
                while not stop.is_set():
                    try:
                        q.put(part, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            item = exc
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def parts() -> Iterator[Selected]:
        thread = threading.Thread(target=produce, name="push-select", daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if item is end:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join()

    return parts()


def _keep_traits(con: Any) -> None:
    """The traits this run computed, kept for reconciliation (``people_sync.customer_traits``)."""
    from bc2people.pipelines.mapping.traits import TRAITS_TABLE

    con.execute(f"CREATE OR REPLACE TABLE {LEDGER_DATASET}.customer_traits AS SELECT key AS customer_id, traits, "
                f"traits_hash, now() AS computed_at FROM {TRAITS_TABLE}")


def _merge_outcomes(counts: Counter[str], outcome: Counter[str]) -> None:
    for status, n in outcome.items():
        counts[_STATUS_COUNT.get(status, "failed")] += n


def _client() -> Any:
    from bc2people.destinations.people.destination import load_people_config

    return load_people_config().client()


def _apply_deletions(
    client: Any, writer: Ledger, run_id: str, deletions: list[dict[str, Any]], action: str, tag: str | None
) -> int:
    """Tag or delete persons whose customer was deleted in the store; record it once."""
    done = 0
    acting = [d for d in deletions if d["at_target"] and action != "none"]
    if action == "tag" and tag and acting:
        for start in range(0, len(acting), 1000):
            chunk = acting[start : start + 1000]
            result = client.tag_persons_isolating(tag, [d["key"] for d in chunk])
            tagged = set(result.tagged)
            entries = [{"key": d["key"], "entity_id": d["entity_id"], "run_id": run_id,
                        "deleted_action": "tagged", "outcome_status": "TAGGED", "outcome": True}
                       for d in chunk if d["key"] in tagged]
            # People has no such person: the tag cannot apply. Done, with the reason recorded
            # (and the person no longer counted as accepted), so it never blocks a later batch.
            entries += [{"key": d["key"], "entity_id": d["entity_id"], "run_id": run_id,
                         "deleted_action": "tagged", "last_status": "DELETED", "error_code": NOT_IN_PEOPLE,
                         "error_message": f"{tag} not applied: People has no person with this externalId "
                                          f"({result.missing[d['key']]})"[:1000],
                         "outcome_status": NOT_IN_PEOPLE, "attempted": True, "outcome": True}
                        for d in chunk if d["key"] in result.missing]
            writer.write(entries)  # persons in result.failed stay pending: tried again next run
            done += len(tagged)
    elif action == "delete":
        for d in acting:
            client.delete_person(d["key"])
            writer.write([{"key": d["key"], "entity_id": d["entity_id"], "run_id": run_id,
                           "deleted_action": "deleted", "last_status": "DELETED", "attempted": True,
                           "outcome": True}])
            done += 1
    writer.write([{"key": d["key"], "entity_id": d["entity_id"], "run_id": run_id,
                   "deleted_action": DELETED_ACTION_RECORD[action]}
                  for d in deletions if not (d["at_target"] and action != "none")])
    return done

