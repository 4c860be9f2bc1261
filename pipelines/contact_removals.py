"""Old emails and phones leave People when a customer changes them.

People's PATCH upsert keeps what it is not given and appends contacts (reference §5: v2 PATCH
appends contacts; PATCH upsert "updates only with the provided data"), so a customer who
changes email in BigCommerce would keep the old one in People: still reachable, and the next
customer who takes that address would hit 409100. So, for the persons this job sends:

- ``people_sync.person_contacts`` keeps, per externalId, the contacts of the last payload People
  ACCEPTED (written when People's 207 says so, in the transaction that records the batch in
  the ledger: both or neither survive a crash). A person
  not tracked yet starts from its ledger row: ``last_payload`` when ``accepted_hash`` equals
  ``payload_hash`` (the last payload sent was the one accepted), else nothing.
- When People accepts a payload without a contact the tracked set has, that contact is queued in
  ``people_sync.contact_removals`` (durable: a crash or a failed removal keeps it); a contact the
  new payload has again leaves the queue.
- `remove_pending` then sends one ``DELETE /people/2/persons/contactInformation`` per person with
  queued contacts. Done: the rows leave the queue and an outcome ``CONTACT_REMOVED`` is recorded;
  People has no such person (404): ``CONTACT_REMOVAL_SKIPPED``; any other failure keeps the rows
  (attempts, last_error, outcome ``CONTACT_REMOVAL_FAILED``) for the next run. The upsert itself
  is already recorded either way.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import orjson as _orjson
import pyarrow as pa

from bc2people.pipelines.core.ledger import ACCEPTED_STATUSES, Ledger, utcnow

CONTACT_REMOVED = "CONTACT_REMOVED"
CONTACT_REMOVAL_SKIPPED = "CONTACT_REMOVAL_SKIPPED"
CONTACT_REMOVAL_FAILED = "CONTACT_REMOVAL_FAILED"
Contact = tuple[str, str]  # (type EMAIL|PHONE, identifier as sent)

_DDL = """
CREATE TABLE IF NOT EXISTS {ds}.person_contacts (key VARCHAR PRIMARY KEY, contacts JSON, updated_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS {ds}.contact_removals (key VARCHAR NOT NULL, type VARCHAR NOT NULL,
    identifier VARCHAR NOT NULL, queued_at TIMESTAMP, run_id VARCHAR, attempts INTEGER DEFAULT 0,
    last_error VARCHAR, PRIMARY KEY (key, type, identifier));
"""


def ensure_tables(con: Any, dataset: str) -> None:
    """Create the two tables when missing (idempotent)."""
    con.execute(_DDL.format(ds=dataset))


def _loads(text: str) -> Any:
    """``json.loads``, via orjson when it can (several times faster). Strings come back the
    same, and only strings are read here (orjson may read a huge integer as a float, so no
    guard against one is needed: `loads_exact` would scan every payload for it); text orjson
    refuses (a lone surrogate) goes to ``json.loads``."""
    try:
        return _orjson.loads(text)
    except (ValueError, TypeError):
        pass
    return json.loads(text)


def _sent_table(rows: list[tuple[str, dict[Contact, str]]]) -> Any:
    """(key, type, identity) of each contact of ``rows``: the contacts a batch sends again."""
    return pa.table({
        "key": [k for k, new in rows for _ in new],
        "type": [t for _k, new in rows for t, _n in new],
        "n": [n for _k, new in rows for _t, n in new],
    }, schema=pa.schema([("key", pa.string()), ("type", pa.string()), ("n", pa.string())]))


def contacts_of(payload: Any) -> dict[Contact, str]:
    """(type, identity) -> identifier as sent, for the emails and phones of a v3 person payload
    (dict or JSON text); emails compare case-insensitively, as People matches them."""
    if isinstance(payload, str):
        payload = _loads(payload)
    out: dict[Contact, str] = {}
    for c in (payload or {}).get("contactInformation") or []:
        kind, ident = c.get("type"), c.get("identifier")
        if kind in ("EMAIL", "PHONE") and isinstance(ident, str) and ident:
            out[(kind, ident.lower() if kind == "EMAIL" else ident)] = ident
    return out


class ContactTracker:
    """Keeps ``person_contacts`` in step with what People accepted and queues what it dropped.

    The People delivery's sink calls `prepare` for each batch, from the load worker threads; the
    ledger runs what it returns inside the transaction that records the batch (its connection,
    its lock). `accepted` does both at once in a transaction of its own.
    """

    def __init__(self, con: Any, dataset: str, target: str, lock: threading.Lock) -> None:
        self.con = con
        self.dataset = dataset
        self.target = target
        self.lock = lock
        ensure_tables(con, dataset)
        self._baseline_needed: bool | None = None

    def _untracked_accepted(self, con: Any) -> bool:
        """Whether any accepted person is not tracked yet (a ledger from before tracking), asked
        once per run: persons accepted during the run are tracked before the ledger records
        them, so a first sync or a tracked ledger never looks up baselines again."""
        if self._baseline_needed is None:
            ds = self.dataset
            row = con.execute(
                f"SELECT EXISTS (SELECT 1 FROM {ds}.sync_state s WHERE s.target = ? AND s.accepted_hash = "
                f"s.payload_hash AND NOT EXISTS (SELECT 1 FROM {ds}.person_contacts p WHERE p.key = s.key))",
                [self.target]).fetchall()
            self._baseline_needed = bool(row and row[0][0])
        return self._baseline_needed

    def accepted(self, rows: Sequence[dict[str, Any]], statuses: Sequence[str], run_id: str) -> int:
        """Record the contacts of the rows People accepted; returns how many removals were queued."""
        apply = self.prepare(rows, statuses, run_id)
        if apply is None:
            return 0
        with self.lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                queued = apply(self.con)
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
        return queued

    def prepare(self, rows: Sequence[dict[str, Any]], statuses: Sequence[str],
                run_id: str) -> Callable[[Any], int] | None:
        """`accepted` in two halves: the payloads are read now (no lock needed), and the returned
        ``apply(con)`` writes them inside the caller's transaction (under the ledger's lock, before
        the ledger records the batch); None when no row was accepted. ``apply`` returns how many
        removals it queued."""
        done = [(r["key"], contacts_of(r["payload"])) for r, s in zip(rows, statuses, strict=True)
                if s in ACCEPTED_STATUSES and r.get("payload")]
        if not done:
            return None
        # The persons People accepted before this run (or may have: a row without the flag):
        # only they can have a baseline in an older ledger's payloads, or removals queued.
        # Tracked contacts are read for every row as they are replaced (`_replace`).
        keys = list(dict.fromkeys(r["key"] for r, s in zip(rows, statuses, strict=True)
                                  if s in ACCEPTED_STATUSES and r.get("payload") and r.get("accepted_before") is not False))
        # Removals are only ever queued for a person accepted before (its contacts were tracked
        # then): only those persons' contacts sent again can cancel one. A first sync has none.
        known = set(keys)
        sent = _sent_table([(k, new) for k, new in done if k in known])
        latest = dict(done)  # one row per person (the last, should a batch hold a key twice)
        contacts = pa.table({
            "key": list(latest),
            "contacts": [json.dumps([[t, i] for (t, _n), i in sorted(new.items())]) for new in latest.values()],
        })

        def apply(con: Any) -> int:
            return self._apply(con, done, keys, sent, contacts, run_id)

        return apply

    def _apply(self, con: Any, done: list[tuple[str, dict[Contact, str]]], keys: list[str], sent: Any,
               contacts: Any, run_id: str) -> int:
        con.register("_cr_contacts", contacts)
        try:
            return self._replace(con, done, keys, sent, run_id)
        finally:
            con.unregister("_cr_contacts")

    def _replace(self, con: Any, done: list[tuple[str, dict[Contact, str]]], keys: list[str], sent: Any,
                 run_id: str) -> int:
        """Replace the batch's tracked contacts (``_cr_contacts``) and queue what they drop."""
        ds = self.dataset
        # The tracked contacts are read as they are deleted (then inserted anew below: INSERT OR
        # REPLACE runs as a join reading every stored row, 5x the time at 1M persons). Every key
        # of the batch is read, not only those its row says were accepted before: a customer
        # read twice in one run (changed while the store was being read) was not accepted yet
        # when its second copy was selected, but its first copy may have been since, and what
        # that copy sent is what the second one drops.
        tracked: dict[str, Any] = dict(con.execute(
            f"DELETE FROM {ds}.person_contacts WHERE key IN (SELECT key FROM _cr_contacts) "
            "RETURNING key, contacts").fetchall())
        known = set(keys)
        again = [(k, new) for k, new in done if k in tracked and k not in known]
        if again:  # accepted earlier in this run: its contacts sent again cancel removals too
            sent = pa.concat_tables([sent, _sent_table(again)])
        untracked = [k for k in keys if k not in tracked]
        baseline: dict[str, Any] = {}
        if untracked and self._untracked_accepted(con):
            baseline = dict(con.execute(
                f"SELECT key, last_payload FROM {ds}.sync_state WHERE target = ? AND key IN "
                f"({', '.join('?' * len(untracked))}) AND accepted_hash = payload_hash",
                [self.target, *untracked]).fetchall())
        now, queued = utcnow(), []
        for key, new in done:
            if key in tracked:
                old = {(t, i.lower() if t == "EMAIL" else i): i for t, i in _loads(tracked[key] or "[]")}
            else:
                old = contacts_of(baseline.get(key))
            queued += [(key, t, old[(t, n)]) for t, n in old if (t, n) not in new]
        # Set-based: one statement per table for the whole batch (a statement per contact
        # cost seconds per 1,000 persons and held the ledger's lock meanwhile).
        gone = pa.table({"key": [q[0] for q in queued], "type": [q[1] for q in queued],
                         "identifier": [q[2] for q in queued]},
                        schema=pa.schema([("key", pa.string()), ("type", pa.string()), ("identifier", pa.string())]))
        con.register("_cr_sent", sent)
        con.register("_cr_gone", gone)
        try:
            if queued:
                con.execute(
                    f"INSERT INTO {ds}.contact_removals (key, type, identifier, queued_at, run_id, attempts) "
                    "SELECT DISTINCT key, type, identifier, $now, $run, 0 FROM _cr_gone ON CONFLICT DO NOTHING",
                    {"now": now, "run": run_id})
            if sent.num_rows:  # a contact sent again is no longer to remove
                con.execute(
                    f"DELETE FROM {ds}.contact_removals r USING _cr_sent s WHERE r.key = s.key AND r.type = s.type "
                    "AND (CASE WHEN r.type = 'EMAIL' THEN lower(r.identifier) ELSE r.identifier END) = s.n")
            con.execute(
                f"INSERT INTO {ds}.person_contacts (key, contacts, updated_at) "
                "SELECT key, contacts, $now FROM _cr_contacts", {"now": now})
        finally:
            for name in ("_cr_sent", "_cr_gone"):
                con.unregister(name)
        return len(queued)


