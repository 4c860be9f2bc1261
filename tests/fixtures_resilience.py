"""Shared tools of the resilience suite (loaded as a pytest plugin by tests/conftest.py).

A `World` is the two sandboxes, a work dir and the environment that points a real
``bc2people sync`` subprocess at them, with short client timeouts so that injected slow
responses cost little. The checks (`expected_from_store`, `people_problems`,
`ledger_problems`, `runs_problems`) compare the end state with what the mapping produces
from the store, read over the store's own API; they return lists of problems so the soak
can count them and the tests can assert they are empty. `benchmarks/soak.py` uses the same
tools at full size.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from bc2people.sandbox.http import FAULT_KINDS, FaultPlan
from bc2people.sandbox.run import people_client_rate
from tests.fixtures_sync import BC2PEOPLE, MAPPING, CliResult, SyncWorld, base_env

RES_STORE = "resstore1"
RES_TOKEN = "bc-tok-Rz5Kq8Wm2Xv7Lp4N"  # long, unique: a byte search cannot hit it by accident
RES_KEY = "ib-key-Ry6Jt1Hd9Cs3Bn0M"
SECRETS = (RES_TOKEN, RES_KEY)

BC_READ_TIMEOUT_S = 2.0  # SOURCES__BIGCOMMERCE__READ_TIMEOUT given to the job
PEOPLE_CLIENT_TIMEOUT_S = 5.0  # DESTINATION__PEOPLE__TIMEOUT given to the job (default 30 s)
INCLUDE = "addresses,storecredit,attributes,formfields"
ACCEPTED = ("CREATED", "UPDATED", "NOT_MODIFIED")
META = ("id", "createdAt", "modifiedAt")


class CappedFaults(FaultPlan):
    """A `FaultPlan` that injects at most ``caps[kind]`` faults of a kind, then draws another.

    Used for People's ``slow`` fault: each one costs a full client timeout, so a test
    allows one such wait rather than one per 35 requests.
    """

    def __init__(self, caps: dict[str, int], **kwargs: Any) -> None:
        self.caps = dict(caps)
        super().__init__(**kwargs)

    def draw(self) -> str | None:
        kind = super().draw()
        if kind is None or kind not in self.caps or self.injected[kind] <= self.caps[kind]:
            return kind
        with self._lock:
            self.injected[kind] -= 1
            others = [k for k in self.kinds if k not in self.caps or self.injected[k] < self.caps[k]]
            if not others:
                return None
            other = self._rng.choice(others)
            self.injected[other] += 1
            return other


def set_faults(world: World, rate: float, *, seed: int, people_slow_cap: int | None = 1) -> None:
    """Both sandboxes fail ``rate`` of their requests with every fault kind; slow responses
    outlast each client's timeout (both set short through the job's env)."""
    world.bc.faults.configure(rate=rate, kinds=FAULT_KINDS, seed=seed, slow_seconds=BC_READ_TIMEOUT_S + 1.0)
    caps = {} if people_slow_cap is None else {"slow": people_slow_cap}
    plan = CappedFaults(caps, rate=rate, kinds=FAULT_KINDS, seed=seed + 1,
                        slow_seconds=PEOPLE_CLIENT_TIMEOUT_S + 0.5)
    plan.injected.update(world.people.faults.injected)  # keep what was counted so far
    world.people.server.faults = plan


def clear_faults(world: World) -> None:
    """No more injected faults on either sandbox (counters kept)."""
    world.bc.faults.configure(rate=0.0)
    world.people.faults.configure(rate=0.0)


class World(SyncWorld):
    """A `SyncWorld` whose syncs log JSON and never stop on rejections, plus the suite's helpers."""

    def sync_args(self, *extra: str) -> list[str]:
        return super().sync_args("--log-format", "json", "--max-rejected-pct", "100", *extra)

    def sync_until_success(self, *extra: str, attempts: int = 6) -> list[CliResult]:
        """Run the sync again until it exits 0; every attempt is returned (the last succeeded)."""
        out = []
        for _ in range(attempts):
            res = self.sync(*extra)
            out.append(res)
            if res.returncode == 0:
                return out
            assert res.returncode == 1, res  # a failed run, never a config error or a crash
        raise AssertionError(f"no success after {attempts} runs; last:\n{out[-1]}")

    def upserts(self) -> int:
        return sum(n for k, n in self.people.requests_served.items() if k.endswith("/persons/upsert"))

    def customer_requests(self) -> int:
        return sum(n for k, n in self.bc.requests_served.items() if k.endswith("/v3/customers"))


