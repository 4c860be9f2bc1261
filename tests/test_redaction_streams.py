"""The output redaction safety net, end to end: a real ``bc2people sync`` process in which
secrets reach stdout/stderr by every path the job does not format itself -- a stray
``print``, a third-party library's logger, a logged exception, a printed traceback and an
uncaught exception -- each holding a secret more than once in one line. None of it may show
a secret; each emission must still be there, masked (so the test cannot pass by silence).

The emissions come from a small driver that runs the CLI's ``main`` in-process: the first
one fires from an audit hook on the run's first outgoing connection (mid-run, from whatever
thread opens it), the last is an exception nobody catches after ``main`` returned.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bc2people.sandbox.generator import generate_customers
from tests.fixtures_sync import MAPPING, SECRETS, SYNC_KEY, SYNC_TOKEN, SyncWorld, sandbox_env

DRIVER = r'''
import logging, os, sys, traceback

TOKEN = os.environ["SOURCES__BIGCOMMERCE__ACCESS_TOKEN"]
KEY = os.environ["DESTINATION__PEOPLE__API_KEY"]
fired = []


def emit(where):
    print(f"STRAY-PRINT[{where}] {TOKEN} then {TOKEN} and {KEY}/{KEY}")
    sys.stdout.flush()
    print(f"STRAY-ERR[{where}] {KEY} {KEY}", file=sys.stderr)
    lib = logging.getLogger("thirdparty.sdk")  # a library logger: no handler of its own
    lib.warning("THIRD-PARTY[%s] key=%s retry key=%s token=%s%s", where, KEY, KEY, TOKEN, TOKEN)
    try:
        raise RuntimeError(f"BOOM[{where}] {TOKEN} {TOKEN}")
    except RuntimeError:
        lib.exception("THIRD-PARTY-EXC[%s] %s", where, KEY)
        traceback.print_exc()


def on_event(event, args):
    if event == "socket.connect" and not fired:
        fired.append(event)
        emit("mid-run")


sys.addaudithook(on_event)
from bc2people.pipelines.cli import main

rc = main(sys.argv[1:])
assert fired, "the run opened no connection"
print(f"RC={rc}")
raise RuntimeError(f"UNCAUGHT {TOKEN} {KEY} {TOKEN}")
'''

MARKERS = ("STRAY-PRINT[mid-run]", "STRAY-ERR[mid-run]", "THIRD-PARTY[mid-run]", "THIRD-PARTY-EXC[mid-run]",
           "BOOM[mid-run]", "UNCAUGHT", "RC=0")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncWorld]:
    from bc2people.sandbox.bigcommerce import BigCommerceSandbox
    from bc2people.sandbox.people import PeopleSandbox
    from tests.fixtures_sync import SYNC_STORE

    workdir = tmp_path_factory.mktemp("redact")
    bc = BigCommerceSandbox(store_hash=SYNC_STORE, access_token=SYNC_TOKEN, quota=None, seed=5)
    people = PeopleSandbox(api_key=SYNC_KEY, rate_limit=None)
    with bc, people:
        bc.add_customers(generate_customers(8, seed=31, now=bc.clock.now() - 3600))
        yield SyncWorld(bc, people, workdir, sandbox_env(bc, people, workdir))


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_on_stdout_or_stderr_whatever_writes_it(world: SyncWorld, tmp_path: Path, log_format: str) -> None:
    args = ["sync", "--mapping", str(MAPPING), "--duckdb", str(tmp_path / "r.duckdb"), "--no-progress",
            "--max-rejected-pct", "100", "--log-format", log_format]
    proc = subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=world.workdir, env=world.env,
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" in proc.stderr, out  # the uncaught exception's exit
    for marker in MARKERS:
        assert marker in out, f"{marker} was never written:\n{out[-3000:]}"
    assert out.count("***") >= 12, out[-3000:]
    leaks = [f"{secret[:6]}… in {name}" for secret in SECRETS
             for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr)) if secret in text]
    assert leaks == [], out[-3000:]
