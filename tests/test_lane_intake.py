"""The intake's bookkeeping: a same-hash twin re-opens an entry taken or applied before it arrived."""

from __future__ import annotations

from pathlib import Path

from bc2people.pipelines.lane.intake import Entry, Intake


def _entry(msg: str, h: str = "h-same") -> Entry:
    return Entry("store/customer/updated", "customer", "5", 1_700_000_000, h, "{}", msg, "1700000000")


def test_a_twin_arriving_while_its_entry_is_in_flight_keeps_it_pending(tmp_path: Path) -> None:
    intake = Intake(tmp_path / "i.sqlite")
    assert intake.append_many([_entry("m1")]) == ["stored"]
    taken = intake.pending(10)
    intake.mark_attempt(e.seq for e in taken)  # the drain took it and is re-fetching
    assert intake.append_many([_entry("m2")]) == ["duplicate"]  # a second change in the same second
    intake.record([(taken[0].seq, "synced", None)], "lane-1")  # the in-flight batch finishes
    again = intake.pending(10, after=taken[0].seq)
    assert [e.seq for e in again] == [taken[0].seq]  # taken again: its re-fetch may predate the twin
    intake.mark_attempt(e.seq for e in again)
    intake.record([(again[0].seq, "synced", None)], "lane-2")
    assert intake.pending(10) == [] and intake.stats()["done"] == 1
    intake.close()


def test_a_sender_retry_of_an_applied_entry_changes_nothing(tmp_path: Path) -> None:
    intake = Intake(tmp_path / "i.sqlite")
    intake.append_many([_entry("m1")])
    seq = intake.pending(10)[0].seq
    intake.mark_attempt([seq])
    intake.record([(seq, "synced", None)], "lane-1")
    retry = Entry("store/customer/updated", "customer", "5", 1_700_000_000, "h-same", "{}", "m1", "1700000009")
    assert intake.append_many([retry]) == ["duplicate"]
    assert intake.pending(10) == [] and intake.stats()["received"] == 1
    intake.close()