def pending(con: Any, dataset: str) -> dict[str, list[Contact]]:
    """externalId -> queued (type, identifier) contacts, in key order."""
    out: dict[str, list[Contact]] = {}
    for key, kind, ident in con.execute(
        f"SELECT key, type, identifier FROM {dataset}.contact_removals ORDER BY key, type, identifier"
    ).fetchall():
        out.setdefault(key, []).append((kind, ident))
    return out


def remove_pending(client: Any, writer: Ledger, run_id: str) -> tuple[int, int]:
    """Remove every queued contact from People, one request per person; returns (contacts
    removed, contacts still queued). Failures stay queued; an auth error is raised."""
    from bc2people.destinations.people.errors import PeopleAuthError, PeopleError

    con, ds = writer.con, writer.dataset
    removed = 0
    for key, contacts in pending(con, ds).items():
        emails = [i for t, i in contacts if t == "EMAIL"]
        phones = [i for t, i in contacts if t == "PHONE"]
        what = ", ".join(f"{t.lower()} {i}" for t, i in contacts)
        try:
            found = client.remove_contacts(key, emails, phones)
        except PeopleAuthError:
            raise
        except PeopleError as exc:
            with writer.lock:
                con.execute(f"UPDATE {ds}.contact_removals SET attempts = attempts + 1, last_error = ? WHERE key = ?",
                            [str(exc)[:500], key])
            writer.write([{"key": key, "run_id": run_id, "outcome_status": CONTACT_REMOVAL_FAILED, "outcome": True,
                           "error_message": f"could not remove {what}: {exc}"[:1000]}])
            continue
        with writer.lock:
            con.execute(f"DELETE FROM {ds}.contact_removals WHERE key = ?", [key])
        if found:
            removed += len(contacts)
            writer.write([{"key": key, "run_id": run_id, "outcome_status": CONTACT_REMOVED, "outcome": True,
                           "error_message": f"removed {what} (no longer mapped)"[:1000]}])
        else:
            writer.write([{"key": key, "run_id": run_id, "outcome_status": CONTACT_REMOVAL_SKIPPED, "outcome": True,
                           "error_message": f"not removed, People has no such person: {what}"[:1000]}])
    row = con.execute(f"SELECT count(*) FROM {ds}.contact_removals").fetchone()
    return removed, int(row[0]) if row else 0
