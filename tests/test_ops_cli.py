"""One CLI grammar, honest summaries, alerts (issue 15): real subprocesses against the sandboxes."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bc2people.pipelines.config import ALL_SETTINGS
from bc2people.pipelines.output import format_run_summary
from tests.fixtures_sync import BC2PEOPLE, MAPPING, SyncWorld, base_env, started_sync_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncWorld]:
    with started_sync_world(tmp_path_factory.mktemp("grammar"), customers=60) as w:
        first = w.sync("--json")
        assert first.returncode == 0, first
        yield w


def test_version_and_sync_help_lists_every_setting(tmp_path: Path) -> None:
    run = subprocess.run([*BC2PEOPLE, "--version"], env=base_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.startswith("bc2people ")
    helped = subprocess.run([*BC2PEOPLE, "sync", "--help"], env=base_env(tmp_path), capture_output=True, text=True,
                            timeout=60)
    for s in ALL_SETTINGS:
        assert s.env_var in helped.stdout, s.env_var
    assert "DESTINATION__PEOPLE__TIMEOUT" in helped.stdout and "--max-rejected N" in helped.stdout


def test_mapping_commands_take_dash_dash_mapping_and_the_old_positional_with_a_note(world: SyncWorld) -> None:
    new = world.cli("mapping", "check", "--mapping", str(MAPPING), "--json")
    assert new.returncode == 0 and json.loads(new.stdout)["ok"] is True and new.stderr == ""
    old = world.cli("mapping", "check", str(MAPPING))
    assert old.returncode == 0 and "deprecated; use --mapping" in old.stderr


def test_a_missing_database_is_exit_2_in_every_command(world: SyncWorld) -> None:
    for argv in (["runs"], ["reconcile"], ["plan", "--mapping", str(MAPPING)],
                 ["mapping", "preview", "--mapping", str(MAPPING)]):
        out = world.cli(*argv, "--duckdb", "missing.duckdb")
        assert out.returncode == 2 and "no DuckDB file" in out.stderr, out


def test_an_unknown_customer_id_is_said(world: SyncWorld) -> None:
    out = world.cli("mapping", "preview", "--mapping", str(MAPPING), "--duckdb", str(world.duckdb),
                    "--customer-id", "1", "--customer-id", "99999", "--json")
    assert out.returncode == 0, out
    doc = json.loads(out.stdout)
    assert doc["unknown_customer_ids"] == [99999] and "no staged customer with id 99999" in out.stderr


def test_a_closed_pipe_ends_quietly(world: SyncWorld) -> None:
    cmd = " ".join([*BC2PEOPLE, "mapping", "preview", "--mapping", str(MAPPING), "--duckdb", str(world.duckdb),
                    "--limit", "0"])
    out = subprocess.run(["bash", "-o", "pipefail", "-c", f"{cmd} | head -n 1"], cwd=world.workdir, env=world.env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 1 and "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr


def test_dropped_values_are_counted_per_field_everywhere(world: SyncWorld) -> None:
    summary = world.runs[0].summary
    dropped = summary["dropped"]
    assert dropped and all(n > 0 for n in dropped.values()), summary
    assert summary["counts"]["dropped_values"] == sum(dropped.values())
    con = duckdb.connect(str(world.duckdb), read_only=True)
    try:
        in_runs = con.execute("SELECT dropped_values FROM people_sync.runs WHERE run_id = ?",
                              [summary["run_id"]]).fetchone()[0]
        by_field = dict(con.execute('SELECT field, "values" FROM people_sync.dropped_by_field WHERE run_id = ?',
                                    [summary["run_id"]]).fetchall())
        reason = con.execute("SELECT reason FROM people_sync.dropped_values LIMIT 1").fetchone()[0]
    finally:
        con.close()
    assert in_runs == sum(dropped.values()) and by_field == dropped and "source" in reason
    runs = json.loads(world.cli("runs", "--duckdb", str(world.duckdb), "--json").stdout)
    assert runs[-1]["dropped_values"] == in_runs
    field = next(iter(dropped))
    preview = world.cli("mapping", "preview", "--mapping", str(MAPPING), "--duckdb", str(world.duckdb), "--limit", "0")
    assert f"  dropped {field}: " in preview.stdout and "values dropped (on_invalid: drop)" in preview.stdout


def test_the_summary_shows_the_window_read_and_its_lag(world: SyncWorld) -> None:
    out = world.sync()
    assert out.returncode == 0, out
    assert "window read: " in out.stdout and "s before the store's clock" in out.stdout
    doc = world.sync("--json").summary
    assert doc["window"][1] and doc["window_lag_s"] == 60


def strict_mapping(where: Path) -> Path:
    """The shipped mapping with every ``on_invalid: drop`` made ``reject`` (its SQL files beside it)."""
    for sql in MAPPING.parent.glob("*.sql"):
        (where / sql.name).write_text(sql.read_text(encoding="utf-8"), encoding="utf-8")
    strict = where / "strict.yaml"
    # a comment naming the test makes the mapping's hash its own: every customer is mapped again,
    # whatever other tests ran before on this database
    strict.write_text(MAPPING.read_text(encoding="utf-8").replace("on_invalid: drop", "on_invalid: reject")
                      + f"\n# {where.name}\n", encoding="utf-8")
    return strict


def test_plan_applies_the_threshold_with_a_minimum_count(world: SyncWorld, tmp_path: Path) -> None:
    strict = strict_mapping(tmp_path)
    base = ["plan", "--mapping", str(strict), "--duckdb", str(world.duckdb), "--json"]
    over = world.cli(*base, "--max-rejected-pct", "0")
    assert over.returncode == 3, over
    rejected = json.loads(over.stdout)["counts"]["rejected_by_mapping"]
    assert rejected > 0 and "rejected" in json.loads(over.stdout)["threshold"]
    quiet = world.cli(*base, "--max-rejected-pct", "0", "--max-rejected", str(rejected))
    assert quiet.returncode == 0 and json.loads(quiet.stdout)["threshold"] is None


def test_a_failure_summary_is_the_error_not_a_table_of_zeros() -> None:
    text = format_run_summary({"run_id": "r1", "status": "failed", "duration_s": 1.2, "error": "boom: it broke",
                               "counts": {"extracted": 0, "mapped": 0}})
    assert "error: boom: it broke" in text and "extracted" not in text and len(text.splitlines()) == 2


class _Receiver(BaseHTTPRequestHandler):
    got: list[tuple[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).got.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_threshold_breach_alerts_slack_and_the_webhook(world: SyncWorld, tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.got = []
    url = f"http://127.0.0.1:{server.server_address[1]}"
    strict = strict_mapping(tmp_path)
    try:
        env = {**world.env, "RUNTIME__SLACK_INCOMING_HOOK": f"{url}/slack", "ALERTS__WEBHOOK_URL": f"{url}/hook"}
        out = world.cli("sync", "--mapping", str(strict), "--duckdb", str(world.duckdb), "--no-progress",
                        "--max-rejected-pct", "0", env=env)
    finally:
        server.shutdown()
    assert out.returncode == 3, out
    paths = {p: body for p, body in _Receiver.got}
    assert set(paths) == {"/slack", "/hook"}, _Receiver.got
    assert "too many rejected records" in paths["/slack"]["text"]
    assert paths["/hook"]["event"] == "bc2people.rejected_threshold" and paths["/hook"]["summary"]["exit_code"] == 3
    assert url not in out.stdout + out.stderr  # the hook URLs are secrets


def test_sigterm_is_reported_as_interrupted(tmp_path_factory: pytest.TempPathFactory) -> None:
    with started_sync_world(tmp_path_factory.mktemp("sigterm"), customers=30) as w:
        w.bc.latency_ms = 1000
        proc = subprocess.Popen([*BC2PEOPLE, "sync", "--mapping", str(MAPPING), "--duckdb", str(w.duckdb),
                                 "--no-progress", "--no-check"], cwd=w.workdir, env=w.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not any("/v3/customers" in k or "/v2/time" in k for k in w.bc.requests_served) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
        w.bc.latency_ms = 0
    assert proc.returncode == 1, stderr
    assert "interrupted" in stdout + stderr and "KeyboardInterrupt" not in stdout + stderr
    con = duckdb.connect(str(w.duckdb), read_only=True)
    try:
        assert con.execute("SELECT status, error FROM people_sync.runs").fetchall() == [("failed", "interrupted")]
    finally:
        con.close()


def test_sandbox_prints_usable_exports_in_a_shell_that_holds_the_previous_ones(tmp_path: Path) -> None:
    from bc2people.sandbox.run import ACCESS_TOKEN, API_KEY

    env = {**base_env(tmp_path), "SOURCES__BIGCOMMERCE__ACCESS_TOKEN": ACCESS_TOKEN,
           "DESTINATION__PEOPLE__API_KEY": API_KEY}
    proc = subprocess.Popen([*BC2PEOPLE, "sandbox", "--customers", "1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    text = "".join(lines)
    assert f"export SOURCES__BIGCOMMERCE__ACCESS_TOKEN={ACCESS_TOKEN}" in text, text
    assert f"export DESTINATION__PEOPLE__API_KEY={API_KEY}" in text and "***" not in text


def test_emails_are_checked_by_email_validator_punycode_tlds_included() -> None:
    from bc2people.destinations.people.rules import is_valid_email
    from bc2people.sandbox.people.validation import is_valid_email as people_accepts

    for good in ("ivan@example.xn--p1ai", "jane.doe@example.com", "a+tag@sub.example.co.uk"):
        assert is_valid_email(good) and people_accepts(good), good
    for bad in ("a@b", "a..b@x.com", "nasty+ü@example.com", "x@localhost", "a@-x.com", "a@x.invalid"):
        assert not is_valid_email(bad), bad


def test_people_errors_are_stored_structured_and_mapping_rejects_name_their_field(
    world: SyncWorld, tmp_path: Path
) -> None:
    from bc2people.destinations.people.client import person_error
    from bc2people.pipelines.core.ledger import REJECTED_BY_MAPPING

    code, prop, message = person_error({"code": "40001", "message": "Invalid person", "index": 3, "details": [
        {"property": "persons[3].firstName", "message": "Must not contain any of & < >"}]})
    assert (code, prop) == ("40001", "firstName")
    assert message == "Invalid person: firstName: Must not contain any of & < >" and "persons[" not in message
    out = world.cli("sync", "--mapping", str(strict_mapping(tmp_path)), "--duckdb", str(world.duckdb),
                    "--no-progress", "--max-rejected-pct", "100")
    assert out.returncode == 0, out
    con = duckdb.connect(str(world.duckdb), read_only=True)
    try:
        rows = con.execute("SELECT error_field, error_message FROM people_sync.sync_state WHERE last_status = ?",
                           [REJECTED_BY_MAPPING]).fetchall()
    finally:
        con.close()
    assert rows and all(field and message.startswith(f"{field}:") for field, message in rows)
