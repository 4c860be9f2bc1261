"""Plan: which staged records need mapping, what they map to, and which payloads changed.

`select_and_diff` is the first half of every push and the whole of a dry run: it selects in
SQL the staged records that need mapping (every record on the first run or after a mapping
change; otherwise records whose staged row or derived values changed, records never accepted
except rejected ones unless ``retry_rejected``, and deleted records whose deletion action is
not done), maps them, and diffs each payload hash against the last one the target accepted.
It writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from .hashing import canonical_json, text_hash
from .ledger import DELETED, LIVE, REJECTED_BY_MAPPING, REJECTED_BY_TARGET
from .model import Mapped, ProgressFn, Selected, SyncSpec
from .offload import map_chunk, mapped_in_worker

_DIFF_CHUNK = 5000  # records mapped, then diffed, at a time

# The selector. A record is picked when it is deleted at the source and its deletion action is
# not done yet; or, while live, when it was never mapped, the mapping changed, its staged row or
# derived values changed, a rejection is to be retried, it was never accepted (and not rejected),
# or it came back after a deletion.
_SELECT = """
WITH s AS (  -- only the columns the test below reads, only the staged records' rows
    SELECT entity_id, key, mapping_hash, source_version, derived_hash, last_status, accepted_hash,
           payload_hash, deleted_action
    FROM {ds}.sync_state
    WHERE target = $target AND entity_id IS NOT NULL AND entity_id IN (SELECT {id} FROM {table})
    QUALIFY row_number() OVER (PARTITION BY entity_id ORDER BY last_attempt_at DESC NULLS LAST) = 1
)
SELECT c.{id} AS entity_id, CAST(c.{version} AS VARCHAR) AS version, {deleted} IS NOT NULL AS is_deleted,
       s.key, {derived_hash} AS derived_hash
FROM {table} c LEFT JOIN s ON s.entity_id = c.{id} {derived_join}
WHERE CASE WHEN {deleted} IS NOT NULL THEN s.deleted_action IS DISTINCT FROM $deleted_record
    ELSE s.entity_id IS NULL
      OR s.mapping_hash IS DISTINCT FROM $mapping_hash
      OR s.source_version IS DISTINCT FROM CAST(c.{version} AS VARCHAR)
      OR s.derived_hash IS DISTINCT FROM {derived_hash}
      OR ($retry AND s.last_status IN ('{rej_map}', '{rej_target}'))
      OR (coalesce(s.last_status, '') NOT IN ('{rej_map}', '{rej_target}', '{deleted_status}')
          AND s.accepted_hash IS DISTINCT FROM s.payload_hash)
      OR s.deleted_action IS NOT NULL
    END
"""  # no ORDER BY: DuckDB's sort of a million selected rows outgrows the push's memory limit


def table_columns(con: Any, table: str) -> set[str]:
    """Column names of ``dataset.table`` (empty when it does not exist)."""
    schema, _, name = table.partition(".")
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return {r[0] for r in rows}


def selection_sql(spec: SyncSpec, columns: set[str]) -> str:
    """The selector for ``spec`` given the staged table's columns."""
    e = spec.entity
    derived = e.derived
    return _SELECT.format(
        ds=spec.dataset,
        table=e.table,
        id=e.id_column,
        version=e.version_column if e.version_column in columns else "NULL",
        deleted=f"c.{e.deleted_column}" if e.deleted_column in columns else "CAST(NULL AS TIMESTAMP)",
        derived_hash=f"d.{derived.hash_column}" if derived else "CAST(NULL AS VARCHAR)",
        derived_join=f"LEFT JOIN {derived.table} d ON d.key = c.{e.id_column}" if derived else "",
        rej_map=REJECTED_BY_MAPPING,
        rej_target=REJECTED_BY_TARGET,
        deleted_status=DELETED,
    )


