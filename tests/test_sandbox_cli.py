"""``bc2people sandbox`` and the `sandbox.run` helpers: both sandboxes up, env printed, clean exit."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bc2people.sandbox.cli import parse_quota
from bc2people.sandbox.run import env_for, start_sandboxes

ROOT = Path(__file__).resolve().parents[1]
ENV_NAMES = {
    "SOURCES__BIGCOMMERCE__API_BASE_URL", "SOURCES__BIGCOMMERCE__STORE_HASH", "SOURCES__BIGCOMMERCE__ACCESS_TOKEN",
    "DESTINATION__PEOPLE__BASE_URL", "DESTINATION__PEOPLE__API_KEY", "DESTINATION__PEOPLE__RATE_LIMIT",
}


def launch(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bc2people.pipelines.cli", "sandbox", *args], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    env: dict[str, str] = {}
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("export "):
            name, _, value = line[len("export "):].strip().partition("=")
            env[name] = value
        if line.startswith("# BigCommerce sandbox"):
            return proc, env
    proc.kill()
    raise AssertionError(f"sandbox did not start: {proc.stderr.read() if proc.stderr else ''}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_command_serves_both_sandboxes_until_signalled(sig: signal.Signals) -> None:
    proc, env = launch("--customers", "30", "--seed", "3", "--quota", "5/30", "--latency-ms", "1")
    try:
        assert set(env) == ENV_NAMES
        r = requests.get(
            f"{env['SOURCES__BIGCOMMERCE__API_BASE_URL']}/stores/{env['SOURCES__BIGCOMMERCE__STORE_HASH']}/v3/customers",
            headers={"X-Auth-Token": env["SOURCES__BIGCOMMERCE__ACCESS_TOKEN"]}, timeout=10,
        )
        assert r.status_code == 200 and r.json()["meta"]["pagination"]["total"] == 30
        assert r.headers["X-Rate-Limit-Requests-Quota"] == "5"
        people = requests.get(f"{env['DESTINATION__PEOPLE__BASE_URL']}/people/2/persons", timeout=10)
        assert people.status_code == 401  # a People API answering, wanting its key
    finally:
        proc.send_signal(sig)
        try:
            rc = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0


@pytest.mark.parametrize(
    "args", [["--quota", "lots"], ["--fault-rate", "2"], ["--customers", "-1"], ["--bc-port", "x"]]
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "bc2people.pipelines.cli", "sandbox", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "error" in out.stderr


def test_busy_port_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "bc2people.pipelines.cli", "sandbox", "--customers", "1", "--bc-port", str(port)],
            cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "BC2PEOPLE_DEBUG": ""},
        )
    assert out.returncode == 1 and "Address already in use" in out.stderr and "Traceback" not in out.stderr


def test_parse_quota() -> None:
    assert parse_quota("150/30") == (150, 30.0)
    assert parse_quota("450/30") == (450, 30.0)
    assert parse_quota("unlimited") is None
    for bad in ("150", "0/30", "10/0", "a/b"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_quota(bad)


def test_start_sandboxes_and_env_for() -> None:
    bc, people = start_sandboxes(12, seed=5, latency_ms=0, quota=(150, 30.0), fault_rate=0.5)
    try:
        env = env_for(bc, people)
        assert set(env) == ENV_NAMES
        assert env["SOURCES__BIGCOMMERCE__API_BASE_URL"] == bc.base_url
        assert env["DESTINATION__PEOPLE__API_KEY"] == people.api_key
        assert env["DESTINATION__PEOPLE__RATE_LIMIT"] == "5"  # the client paces at the sandbox's own limit
        people.rate_limit = None
        assert env_for(bc, people)["DESTINATION__PEOPLE__RATE_LIMIT"] == "1000"
        assert len(bc.store) == 12 and bc.quota.limit == 150
        assert bc.faults.rate == 0.5 and people.faults.rate == 0.5
        assert requests.get(f"{bc.base_url}/__sandbox__/stats", timeout=10).json()["customers"] == 12
    finally:
        bc.stop()
        people.stop()
