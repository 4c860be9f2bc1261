"""Reliability of the lane: SIGKILL of the receiver or the drain at random points, under a steady stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from .lane_kills import run_kill_soak


@pytest.mark.slow
def test_six_random_kills_lose_nothing_and_send_nothing_twice(tmp_path: Path) -> None:
    report = run_kill_soak(tmp_path, kills=6, rate=8.0, seed=11, customers=12, kill_every_s=0.6)
    assert sum(report.kills.values()) == 6 and report.changes > 12
    assert report.mismatched == []  # every change ended in People (the last value of each customer)
    assert report.accepted_over == []  # no customer has more accepted payloads than changes (+ its creation)
    assert report.not_done == 0 and report.deliveries > 0  # every delivery in the intake has its fate
