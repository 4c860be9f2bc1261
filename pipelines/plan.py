"""``bc2people plan``: what the next push would do, computed exactly as the push does it.

`select_and_diff` is the first half of every push and the whole of a plan: it selects, in
DuckDB SQL, the staged customers that need mapping (everything on the first run or after a
mapping change; otherwise customers whose staged row changed, persons never accepted
except rejected ones unless ``retry_rejected``, and deleted customers whose deletion action
is not done), maps them and diffs each payload hash against the last accepted one.
`plan` reports what that would send — counts of creates, updates, unchanged, rejects and
deletion actions plus a sample of field-level diffs — and sends and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.ledger import LEDGER_DATASET
from pipelines.mapping import canonical_json

STAGING_TABLE = "bigcommerce.customers"

ProgressFn = Callable[..., None]
# person_state.deleted_action once the mapping's on_deleted action is done for a person
DELETED_ACTION_RECORD = {"none": "none", "tag": "tagged", "delete": "deleted"}
LIVE = ""  # written as deleted_action for customers present in the store: clears it


@dataclass
class Selected:
    """The work a run found: persons to send and ledger entries to write."""

    to_send: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    deletions: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    sample_diffs: list[dict[str, Any]] = field(default_factory=list)


def on_deleted_action(mapping: Any) -> tuple[str, str | None]:
    """(action, tag) of the mapping's ``on_deleted``: none (default), tag or delete."""
    spec = getattr(mapping, "on_deleted", None) or {}
    action = str(spec.get("action") or "none")
    if action not in ("none", "tag", "delete"):
        raise ValueError(f"on_deleted action must be none, tag or delete, got {action!r}")
    return action, spec.get("tag")


def _staged_columns(con: Any) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'bigcommerce' "
        "AND table_name = 'customers'"
    ).fetchall()
    return {r[0] for r in rows}


def _select_sql(has_deleted: bool) -> str:
    deleted = "c._deleted_at" if has_deleted else "CAST(NULL AS TIMESTAMP)"
    return f"""
    WITH s AS (
        SELECT * FROM {LEDGER_DATASET}.person_state
        WHERE customer_id IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY last_attempt_at DESC NULLS LAST) = 1
    )
    SELECT c.id, c._dlt_load_id, {deleted} IS NOT NULL AS is_deleted, s.external_id
    FROM {STAGING_TABLE} c LEFT JOIN s ON s.customer_id = c.id
    WHERE CASE WHEN {deleted} IS NOT NULL THEN s.deleted_action IS DISTINCT FROM $action
        ELSE s.customer_id IS NULL
          OR s.mapping_hash IS DISTINCT FROM $mapping_hash
          OR s.source_load_id IS DISTINCT FROM c._dlt_load_id
          OR ($retry AND s.last_status IN ('REJECTED_BY_MAPPING', 'REJECTED_BY_PEOPLE'))
          OR (coalesce(s.last_status, '') NOT IN ('REJECTED_BY_MAPPING', 'REJECTED_BY_PEOPLE', 'DELETED')
              AND s.accepted_hash IS DISTINCT FROM s.payload_hash)
          OR s.deleted_action IS NOT NULL  -- back in the store after a deletion
        END
    ORDER BY c.id
    """


def _iter_customers(con: Any, ids: list[int]) -> Iterator[dict[str, Any]]:
    """Staged customers (API-shaped dicts) for the given ids."""
    from pipelines.staging import iter_staged_customers

    if ids:
        yield from iter_staged_customers(con, customer_ids=ids)


def _flatten(payload: dict[str, Any] | None) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in (payload or {}).items():
        if key == "customAttributes" and isinstance(value, dict):
            for k, v in value.items():
                flat[f"customAttributes.{k}"] = v
        else:
            flat[key] = value
    return flat