def make_world(workdir: Path, *, customers: Iterable[dict[str, Any]] = (), people_rate_limit: int | None = 5,
               extra_env: dict[str, str] | None = None) -> World:
    """Build (not start) the sandboxes of a world with the given customers."""
    from bc2people.sandbox.bigcommerce import BigCommerceSandbox
    from bc2people.sandbox.people import PeopleSandbox

    bc = BigCommerceSandbox(store_hash=RES_STORE, access_token=RES_TOKEN, quota=None, seed=8)
    people = PeopleSandbox(api_key=RES_KEY, rate_limit=people_rate_limit)
    bc.add_customers(customers)
    env = base_env(workdir)
    env.update(
        SOURCES__BIGCOMMERCE__STORE_HASH=RES_STORE,
        SOURCES__BIGCOMMERCE__ACCESS_TOKEN=RES_TOKEN,
        SOURCES__BIGCOMMERCE__API_BASE_URL=bc.base_url,
        SOURCES__BIGCOMMERCE__READ_TIMEOUT=str(BC_READ_TIMEOUT_S),
        SOURCES__BIGCOMMERCE__BACKOFF_BASE="0.2",
        SOURCES__BIGCOMMERCE__BACKOFF_MAX="2",
        DESTINATION__PEOPLE__BASE_URL=people.base_url,
        DESTINATION__PEOPLE__API_KEY=RES_KEY,
        DESTINATION__PEOPLE__TIMEOUT=str(PEOPLE_CLIENT_TIMEOUT_S),
        DESTINATION__PEOPLE__RATE_LIMIT=people_client_rate(people_rate_limit),
    )
    env.update(extra_env or {})
    return World(bc, people, workdir, env)


# -- what the end state must be ---------------------------------------------------------------
def store_customers(bc: Any) -> list[dict[str, Any]]:
    """Every customer as the store's API returns it (all sub-resources), read with faults off."""
    saved = (bc.faults.rate, bc.quota.limit, bc.quota.window_s)
    bc.faults.configure(rate=0.0)
    bc.set_quota(None)
    try:
        out: list[dict[str, Any]] = []
        with requests.Session() as s:
            s.headers.update({"X-Auth-Token": bc.access_token, "Accept": "application/json"})
            page = 1
            while True:
                query = {"include": INCLUDE, "limit": "250", "page": str(page)}
                r = s.get(f"{bc.base_url}/stores/{bc.store_hash}/v3/customers", params=query, timeout=30)
                r.raise_for_status()
                body = r.json()
                out.extend(body["data"])
                if page >= body["meta"]["pagination"]["total_pages"]:
                    return out
                page += 1
    finally:
        bc.faults.configure(rate=saved[0])
        bc.set_quota(saved[1], saved[2])


@dataclass
class Expected:
    """What the mapping makes of the store: persons by externalId, rejections by customer id."""

    persons: dict[str, dict[str, Any]]
    rejected: dict[int, str]
    ext_of: dict[int, str]


def store_traits(customers: list[dict[str, Any]], mapping: Any) -> dict[int, dict[str, Any]] | None:
    """The mapping's traits computed from the store's own customers (this world's store has no
    orders), in a DuckDB of its own: the expected side never reads the job's staging."""
    import duckdb
    import pyarrow as pa

    from bc2people.pipelines.mapping.traits import compute_traits, traits_for

    if mapping.traits is None:
        return None
    con = duckdb.connect()
    try:
        con.execute("CREATE SCHEMA bigcommerce")
        table = pa.table({"id": [int(c["id"]) for c in customers],
                          "email": [c.get("email") for c in customers],
                          "_deleted_at": pa.nulls(len(customers), pa.timestamp("us"))})
        con.register("store_customers", table)
        con.execute("CREATE TABLE bigcommerce.customers AS SELECT * FROM store_customers")
        compute_traits(con, mapping.traits, as_of=datetime.now(UTC))
        return traits_for(con)
    finally:
        con.close()


def expected_from_store(bc: Any, mapping_path: Path = MAPPING) -> Expected:
    """Map every customer of the store with the mapping file, exactly as the job would."""
    from bc2people.pipelines.mapping import load_mapping

    mapping = load_mapping(str(mapping_path))
    persons: dict[str, dict[str, Any]] = {}
    rejected: dict[int, str] = {}
    ext_of: dict[int, str] = {}
    customers = store_customers(bc)
    traits = store_traits(customers, mapping)
    for c in customers:
        if traits is not None:
            c = {**c, "traits": traits.get(int(c["id"]), {})}
        rec = mapping.map(c, context={"store_hash": bc.store_hash})
        if rec.payload is None:
            rejected[int(c["id"])] = str(rec.rejection)
            continue
        assert rec.external_id not in persons, f"the mapping gives two customers the externalId {rec.external_id}"
        persons[str(rec.external_id)] = rec.payload
        ext_of[int(c["id"])] = str(rec.external_id)
    return Expected(persons, rejected, ext_of)


