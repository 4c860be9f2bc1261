"""`runs` and `reconcile` show the lane's backlog and lag (read-only, from the intake journal)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from .fixtures_lane import LaneWorld, lane_world  # noqa: F401 - the fixture
from .fixtures_sync import MAPPING


def test_runs_and_reconcile_show_the_lanes_backlog_and_lag(lane_world: LaneWorld,  # noqa: F811
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from bc2people.pipelines.cli_reconcile import reconcile_main, runs_main
    from bc2people.pipelines.lane.intake import Entry, Intake
    from bc2people.pipelines.sync import run_sync

    w = lane_world
    assert run_sync(MAPPING, w.duckdb).exit_code == 0
    cid = w.bc.customers()[0]["id"]
    w.bc.update_customer(cid, first_name="Reportee")
    w.wait_delivered(1)
    w.drainer().run(until_idle=True)
    intake = Intake(w.intake_path)
    try:  # one delivery nobody drained yet: the backlog
        intake.append_many([Entry("store/customer/updated", "customer", str(cid), 1, "h-report", "{}", "m-report", "1")])
    finally:
        intake.close()
    capsys.readouterr()

    assert reconcile_main(argparse.Namespace(duckdb=str(w.duckdb), json=True)) == 0
    lane = json.loads(capsys.readouterr().out)["lane"]
    assert (lane["pending"], lane["done"]) == (1, 1)
    assert lane["oldest_pending_age_s"] is not None and lane["lag_avg_s_last_hour"] is not None
    assert lane["fates"] == {"synced": 1}

    assert runs_main(argparse.Namespace(duckdb=str(w.duckdb), limit=5, json=False)) == 0
    text = capsys.readouterr().out
    assert "Lane (webhooks): 1 pending" in text and "1 applied" in text and "lag (received -> applied" in text

    assert reconcile_main(argparse.Namespace(duckdb=str(w.duckdb), json=False)) == 0
    assert "Lane (webhooks): 1 pending" in capsys.readouterr().out


def test_no_journal_means_no_lane_section_and_looking_creates_none(tmp_path: Path) -> None:
    from bc2people.pipelines.lane.intake import Entry, Intake, intake_path_for
    from bc2people.pipelines.lane.report import lane_report

    db = tmp_path / "x.duckdb"
    assert lane_report(db) is None
    assert not intake_path_for(db).exists()
    intake = Intake(intake_path_for(db))
    intake.append_many([Entry("store/customer/updated", "customer", "7", 1, "h1", "{}", "m1", "1")])
    intake.close()  # WAL checkpointed and removed: a read-only reader must still open it
    stats = lane_report(db)
    assert stats is not None and (stats["received"], stats["pending"]) == (1, 1)