def field_diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Field-level changes between two People payloads (custom attributes one by one)."""
    a, b = _flatten(before), _flatten(after)
    return [
        {"field": k, "before": a.get(k), "after": b.get(k)}
        for k in sorted(set(a) | set(b))
        if canonical_json(a.get(k)) != canonical_json(b.get(k))
    ]


def select_and_diff(
    con: Any,
    mapping: Any,
    run_id: str,
    *,
    store_hash: str,
    retry_rejected: bool = False,
    sample: int = 10,
    progress: ProgressFn | None = None,
) -> Selected:
    """Steps 2-3: choose customers in SQL, map them, diff against the ledger (no writes)."""
    out = Selected()
    cols = _staged_columns(con)
    if not cols:
        return out
    action, _tag = on_deleted_action(mapping)
    mapping_hash = str(getattr(mapping, "sha256", "") or "")
    rows = con.execute(
        _select_sql("_deleted_at" in cols),
        {"action": DELETED_ACTION_RECORD[action], "mapping_hash": mapping_hash, "retry": bool(retry_rejected)},
    ).fetchall()
    if not rows:
        return out
    out.counts["selected"] = len(rows)
    load_ids = {r[0]: r[1] for r in rows}
    deleted = {r[0]: r[3] for r in rows if r[2]}
    live_ids = [r[0] for r in rows if not r[2]]
    context = {"store_hash": store_hash}

    # deleted customers: only the on_deleted action, never an upsert
    if deleted:
        need_map = [cid for cid, ext in deleted.items() if ext is None]
        ext_by_id = {cid: ext for cid, ext in deleted.items() if ext is not None}
        for customer in _iter_customers(con, need_map):
            rec = _map_one(mapping, customer, context)
            ext_by_id[customer["id"]] = rec.external_id or f"customer:{customer['id']}"
        states = _states(con, list(ext_by_id.values()))
        for cid, ext in ext_by_id.items():
            st = states.get(ext) or {}
            in_people = bool(st.get("accepted_hash") or st.get("people_id"))
            out.deletions.append(
                {"external_id": ext, "customer_id": cid, "in_people": in_people, "action": action}
            )
        out.counts["deleted_in_store_seen"] = len(deleted)

    mapped: list[tuple[Any, Any]] = []
    total = len(live_ids)
    for n, customer in enumerate(_iter_customers(con, live_ids), 1):
        mapped.append((_map_one(mapping, customer, context), customer.get("id")))
        if progress is not None and (n % 5000 == 0 or n == total):
            progress("map", records=n, total=total)
    states = _states(con, [r.external_id for r, _ in mapped if r.external_id])
    seen: dict[str, Any] = {}
    for rec, cid in mapped:
        cid = rec.customer_id if rec.customer_id is not None else cid
        base = {"customer_id": cid, "run_id": run_id, "source_load_id": load_ids.get(cid),
                "mapping_hash": mapping_hash, "deleted_action": LIVE}
        ext = rec.external_id
        rejection = rec.rejection
        if rec.payload is not None and ext and ext in seen:
            rejection = f"externalId {ext!r} is also produced by customer {seen[ext]}"
        if rec.payload is None or rejection or not ext:
            reason = rejection or "mapping produced no person"
            field = getattr(rec, "rejection_field", None)
            if field and not reason.startswith(f"{field}:"):
                reason = f"{field}: {reason}"  # the engine's reasons already name their field
            key = ext if ext and ext not in seen else f"customer:{cid}"
            out.entries.append(
                {**base, "external_id": key, "last_status": "REJECTED_BY_MAPPING", "error_code": "MAPPING",
                 "error_message": reason[:1000], "attempted": True, "outcome": True}
            )
            out.counts["rejected_by_mapping"] += 1
            continue
        seen[ext] = cid
        out.counts["mapped"] += 1
        person_json = canonical_json(rec.payload)
        h = hashlib.sha256(person_json.encode("utf-8")).hexdigest()  # == payload_hash(rec.payload)
        st = states.get(ext) or {}
        if st.get("accepted_hash") == h:
            out.counts["unchanged"] += 1
            out.entries.append({**base, "external_id": ext, "payload_hash": h})
            continue
        if st.get("last_status") == "REJECTED_BY_PEOPLE" and st.get("payload_hash") == h and not retry_rejected:
            out.counts["unchanged"] += 1
            out.counts["still_rejected"] += 1
            out.entries.append({**base, "external_id": ext, "payload_hash": h})
            continue
        kind = "update" if st.get("accepted_hash") else "create"
        out.counts["would_" + kind] += 1
        out.to_send.append({**base, "external_id": ext, "payload_hash": h, "person": person_json})
        if len(out.sample_diffs) < sample:
            before = json.loads(st["last_payload"]) if st.get("last_payload") else None
            out.sample_diffs.append(
                {"external_id": ext, "customer_id": cid, "kind": kind,
                 "changes": field_diff(before, rec.payload)}
            )
    return out


@dataclass
class _Failed:
    """Stands in for a mapped record when the mapping raised on a customer."""

    customer_id: Any
    rejection: str
    external_id: str | None = None
    payload: None = None
    rejection_field: str | None = None


def _map_one(mapping: Any, customer: dict[str, Any], context: dict[str, Any]) -> Any:
    """``mapping.map``; a customer the mapping cannot handle becomes a mapping rejection."""
    try:
        return mapping.map(customer, context=context)
    except Exception as exc:  # noqa: BLE001 - one hostile record must not stop the run
        return _Failed(customer.get("id"), f"mapping failed: {type(exc).__name__}: {exc}"[:500])


def _states(con: Any, external_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not external_ids:
        return {}
    cur = con.execute(
        f"SELECT external_id, accepted_hash, payload_hash, last_status, last_payload, people_id "
        f"FROM {LEDGER_DATASET}.person_state WHERE external_id IN (SELECT unnest($ids))",
        {"ids": external_ids},
    )
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


PLAN_COUNTS = (
    "staged",
    "creates",
    "updates",
    "unchanged",
    "rejected_by_mapping",
    "still_rejected_by_people",
    "delete_actions",
)


@dataclass
class PlanResult:
    """Counts (keys in `PLAN_COUNTS`) and up to ``sample`` field-level diffs."""

    counts: dict[str, int]
    sample_diffs: list[dict[str, Any]] = field(default_factory=list)
    mapping_path: str | None = None
    mapping_hash: str | None = None
    on_deleted: str = "none"

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (what ``--json`` prints)."""
        return {
            "mapping": self.mapping_path,
            "mapping_sha256": self.mapping_hash,
            "on_deleted": self.on_deleted,
            "counts": dict(self.counts),
            "sample_diffs": self.sample_diffs,
        }