def canonical_person(person: dict[str, Any]) -> dict[str, Any]:
    """A person (payload or stored profile) in a comparable form: no metadata, tags and
    contacts as sorted lists, numbers as floats."""
    out: dict[str, Any] = {}
    for key, value in person.items():
        if key in META or value is None:
            continue
        if key == "tags":
            out[key] = sorted(set(value or ()))
        elif key == "contactInformation":
            out[key] = sorted((c["type"], str(c["identifier"]).lower(), bool(c.get("primary"))) for c in value or ())
        elif key == "customAttributes":
            out[key] = {k: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                        for k, v in (value or {}).items() if v is not None}
        else:
            out[key] = value
    for key in ("tags", "contactInformation"):
        out.setdefault(key, [])
    out.setdefault("customAttributes", {})
    out.setdefault("type", "CUSTOMER")
    return out


def people_problems(people: Any, expected: Expected, *, prefix: str, deleted: dict[str, str] | None = None,
                    deleted_tag: str = "bc-deleted", refused: Iterable[str] = ()) -> list[str]:
    """Differences between People and the expected persons, field by field.

    ``deleted`` (externalId -> reason) are persons whose customer left the store: they must
    still be there, carrying ``deleted_tag``. ``refused`` are expected persons People
    rejected (see `people_rejections`): they must not be there. Persons of this store that
    are neither expected nor deleted, and duplicated externalIds, are problems too.
    """
    deleted = deleted or {}
    refused = set(refused)
    problems: list[str] = []
    ours = [p for p in people.persons() if str(p.get("externalId", "")).startswith(prefix)]
    counts = Counter(p["externalId"] for p in ours)
    problems += [f"{ext}: {n} persons in People" for ext, n in counts.items() if n > 1]
    problems += [f"{ext}: in People but not produced by the mapping" for ext in counts
                 if ext not in expected.persons and ext not in deleted]
    by_ext = {p["externalId"]: p for p in ours}
    for ext, payload in expected.persons.items():
        stored = by_ext.get(ext)
        if ext in refused:
            if stored is not None:
                problems.append(f"{ext}: recorded as rejected by People, but People has it")
            continue
        if stored is None:
            problems.append(f"{ext}: missing in People")
            continue
        want, got = canonical_person(payload), canonical_person(stored)
        for k in sorted(set(want) | set(got)):
            if want.get(k) != got.get(k):
                problems.append(f"{ext}.{k}: People has {got.get(k)!r}, the mapping gives {want.get(k)!r}")
    for ext in deleted:
        stored = by_ext.get(ext)
        if stored is None:
            problems.append(f"{ext}: deleted in the store, and gone from People (the mapping only tags)")
        elif deleted_tag not in (stored.get("tags") or ()):
            problems.append(f"{ext}: deleted in the store but not tagged {deleted_tag}")
    return problems


