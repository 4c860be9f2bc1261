"""A mapped custom attribute renamed or removed: the plan says People keeps it, and
``removed_attributes: clear`` empties it in People (sent as null once, never again)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bc2people.pipelines.mapping import MappingError, load_mapping
from bc2people.pipelines.plan import plan, render_text
from bc2people.pipelines.sync import run_sync
from bc2people.sandbox.run import env_for, start_sandboxes

MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    bc, people = start_sandboxes(40, seed=21, orders=False)
    people.rate_limit = None
    for key, value in env_for(bc, people).items():
        monkeypatch.setenv(key, value)
    mappings = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, mappings)
    try:
        yield bc, people, tmp_path / "r.duckdb", mappings / "customers_to_people.yaml"
    finally:
        bc.stop()
        people.stop()


def _rename_company(path: Path, removed: str | None) -> None:
    """Rename bc_company to bc_company_name (the old attribute is no longer sent)."""
    text = path.read_text(encoding="utf-8").replace("customAttributes.bc_company\n", "customAttributes.bc_company_name\n")
    if removed:
        text = re.sub(r"^on_deleted:", f"removed_attributes: {removed}\n\non_deleted:", text, count=1, flags=re.M)
    path.write_text(text, encoding="utf-8")


def test_the_plan_names_attributes_people_keeps_and_clear_empties_them(world) -> None:  # type: ignore[no-untyped-def]
    bc, people, db, mapping_file = world
    assert run_sync(mapping_file, db, max_rejected_pct=100).exit_code == 0
    holders = [p for p in people.persons() if (p.get("customAttributes") or {}).get("bc_company")]
    assert holders, "the generated store should give some customers a company"

    _rename_company(mapping_file, None)
    report = plan(db, load_mapping(str(mapping_file)), store_hash=bc.store_hash)
    assert report.stale_attributes == {"bc_company": len(holders)} and report.removed_attributes == "leave"
    assert f"bc_company ({len(holders)} persons)" in render_text(report) and "stay in People" in render_text(report)
    run_sync(mapping_file, db, max_rejected_pct=100)
    kept = people.person_by_external_id(holders[0]["externalId"])
    assert kept is not None and kept["customAttributes"].get("bc_company") == holders[0]["customAttributes"]["bc_company"]

    _rename_company(mapping_file, "clear")
    mapping = load_mapping(str(mapping_file))
    assert mapping.removed_attributes == "clear"
    assert "People empties them" in render_text(plan(db, mapping, store_hash=bc.store_hash))
    cleared = run_sync(mapping_file, db, max_rejected_pct=100)
    # every payload now carries bc_company: null, so each person is sent once
    assert cleared.exit_code == 0 and cleared.counts["sent"] == cleared.counts["mapped"] == 40
    after = people.person_by_external_id(holders[0]["externalId"])
    assert after is not None and not (after.get("customAttributes") or {}).get("bc_company")
    assert after["customAttributes"]["bc_company_name"] == holders[0]["customAttributes"]["bc_company"]
    assert run_sync(mapping_file, db, max_rejected_pct=100).counts["sent"] == 0  # cleared once, never again


def test_an_unknown_choice_is_a_located_mapping_error(tmp_path: Path) -> None:
    shutil.copytree(MAPPINGS, tmp_path / "m")
    path = tmp_path / "m" / "customers_to_people.yaml"
    _rename_company(path, "forget")
    with pytest.raises(MappingError) as err:
        load_mapping(str(path))
    assert "removed_attributes" in str(err.value) and "customers_to_people.yaml:" in str(err.value)