def plan(duckdb_path: str | Path, mapping: Any, *, store_hash: str, sample: int = 10) -> PlanResult:
    """Compute the plan for ``mapping`` against the staged customers and the ledger."""
    import duckdb

    from pipelines.ledger import ensure_ledger

    path = Path(duckdb_path)
    if not path.exists():
        raise FileNotFoundError(f"no DuckDB file at {path}: run `bc2people sync` (or stage) first")
    con = duckdb.connect(str(path))
    try:
        ensure_ledger(con)
        sel = select_and_diff(con, mapping, "plan", store_hash=store_hash, sample=sample)
        staged_live = _count_live(con)
    finally:
        con.close()
    action, _tag = on_deleted_action(mapping)
    c = sel.counts
    creates, updates = c["would_create"], c["would_update"]
    selected_live = c["selected"] - c["deleted_in_store_seen"]
    counts = {
        "staged": staged_live,
        "creates": creates,
        "updates": updates,
        "unchanged": c["unchanged"] + max(0, staged_live - selected_live),
        "rejected_by_mapping": c["rejected_by_mapping"],
        "still_rejected_by_people": c["still_rejected"],
        "delete_actions": sum(1 for d in sel.deletions if d["in_people"]) if action != "none" else 0,
    }
    return PlanResult(
        counts,
        sel.sample_diffs,
        mapping_path=str(getattr(mapping, "path", "") or "") or None,
        mapping_hash=getattr(mapping, "sha256", None),
        on_deleted=action,
    )


def _count_live(con: Any) -> int:
    cols = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'bigcommerce' AND table_name = 'customers'"
        ).fetchall()
    }
    if not cols:
        return 0
    where = " WHERE _deleted_at IS NULL" if "_deleted_at" in cols else ""
    row = con.execute(f"SELECT count(*) FROM bigcommerce.customers{where}").fetchone()
    return int(row[0]) if row else 0


def _value(v: Any, limit: int = 60) -> str:
    text = "∅" if v is None else json.dumps(v, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_text(result: PlanResult) -> str:
    """The terminal rendering: counts first, then the sampled diffs."""
    c = result.counts
    digest = (result.mapping_hash or "")[:12]
    lines = [f"Plan for {result.mapping_path or 'mapping'} (sha256 {digest}…): nothing is sent", ""]
    rows = [
        ("staged customers", c["staged"]),
        ("creates", c["creates"]),
        ("updates", c["updates"]),
        ("unchanged", c["unchanged"]),
        ("rejected by mapping", c["rejected_by_mapping"]),
        ("still rejected by People (not resent)", c["still_rejected_by_people"]),
        (f"deletion actions (on_deleted: {result.on_deleted})", c["delete_actions"]),
    ]
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k.ljust(width)}  {v:>10,}" for k, v in rows]
    if result.sample_diffs:
        lines += ["", f"Sample of {len(result.sample_diffs)} change(s) against the last payload sent:"]
        for d in result.sample_diffs:
            lines.append(f"  {d['kind']} {d['external_id']} (customer {d['customer_id']})")
            for ch in d["changes"]:
                lines.append(f"    {ch['field']}: {_value(ch['before'])} → {_value(ch['after'])}")
    return "\n".join(lines)


def render_json(result: PlanResult) -> str:
    """The ``--json`` rendering."""
    return json.dumps(result.as_dict(), ensure_ascii=False, indent=2, default=str)