def field_diff(spec: SyncSpec, before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Field-level changes between two payloads, flattened the target's way."""
    a, b = spec.flatten(before), spec.flatten(after)
    return [
        {"field": k, "before": a.get(k), "after": b.get(k)}
        for k in sorted(set(a) | set(b))
        if canonical_json(a.get(k)) != canonical_json(b.get(k))
    ]


def _read_chunk(con: Any, spec: SyncSpec, ids: list[int]) -> tuple[list[dict[str, Any]], dict[int, Any] | None]:
    """The staged records of ``ids`` (read whole: the caller queries the same connection
    next) and their derived values."""
    derived = spec.entity.derived
    return list(spec.entity.read(con, ids)), derived.read(con, ids) if derived else None


def _mapped_chunks(con: Any, spec: SyncSpec, ids: list[int], chunk_size: int, *,
                   offload: bool = True) -> Iterator[list[Mapped]]:
    """The records of ``ids`` mapped, ``chunk_size`` at a time, in sequence: in the worker
    process when the spec offers one (and ``offload``) and the selection is large enough, else
    here; both through `map_chunk`."""
    entity, derived = spec.entity, spec.entity.derived
    attach_as = derived.attach_as if derived else None
    if offload and spec.offload is not None and len(ids) >= spec.offload.min_records:
        yield from mapped_in_worker(con, spec.offload, ids, chunk_size, derived.read if derived else None,
                                    attach_as, entity.id_column)
        return
    for start in range(0, len(ids), chunk_size):
        records, extra = _read_chunk(con, spec, ids[start : start + chunk_size])
        if records:
            yield map_chunk(spec.map_record, records, extra, attach_as, entity.id_column)


def select_and_diff(
    con: Any,
    spec: SyncSpec,
    run_id: str,
    *,
    retry_rejected: bool = False,
    sample: int = 10,
    progress: ProgressFn | None = None,
    chunk_size: int = _DIFF_CHUNK,
) -> Selected:
    """Choose records in SQL, map them, diff against the ledger; writes nothing. Records are
    mapped and diffed ``chunk_size`` at a time (the result does not depend on it)."""
    out = Selected()
    for part in select_chunks(con, spec, run_id, retry_rejected=retry_rejected, sample=sample, progress=progress,
                              chunk_size=chunk_size):
        merge_selected(out, part)
    return out


def merge_selected(into: Selected, part: Selected) -> None:
    """Add ``part`` (one of `select_chunks`' parts) to ``into``."""
    into.to_send.extend(part.to_send)
    into.entries.extend(part.entries)
    into.deletions.extend(part.deletions)
    into.counts.update(part.counts)
    into.sample_diffs.extend(part.sample_diffs)
    into.dropped.update(part.dropped)
    into.drops.extend(part.drops)


def select_chunks(
    con: Any,
    spec: SyncSpec,
    run_id: str,
    *,
    retry_rejected: bool = False,
    sample: int = 10,
    progress: ProgressFn | None = None,
    chunk_size: int = _DIFF_CHUNK,
) -> Iterator[Selected]:
    """`select_and_diff` one part at a time, so a caller can deliver a part while the next is
    mapped: the first part holds the deletions and the ``selected`` count, each later part one
    chunk of ≤ ``chunk_size`` mapped records (payloads, entries, drops, counts, its share of
    the ``sample`` diffs). Merged with `merge_selected`, the parts equal `select_and_diff`'s
    result. Writes nothing; reads ``con`` between parts (give it a cursor of its own when
    another thread writes meanwhile)."""
    cols = table_columns(con, spec.entity.table)
    if not cols:
        return
    params = {"target": spec.target, "deleted_record": spec.deleted_record, "mapping_hash": spec.mapping_hash,
              "retry": bool(retry_rejected)}
    rows = con.execute(selection_sql(spec, cols), params).fetchall()
    if not rows:
        return
    rows.sort(key=itemgetter(0))  # by id: chunks (and so runs) are deterministic
    states_sql = _states_sql(con, spec)
    head = Selected()
    head.counts["selected"] = len(rows)
    version = {r[0]: r[1] for r in rows}
    derived_hash = {r[0]: r[4] for r in rows}
    deleted = {r[0]: r[3] for r in rows if r[2]}
    live_ids = [r[0] for r in rows if not r[2]]
    del rows

    if deleted:  # deleted records: only the deletion action, never a send
        key_by_id = {eid: key for eid, key in deleted.items() if key is not None}
        unkeyed = [eid for eid, key in deleted.items() if key is None]
        for chunk in _mapped_chunks(con, spec, unkeyed, _DIFF_CHUNK, offload=False):
            for rec in chunk:
                key_by_id[rec.entity_id] = rec.key or f"{spec.entity.id_column}:{rec.entity_id}"
        states = _states(con, spec, states_sql, list(key_by_id.values()))
        for eid, key in key_by_id.items():
            st = states.get(key) or {}
            head.deletions.append({"key": key, "entity_id": eid,
                                   "at_target": bool(st.get("accepted_hash") or st.get("remote_id"))})
        head.counts["deleted_at_source_seen"] = len(deleted)
    yield head

    # Mapped in chunks: each chunk's ledger states are read at once and its payloads reduced
    # to their canonical text before the next chunk is mapped, so memory holds one chunk of
    # payload objects, not the whole run's.
    total = len(live_ids)
    seen: dict[str, Any] = {}
    sampled = done = 0
    for chunk in _mapped_chunks(con, spec, live_ids, chunk_size):
        done += len(chunk)
        if progress is not None:
            progress("map", records=done, total=total)
        part = Selected()
        _diff_chunk(con, spec, states_sql, run_id, chunk, part, seen, version, derived_hash, retry_rejected,
                    sample - sampled)
        sampled += len(part.sample_diffs)
        yield part


def _diff_chunk(
    con: Any, spec: SyncSpec, states_sql: str, run_id: str, mapped: list[Mapped], out: Selected,
    seen: dict[str, Any], version: dict[Any, Any], derived_hash: dict[Any, Any], retry_rejected: bool, sample: int,
) -> None:
    """Diff mapped records against their ledger states, first to last (``seen`` spans chunks)."""
    if not mapped:
        return
    states = _states(con, spec, states_sql, [r.key for r in mapped if r.key])
    for rec in mapped:
        eid = rec.entity_id
        base = {"entity_id": eid, "run_id": run_id, "source_version": version.get(eid),
                "derived_hash": derived_hash.get(eid), "mapping_hash": spec.mapping_hash, "deleted_action": LIVE}
        key = rec.key
        rejection = rec.rejection
        if rec.mapped and key and key in seen:
            rejection = f"key {key!r} is also produced by record {seen[key]}"
        if not rec.mapped or rejection or not key:
            reason = rejection or "mapping produced nothing"
            fld = rec.rejection_field
            if fld and not reason.startswith(f"{fld}:"):
                reason = f"{fld}: {reason}"  # the engine's reasons already name their field
            out.entries.append(
                {**base, "key": key if key and key not in seen else f"{spec.entity.id_column}:{eid}",
                 "last_status": REJECTED_BY_MAPPING, "error_code": "MAPPING", "error_field": fld,
                 "error_message": reason[:1000], "attempted": True, "outcome": True}
            )
            out.counts["rejected_by_mapping"] += 1
            continue
        seen[key] = eid
        out.counts["mapped"] += 1
        for fld, why in rec.dropped:
            out.counts["dropped_values"] += 1
            out.dropped[fld] += 1
            out.drops.append({"key": key, "entity_id": eid, "field": fld, "reason": why[:1000]})
        text = rec.text if rec.text is not None else canonical_json(rec.payload)
        h = rec.hash or text_hash(text)
        st = states.get(key) or {}
        if st.get("accepted_hash") == h:
            out.counts["unchanged"] += 1
            out.entries.append({**base, "key": key, "payload_hash": h})
            continue
        if st.get("last_status") == REJECTED_BY_TARGET and st.get("payload_hash") == h and not retry_rejected:
            out.counts["unchanged"] += 1
            out.counts["still_rejected"] += 1
            out.entries.append({**base, "key": key, "payload_hash": h})
            continue
        kind = "update" if st.get("accepted_hash") else "create"
        out.counts["would_" + kind] += 1
        out.to_send.append({**base, "key": key, "payload_hash": h, "payload": text,
                            "accepted_before": bool(st.get("last_success_at") or st.get("accepted_hash")
                                                    or st.get("remote_id"))})
        if len(out.sample_diffs) < sample:
            before = json.loads(st["last_payload"]) if st.get("last_payload") else None
            out.sample_diffs.append({"key": key, "entity_id": eid, "kind": kind,
                                     "changes": field_diff(spec, before, rec.payload if rec.payload is not None
                                                           else json.loads(text))})


def _states_sql(con: Any, spec: SyncSpec) -> str:
    """The ledger lookup of a chunk's keys (``$target``, ``$keys``), decided once per selection."""
    ds = spec.dataset
    found = "target = $target AND key IN (SELECT unnest($keys))"
    if _is_table(con, ds, "sync_state"):
        # found by a scan of the key column alone, then read by row id: a join on the key reads
        # every column of every row (the payloads too), 3x the time at 1M rows
        found = f"rowid IN (SELECT rowid FROM {ds}.sync_state WHERE {found})"
    return (f"SELECT key, accepted_hash, payload_hash, last_status, last_payload, remote_id, last_success_at "
            f"FROM {ds}.sync_state WHERE {found}")


def _states(con: Any, spec: SyncSpec, sql: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    if not keys:
        return {}
    cur = con.execute(sql, {"target": spec.target, "keys": keys})
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def _is_table(con: Any, schema: str, name: str) -> bool:
    """Whether ``schema.name`` is a table (a read-only command's overlay makes it a view)."""
    row = con.execute("SELECT table_type FROM information_schema.tables WHERE table_catalog = current_database() "
                      "AND table_schema = ? AND table_name = ?",
                      [schema, name]).fetchall()
    return bool(row) and row[0][0] == "BASE TABLE"