def ledger_rows(duckdb_path: Path, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Rows of a query on the job's DuckDB file (read-only)."""
    import duckdb

    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def people_rejections(duckdb_path: Path) -> dict[str, str]:
    """externalId -> reason of every person People rejected (``REJECTED_BY_PEOPLE``).

    Generated stores can hold two customers with the same phone number; People keeps a
    phone on one person only, so it refuses the second. That is an outcome with a reason,
    not a loss; the checks count it apart.
    """
    rows = ledger_rows(duckdb_path, "SELECT external_id, coalesce(error_message, '') FROM people_sync.person_state "
                                    "WHERE last_status = 'REJECTED_BY_PEOPLE'")
    return {str(r[0]): str(r[1]) for r in rows}


def ledger_problems(duckdb_path: Path, people: Any, expected: Expected, *, refused: Iterable[str] = ()) -> list[str]:
    """``person_state`` must agree with People and the mapping: every expected person accepted
    with the hash of its current payload and People's id (or, for ``refused`` ones, rejected
    by People with a reason); every customer the mapping rejects recorded with a reason; one
    row per externalId and per live customer."""
    from bc2people.pipelines.ledger import payload_hash

    refused = set(refused)

    rows = ledger_rows(duckdb_path, "SELECT external_id, customer_id, last_status, accepted_hash, people_id, "
                                    "error_message FROM people_sync.person_state")
    problems: list[str] = []
    by_ext = {r[0]: r for r in rows}
    if len(by_ext) != len(rows):
        problems.append("person_state holds duplicate externalIds")
    for ext, payload in expected.persons.items():
        r = by_ext.get(ext)
        if r is None:
            problems.append(f"{ext}: no person_state row")
            continue
        stored = people.person_by_external_id(ext)
        if ext in refused:
            if r[2] != "REJECTED_BY_PEOPLE" or not r[5]:
                problems.append(f"{ext}: refused by People but person_state says {r[2]} ({r[5]})")
            continue
        if r[2] not in ACCEPTED:
            problems.append(f"{ext}: person_state says {r[2]} ({r[5]})")
        if r[3] != payload_hash(payload):
            problems.append(f"{ext}: accepted_hash is not the hash of the current payload")
        if stored is not None and r[4] != stored["id"]:
            problems.append(f"{ext}: people_id {r[4]} but People's id is {stored['id']}")
    by_customer: dict[int, list[tuple[Any, ...]]] = {}
    for r in rows:
        by_customer.setdefault(r[1], []).append(r)
    for cid, reason in expected.rejected.items():
        got = by_customer.get(cid) or []
        if not any(r[2] in ("REJECTED_BY_MAPPING", "REJECTED_BY_PEOPLE") and r[5] for r in got):
            problems.append(f"customer {cid}: rejected by the mapping ({reason[:80]}) but person_state has {got}")
    live = set(expected.ext_of) | set(expected.rejected)
    problems += [f"customer {cid}: {len(rs)} person_state rows" for cid, rs in by_customer.items()
                 if cid in live and len(rs) > 1]
    return problems


def runs_problems(duckdb_path: Path, results: list[CliResult]) -> list[str]:
    """The run history must tell the truth about every invocation: one row per sync run,
    success for exit 0, failed for a killed or failed (exit 1) run, and the printed counts
    equal to the recorded ones."""
    rows = ledger_rows(duckdb_path, "SELECT run_id, status, error, created, updated, not_modified, sent, "
                                    "rejected_by_people, failed FROM people_sync.runs ORDER BY started_at")
    problems: list[str] = []
    syncs = [r for r in results if r.args and r.args[0] == "sync"]
    if len(rows) != len(syncs):
        problems.append(f"{len(rows)} runs recorded for {len(syncs)} sync invocations")
    for res, row in zip(syncs, rows, strict=False):
        status = row[1]
        if res.killed or res.returncode == 1:
            if status != "failed" or not row[2]:
                problems.append(f"run {row[0]}: exit {res.returncode} killed={res.killed} recorded as {status}")
        elif res.returncode in (0, 3):
            summary = res.summary
            if summary["run_id"] != row[0] or status != summary["status"]:
                problems.append(f"run {row[0]}: printed {summary['run_id']} {summary['status']}, recorded {status}")
            c = summary["counts"]
            got = dict(zip(("created", "updated", "not_modified", "sent", "rejected_by_people", "failed"), row[3:],
                           strict=True))
            if any(c[k] != v for k, v in got.items()):
                problems.append(f"run {row[0]}: printed counts {c} differ from recorded {got}")
            if c["created"] + c["updated"] + c["not_modified"] + c["rejected_by_people"] + c["failed"] < c["sent"]:
                problems.append(f"run {row[0]}: sent {c['sent']} but outcomes add up to less")
        else:
            problems.append(f"run {row[0]}: unexpected exit code {res.returncode}")
    return problems


def staging_duplicates(duckdb_path: Path) -> int:
    """Customer ids staged more than once (must be 0)."""
    rows = ledger_rows(duckdb_path, "SELECT count(*) - count(DISTINCT id) FROM bigcommerce.customers")
    return int(rows[0][0])


# -- changing the store between runs ------------------------------------------------------------
def touch_customers(bc: Any, rng: random.Random, n: int, *, tag: str) -> list[int]:
    """Change names, company and city of ``n`` random customers (date_modified bumped), then move
    the store clock past the job's lag so the next incremental run sees them."""
    ids = [c["id"] for c in bc.customers()]
    picked = rng.sample(ids, min(n, len(ids)))
    bc.clock.advance(5)
    for cid in picked:
        c = bc.customer(cid)
        fields: dict[str, Any] = {"first_name": f"{c['first_name'] or 'X'}{tag}"[:60], "company": f"Co {tag} {cid}"}
        if c.get("addresses"):
            addresses = [dict(a) for a in c["addresses"]]
            addresses[0]["city"] = f"City {tag}"
            fields["addresses"] = addresses
        bc.update_customer(cid, **fields)
    bc.clock.advance(120)
    return picked


# -- killing the job ---------------------------------------------------------------------------
PHASES = ("extract", "stage", "map", "push")


@dataclass
class KillPlan:
    """Where to SIGKILL a run: ``phase`` and, inside it, a request number or a delay."""

    phase: str
    nth: int = 1  # extract: the nth customers page; push: the nth upsert request
    delay_s: float = 0.0  # stage: after dlt's load package appears; map: after the "staged" log line


def kill_plans(rng: random.Random, n: int, *, pages: int, batches: int, stage_s: float, map_s: float) -> list[KillPlan]:
    """``n`` kill plans spread evenly over the four phases, moments drawn at random."""
    plans = []
    for i in range(n):
        phase = PHASES[i % len(PHASES)]
        if phase == "extract":
            plans.append(KillPlan(phase, nth=rng.randint(1, max(1, pages))))
        elif phase == "push":
            plans.append(KillPlan(phase, nth=rng.randint(1, max(1, batches))))
        else:
            plans.append(KillPlan(phase, delay_s=rng.uniform(0.0, stage_s if phase == "stage" else map_s)))
    rng.shuffle(plans)
    return plans


def run_and_kill(world: World, plan: KillPlan, *extra: str, timeout: float = 240) -> CliResult:
    """Start ``bc2people sync`` and SIGKILL it at the planned moment.

    extract: on the planned customers request (from the sandbox's request hook); stage: a
    delay after the staging pipeline's new load package appears in dlt's working directory
    (normalizing, then loading into DuckDB); map: a delay after the job logged ``staged``;
    push: when the planned upsert request arrives. Returns the result with ``killed`` set
    and ``phase`` the phase the process was really in (None when it finished before the
    moment came).
    """
    from bc2people.pipelines.paths import pipelines_dir_for
    from bc2people.pipelines.staging import PIPELINE_NAME

    staging_dir = pipelines_dir_for(world.duckdb) / PIPELINE_NAME
    package_dirs = [staging_dir / "normalize" / "extracted", staging_dir / "load" / "new",
                    staging_dir / "load" / "normalized"]

    def packages() -> set[str]:
        found: set[str] = set()
        for d in package_dirs:
            try:  # the run may remove a folder between listing it and reading it (a heal, a wipe)
                found.update(f"{d}/{p.name}" for p in d.iterdir())
            except FileNotFoundError:
                continue
        return found

    packages_at_start = packages()
    args = world.sync_args(*extra)
    proc = subprocess.Popen([*BC2PEOPLE, *args], cwd=world.workdir, env=world.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    state: dict[str, Any] = {"killed": False, "phase": None, "staged": False}
    lock = threading.Lock()
    pages_at_start = world.customer_requests()
    upserts_at_start = world.upserts()
    stderr_lines: list[str] = []

    def kill(planned: str) -> None:
        with lock:
            if state["killed"] or proc.poll() is not None:
                return
            os.kill(proc.pid, signal.SIGKILL)
            # the phase the process was really in: what it had logged and sent so far
            if world.upserts() > upserts_at_start:
                phase = "push"
            elif state["staged"]:
                phase = "map"
            else:
                phase = planned
            state["killed"], state["phase"] = True, phase

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stderr_lines.append(line)
            if '"message": "staged"' in line:
                state["staged"] = True
                if plan.phase == "map":
                    threading.Timer(plan.delay_s, kill, args=("map",)).start()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    hook_prev = world.bc.on_request

    def on_bc_request(req: Any) -> None:
        if plan.phase == "extract" and req.path.endswith("/v3/customers") and \
                world.customer_requests() - pages_at_start >= plan.nth:
            kill("extract")

    if plan.phase == "extract":
        world.bc.on_request = on_bc_request
    deadline = time.monotonic() + timeout
    package_seen_at: float | None = None
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            now = time.monotonic()
            if plan.phase == "push" and world.upserts() - upserts_at_start >= plan.nth:
                kill("push")
            if plan.phase == "stage" and not state["staged"]:
                if package_seen_at is None and packages() - packages_at_start:
                    package_seen_at = now
                if package_seen_at is not None and now - package_seen_at >= plan.delay_s:
                    kill("stage")
            time.sleep(0.002)
        if proc.poll() is None:
            proc.kill()
            raise AssertionError(f"bc2people sync did not finish within {timeout} s")
        stdout = proc.stdout.read() if proc.stdout else ""
    finally:
        world.bc.on_request = hook_prev
        proc.wait()
    reader.join(timeout=5)
    phase = state["phase"] if state["killed"] else None
    result = CliResult(args, proc.returncode, stdout, "".join(stderr_lines), killed=bool(state["killed"]), phase=phase)
    world.runs.append(result)
    return result
