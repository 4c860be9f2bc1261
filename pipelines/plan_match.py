"""``bc2people plan --match``: which staged customers People already knows, before a first sync.

Accounts that used Infobip's BigCommerce app, chat or imports already hold persons with these
emails and phones but none of our ``bc-…`` externalIds. For every live staged customer the
mapping accepts, this asks People's ``POST /people/2/persons/match`` (15 requests/s, ≤1000
identities each) who owns its externalId, emails and phones, and sorts it into:

- ``ours``: its externalId is already in People and its contacts are that person's (or nobody's);
- ``attach``: a new externalId whose contacts all belong to ONE existing person: the upsert
  merges the customer into that person;
- ``conflict``: its identifiers name different persons (the email one person, the phone another,
  or the externalId one and a contact another; also a contact owned by another of our
  customers' persons): the upsert answers 409100 (or, if People resolves identifiers in some
  order, merges into one of them);
- ``new``: nothing matches: the upsert creates a person.

It reads the DuckDB file and People; it writes nothing and sends no upsert.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bc2people.pipelines.ledger import LEDGER_DATASET, TARGET
from bc2people.pipelines.mapping import Mapping
from bc2people.pipelines.staging import iter_staged_customers

KINDS = ("ours", "attach", "conflict", "new")


@dataclass
class MatchResult:
    """Counts per kind (`KINDS`, plus ``checked`` and ``rejected_by_mapping``), the match requests
    sent, and up to ``sample`` examples of attach/conflict (external_id, customer_id, kind, detail)."""

    counts: dict[str, int]
    requests: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "requests": self.requests, "samples": self.samples}


def _identities(payload: dict[str, Any]) -> list[tuple[str, str]]:
    from bc2people.destinations.people.client import identity_key

    out = [identity_key("EXTERNAL_ID", str(payload["externalId"]))]
    for c in payload.get("contactInformation") or []:
        if c.get("type") in ("EMAIL", "PHONE") and c.get("identifier"):
            out.append(identity_key(c["type"], str(c["identifier"])))
    return out


def classify(ext_key: tuple[str, str], contacts: list[tuple[str, str]], found: dict[tuple[str, str], int],
             ours: dict[int, str], external_id: str) -> tuple[str, str]:
    """(kind, detail) of one customer from the match answers; ``ours`` maps person ids our
    ledger already holds to their externalId."""
    pe = found.get(ext_key)
    owners = {c: found[c] for c in contacts if c in found}
    others = {c: pid for c, pid in owners.items() if pid != pe}
    what = "; ".join(f"{t.lower()} {i} belongs to person {pid}" for (t, i), pid in sorted(others.items()))
    if pe is not None:
        return ("ours", "") if not others else ("conflict", f"externalId is person {pe}; {what}")
    pids = set(owners.values())
    if not pids:
        return "new", ""
    if len(pids) > 1:
        return "conflict", what
    (pid,) = pids
    if pid in ours and ours[pid] != external_id:
        return "conflict", f"{what} (the person of {ours[pid]})"
    return "attach", what


def match_report(duckdb_path: str | Path, mapping: Mapping, *, store_hash: str, client: Any,
                 sample: int = 10) -> MatchResult:
    """Map every live staged customer and classify it against People's match endpoint."""
    import duckdb

    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        people: list[tuple[Any, str, list[tuple[str, str]]]] = []
        counts: Counter[str] = Counter({k: 0 for k in (*KINDS, "checked", "rejected_by_mapping")})
        for customer in iter_staged_customers(con):
            if customer.get("_deleted_at"):
                continue
            rec = mapping.map(customer, context={"store_hash": store_hash})
            if rec.payload is None or not rec.external_id:
                counts["rejected_by_mapping"] += 1
                continue
            people.append((rec.customer_id, str(rec.external_id), _identities(rec.payload)))
        try:
            ours = dict(con.execute(f"SELECT remote_id, key FROM {LEDGER_DATASET}.sync_state WHERE target = ? "
                                    "AND remote_id IS NOT NULL", [TARGET]).fetchall())
        except duckdb.CatalogException:
            ours = {}  # no ledger yet: before the first sync
    finally:
        con.close()
    before = _match_requests(client)
    found = client.match_persons([i for _, _, ids in people for i in ids])
    result = MatchResult(dict(counts), _match_requests(client) - before)
    for cid, ext, ids in people:
        kind, detail = classify(ids[0], ids[1:], found, ours, ext)
        result.counts[kind] += 1
        result.counts["checked"] += 1
        if kind in ("attach", "conflict") and len(result.samples) < sample:
            result.samples.append({"external_id": ext, "customer_id": cid, "kind": kind, "detail": detail})
    return result


def _match_requests(client: Any) -> int:
    return int(getattr(client, "match_requests", 0))


def render_match_text(result: MatchResult) -> str:
    """The terminal rendering of the match section."""
    c = result.counts
    rows = [
        ("customers checked", c["checked"]),
        ("already in People under our externalId", c["ours"]),
        ("would attach to an existing person (same email/phone)", c["attach"]),
        ("would conflict (identifiers of different persons: 409100)", c["conflict"]),
        ("would be new persons", c["new"]),
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["", f"Match against People ({result.requests} match request(s), nothing written):"]
    lines += [f"  {k.ljust(width)}  {v:>10,}" for k, v in rows]
    if result.samples:
        lines += ["", "Examples:"]
        lines += [f"  {s['kind']} {s['external_id']} (customer {s['customer_id']}): {s['detail']}" for s in result.samples]
    return "\n".join(lines)
