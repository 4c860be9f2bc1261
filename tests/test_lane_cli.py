"""The lane's commands as a user runs them: hooks ensure/status, lane, listen without a secret."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from bc2people.sandbox.bigcommerce import BigCommerceSandbox

from .fixtures_sync import BC2PEOPLE, MAPPING


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BC2PEOPLE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_hooks_ensure_is_idempotent_and_status_reports_each_scope(tmp_path: Path) -> None:
    with BigCommerceSandbox(store_hash="clihooks1", access_token="tok-cli-Hq7") as sb:
        env = {**os.environ, "SOURCES__BIGCOMMERCE__STORE_HASH": sb.store_hash,
               "SOURCES__BIGCOMMERCE__ACCESS_TOKEN": sb.access_token, "SOURCES__BIGCOMMERCE__API_BASE_URL": sb.base_url,
               "LANE__DESTINATION": "https://hooks.example.com/bc", "LANE__SHARED_HEADER_NAME": "X-Lane",
               "LANE__SHARED_HEADER_VALUE": "hdr-secret-Zp1"}
        first = _run(["hooks", "ensure", "--mapping", str(MAPPING), "--json"], env, tmp_path)
        assert first.returncode == 0, first.stderr
        actions = [h["action"] for h in json.loads(first.stdout)["hooks"]]
        assert actions == ["created", "created", "created"]  # customers, addresses, orders (traits need orders)
        assert all(h["headers"] == {"X-Lane": "hdr-secret-Zp1"} for h in sb.commerce.hooks.values())
        again = _run(["hooks", "ensure", "--mapping", str(MAPPING), "--json"], env, tmp_path)
        assert [h["action"] for h in json.loads(again.stdout)["hooks"]] == ["unchanged"] * 3
        status = _run(["hooks", "status", "--mapping", str(MAPPING), "--duckdb", str(tmp_path / "x.duckdb"),
                       "--json"], env, tmp_path)
        out = json.loads(status.stdout)
        assert [s["status"] for s in out["scopes"]] == ["active"] * 3 and out["blocked_domains"] == []
        assert "hdr-secret-Zp1" not in status.stdout + status.stderr + first.stdout + first.stderr


def test_listen_without_a_way_to_authenticate_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANE__", "SOURCES__BIGCOMMERCE__CLIENT"))}
    out = _run(["listen", "--duckdb", str(tmp_path / "x.duckdb")], env, tmp_path)
    assert out.returncode == 2 and "SOURCES__BIGCOMMERCE__CLIENT_SECRET" in out.stderr


def test_lane_reports_backlog_and_fates(tmp_path: Path) -> None:
    from bc2people.pipelines.lane.intake import Entry, Intake, intake_path_for

    db = tmp_path / "x.duckdb"
    intake = Intake(intake_path_for(db))
    intake.append_many([Entry("store/customer/updated", "customer", "3", 1, "h1", "{}", "m1", "1"),
                        Entry("store/cart/abandoned", "cart", "c", 1, "h2", "{}", "m2", "1")])
    intake.close()
    out = _run(["lane", "--duckdb", str(db), "--json"], dict(os.environ), tmp_path)
    stats = json.loads(out.stdout)
    assert (stats["received"], stats["pending"], stats["ignored"]) == (2, 1, 1)
    assert stats["oldest_pending_age_s"] is not None
