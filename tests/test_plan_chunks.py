"""`select_and_diff` maps and diffs in chunks: the result is the same whatever the chunk size,
including keys produced twice across chunks and ledger states read per chunk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bc2people.pipelines.core import Mapped, StagedEntity, SyncSpec, select_and_diff
from bc2people.pipelines.core.hashing import canonical_json, text_hash
from bc2people.pipelines.core.ledger import Ledger, ensure_ledger


def _read(con: Any, ids: list[int]) -> Iterator[dict[str, Any]]:
    cur = con.execute("SELECT id, name FROM src.items WHERE id IN (SELECT unnest(?)) ORDER BY id", [ids])
    for rid, name in cur.fetchall():
        yield {"id": rid, "name": name}


def _map(record: dict[str, Any]) -> Mapped:
    rid = record["id"]
    if rid % 11 == 0:
        return Mapped(rid, None, None, "no name", "name")
    key = f"k{rid % 40}" if rid > 45 else f"k{rid}"  # ids above 45 reuse keys of earlier chunks
    return Mapped(rid, key, {"key": key, "name": record["name"], "n": rid})


@pytest.fixture
def con(tmp_path: Path) -> Iterator[Any]:
    c = duckdb.connect(str(tmp_path / "chunks.duckdb"))
    c.execute("CREATE SCHEMA src")
    c.execute("CREATE TABLE src.items AS SELECT i AS id, 'name ' || i AS name, 'load1' AS _dlt_load_id FROM range(1, 61) r(i)")
    ensure_ledger(c, "ledger", [])
    # some keys were accepted before with today's payload (unchanged), some with an older one
    accepted = [{"key": f"k{i}", "entity_id": i, "payload_hash": text_hash(canonical_json(
        {"key": f"k{i}", "name": f"name {i}" if i % 2 else "old", "n": i})), "last_status": "CREATED",
        "run_id": "r0", "source_version": "old", "attempted": True, "outcome": True} for i in range(1, 30)]
    Ledger(c, "ledger", "thing").write(accepted)
    yield c
    c.close()


def test_chunk_size_does_not_change_the_selection(con: Any) -> None:
    spec = SyncSpec(dataset="ledger", target="thing", entity=StagedEntity(table="src.items", read=_read),
                    map_record=_map, mapping_hash="m1", deleted_record="none")
    whole = select_and_diff(con, spec, "r1", sample=100, chunk_size=10_000)
    for size in (1, 3, 7):
        part = select_and_diff(con, spec, "r1", sample=100, chunk_size=size)
        assert part.to_send == whole.to_send
        assert part.entries == whole.entries
        assert part.counts == whole.counts
        assert part.sample_diffs == whole.sample_diffs
    assert whole.counts["unchanged"] > 0 and whole.counts["would_update"] > 0 and whole.counts["would_create"] > 0
    assert any("also produced by record" in (e.get("error_message") or "") for e in whole.entries)


def test_records_are_selected_in_id_order_whatever_the_staged_order(tmp_path: Path) -> None:
    """The selection is sorted by id in Python (DuckDB's sort of a million selected rows
    outgrows the push's memory limit): chunks, and so runs, stay deterministic."""
    import random

    c = duckdb.connect(str(tmp_path / "shuffled.duckdb"))
    try:
        ids = list(range(1, 3001))
        random.Random(3).shuffle(ids)
        c.execute("CREATE SCHEMA src")
        c.execute("CREATE TABLE src.items (id BIGINT, name VARCHAR, _dlt_load_id VARCHAR)")
        c.executemany("INSERT INTO src.items VALUES (?, ?, 'load1')", [(i, f"name {i}") for i in ids])
        ensure_ledger(c, "ledger", [])
        seen: list[int] = []

        def read(con: Any, chunk: list[int]) -> Iterator[dict[str, Any]]:
            seen.extend(chunk)
            return _read(con, chunk)

        spec = SyncSpec(dataset="ledger", target="thing", entity=StagedEntity(table="src.items", read=read),
                        map_record=lambda r: Mapped(r["id"], f"k{r['id']}", {"n": r["id"]}),
                        mapping_hash="m1", deleted_record="none")
        whole = select_and_diff(c, spec, "r1", chunk_size=500)
        assert whole.counts["selected"] == len(ids)
        assert seen == sorted(ids)
    finally:
        c.close()
