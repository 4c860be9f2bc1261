"""What a run prints: progress (live and logged), dry-run diffs, run history, tables."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from bc2people.pipelines.output import (
    COMPACT_RUNS_COLUMNS,
    Progress,
    format_diffs,
    format_pairs,
    format_runs,
    format_table,
)


def test_live_progress_shows_rate_pages_batches_and_eta() -> None:
    out = io.StringIO()
    p = Progress(live=True, stream=out)
    p.DRAW_EVERY_S = 0.0
    p._started -= 2  # as if the phase had been running for 2 s  # noqa: SLF001
    p({"phase": "extract", "pages": 3, "records": 750, "total": 1500})  # the staging's dict style
    p._started -= 2  # noqa: SLF001
    p("extract", records=1000, pages=4, total=1500)
    line = out.getvalue().split("\r")[-1]
    assert "1,000 / 1,500 customers" in line and "4 pages" in line and "/s" in line and "ETA" in line
    p("push", records=1000, batches=1, total=2000)
    assert "1 batch" in out.getvalue().split("\r")[-1] and "persons" in out.getvalue()
    p.done()
    assert out.getvalue().endswith("\r")  # the line is cleared at the end


def test_progress_never_raises_and_logs_plainly_when_not_live() -> None:
    out = io.StringIO()
    p = Progress(live=False, stream=out)
    p("extract", records="not a number", total=object())  # nonsense must not break a run
    p(None)  # type: ignore[arg-type]
    assert out.getvalue() == ""  # nothing drawn: plain log lines every 10 s instead


def test_dry_run_diffs_are_readable() -> None:
    diffs = [
        {"external_id": "bc-s-1", "kind": "update",
         "changes": [{"field": "firstName", "before": "Ann", "after": "Anna"},
                     {"field": "customAttributes.bc_company", "before": None, "after": "NewCo"}]},
        {"external_id": "bc-s-2", "kind": "create", "changes": [{"field": "lastName", "before": None, "after": "Li"}]},
        "an unexpected shape",
    ]
    text = format_diffs(diffs, limit=3)
    assert "(3 of 3)" in text and "bc-s-1 (update)" in text and "'Ann' → 'Anna'" in text
    assert "∅ → 'NewCo'" in text and "bc-s-2 (create)" in text and "an unexpected shape" in text


def test_run_history_table_has_durations_and_totals() -> None:
    start = datetime(2026, 11, 28, 2, 0, 0)
    runs = [{"run_id": "r2", "status": "success", "started_at": start, "finished_at": start + timedelta(seconds=12.34),
             "extracted": 1200, "sent": 10, "created": 4, "updated": 6, "rejected_by_mapping": 1,
             "rejected_by_people": 2, "deleted_in_store": 0}]
    text = format_runs(runs, COMPACT_RUNS_COLUMNS)
    header, rule, row = text.splitlines()
    assert header.split()[:3] == ["run", "status", "secs"]
    assert "12.3" in row and "1,200" in row and row.split()[-2] == "3"  # rejected = 1 + 2


def test_tables_align_numbers_right_and_text_left() -> None:
    t = format_table(["name", "n"], [["a", 1], ["bbbb", 1000]]).splitlines()
    assert t[2] == "a         1" and t[3] == "bbbb  1,000"
    assert format_pairs([("x", 5), ("longer", 12345)]).splitlines() == ["  x            5", "  longer  12,345"]


def test_rejected_share_counts_mapping_rejections_in_the_denominator() -> None:
    from bc2people.pipelines.sync import rejected_share

    assert rejected_share({"mapped": 0, "rejected_by_mapping": 0}) is None
    assert rejected_share({"mapped": 0, "rejected_by_mapping": 5}) == 100.0  # all refused: not "undefined"
    assert rejected_share({"mapped": 98, "rejected_by_mapping": 2, "rejected_by_people": 3}) == 5.0
