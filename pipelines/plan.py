"""``bc2people plan``: what the next push would do, computed exactly as the push does it.

It runs the push's own selection and diff (`pipelines.push.select`, on the sync core) and
reports what that would send: counts of creates, updates, unchanged, rejects and deletion
actions plus a sample of field-level diffs. It sends and writes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bc2people.pipelines.mapping import Mapping
from bc2people.pipelines.push import on_deleted_action, select, stale_attributes
from bc2people.pipelines.staging import count_staged

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
    match: dict[str, Any] | None = None  # `pipelines.plan_match.MatchResult.as_dict()` with --match
    processed: dict[str, int] = field(default_factory=dict)  # mapped / rejected_by_mapping of the records planned
    dropped: dict[str, int] = field(default_factory=dict)  # values on_invalid: drop would leave out, per field
    threshold: str | None = None  # why the run would exit 3, when it would
    stale_attributes: dict[str, int] = field(default_factory=dict)  # in People, no longer mapped: name -> persons
    removed_attributes: str = "leave"  # what the mapping does with them: leave | clear

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (what ``--json`` prints)."""
        out = {
            "mapping": self.mapping_path,
            "mapping_sha256": self.mapping_hash,
            "on_deleted": self.on_deleted,
            "counts": dict(self.counts),
            "sample_diffs": self.sample_diffs,
            "dropped": dict(self.dropped),
            "threshold": self.threshold,
            "stale_attributes": dict(self.stale_attributes),
            "removed_attributes": self.removed_attributes,
        }
        if self.match is not None:
            out["match"] = self.match
        return out


def plan(duckdb_path: str | Path, mapping: Mapping, *, store_hash: str, sample: int = 10) -> PlanResult:
    """Compute the plan for ``mapping`` against the staged customers and the ledger."""
    import duckdb

    from bc2people.pipelines.cli_common import NoDatabase, open_overlay

    path = Path(duckdb_path)
    if not path.exists():
        raise NoDatabase(f"no DuckDB file at {path}: run `bc2people sync` (or stage) first")
    con, _opened = open_overlay(path)  # reads the file; the traits' helper tables live in memory
    try:
        sel, staged_live = _select(con, mapping, store_hash, sample, writable=False)
        stale = stale_attributes(con, mapping)
    except duckdb.Error as exc:
        if "read-only" not in str(exc).lower() and "read only" not in str(exc).lower():
            raise
        # the file has no ledger yet (no run so far): create it, as a run would
        con.close()
        con = duckdb.connect(str(path))
        sel, staged_live = _select(con, mapping, store_hash, sample, writable=True)
        stale = stale_attributes(con, mapping)
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
        "delete_actions": sum(1 for d in sel.deletions if d["at_target"]) if action != "none" else 0,
    }
    return PlanResult(counts, sel.sample_diffs, mapping_path=str(mapping.path or "") or None,
                      mapping_hash=mapping.sha256, on_deleted=action,
                      processed={"mapped": int(c["mapped"]), "rejected_by_mapping": int(c["rejected_by_mapping"])},
                      dropped=dict(sel.dropped), stale_attributes=stale,
                      removed_attributes=mapping.removed_attributes)


def _select(con: Any, mapping: Mapping, store_hash: str, sample: int, *, writable: bool) -> tuple[Any, int]:
    from bc2people.pipelines.ledger import ensure_ledger

    if writable:
        ensure_ledger(con)
    elif not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'people_sync' "
                         "AND table_name = 'sync_state'").fetchone()[0]:
        raise _needs_write()
    sel, _ = select(con, mapping, "plan", store_hash=store_hash, sample=sample)
    return sel, count_staged(con, live_only=True)


def _needs_write() -> Exception:
    import duckdb

    return duckdb.InvalidInputException("the ledger does not exist yet: read-only connection")


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
    if result.dropped:
        lines.append("  values dropped (on_invalid: drop): "
                     + ", ".join(f"{f} {n:,}" for f, n in sorted(result.dropped.items(), key=lambda kv: -kv[1])))
    if result.threshold:
        lines.append(f"  over the threshold, a run would exit 3: {result.threshold}")
    if result.stale_attributes:
        names = ", ".join(f"{n} ({k:,} persons)" for n, k in result.stale_attributes.items())
        lines.append(f"  People holds custom attributes this mapping no longer sends: {names}")
        if result.removed_attributes == "clear":
            lines.append("    removed_attributes: clear sends them as null once, so People empties them")
        else:
            lines.append("    they stay in People as they are (removed_attributes: leave); "
                         "`removed_attributes: clear` in the mapping would empty them")
    if result.sample_diffs:
        lines += ["", f"Sample of {len(result.sample_diffs)} change(s) against the last payload sent:"]
        for d in result.sample_diffs:
            lines.append(f"  {d['kind']} {d['external_id']} (customer {d['customer_id']})")
            for ch in d["changes"]:
                lines.append(f"    {ch['field']}: {_value(ch['before'])} → {_value(ch['after'])}")
    if result.match is not None:
        from bc2people.pipelines.plan_match import MatchResult, render_match_text

        m = result.match
        lines.append(render_match_text(MatchResult(m["counts"], m["requests"], m["samples"])))
    return "\n".join(lines)


def render_json(result: PlanResult) -> str:
    """The ``--json`` rendering."""
    return json.dumps(result.as_dict(), ensure_ascii=False, indent=2, default=str)
