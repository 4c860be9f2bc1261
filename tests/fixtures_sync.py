"""Fixtures for the job's end-to-end tests: sandboxes with distinctive secrets, and a CLI runner.

The token and the key are long, unique strings so a byte search for them in outputs, dlt's
pipelines directory and the DuckDB file cannot hit anything by accident.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bc2people.sandbox.run import people_client_rate

REPO = Path(__file__).resolve().parents[1]
MAPPING = REPO / "mappings" / "customers_to_people.yaml"
BC2PEOPLE = [str(Path(sys.executable).with_name("bc2people"))]
if not Path(BC2PEOPLE[0]).exists():  # not installed as a console script: run the module
    BC2PEOPLE = [sys.executable, "-m", "bc2people.pipelines.cli"]

SYNC_STORE = "syncstore1"
SYNC_TOKEN = "bc-tok-Zq8vW3kP1xR7mN2c"
SYNC_KEY = "ib-key-Hs4tL9yB6uE0aJ5d"
SECRETS = (SYNC_TOKEN, SYNC_KEY)


@dataclass
class CliResult:
    """A finished ``bc2people`` subprocess (``killed`` when a test SIGKILLed it)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    killed: bool = False
    phase: str | None = None

    def __str__(self) -> str:
        return (f"bc2people {' '.join(self.args)} -> {self.returncode}\n--- stdout\n{self.stdout[-3000:]}"
                f"\n--- stderr\n{self.stderr[-3000:]}")

    @property
    def summary(self) -> dict[str, Any]:
        """The JSON run summary a ``--log-format json`` run prints last on stdout."""
        for line in reversed(self.stdout.strip().splitlines()):
            if line.startswith("{"):
                return dict(json.loads(line))
        raise AssertionError(f"no JSON summary in the output:\n{self}")


@dataclass
class SyncWorld:
    """Two sandboxes, a work dir, and the environment that points the job at them."""

    bc: Any
    people: Any
    workdir: Path
    env: dict[str, str]
    runs: list[CliResult] = field(default_factory=list)

    @property
    def duckdb(self) -> Path:
        return self.workdir / "sync.duckdb"

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 240) -> CliResult:
        """Run ``bc2people`` in ``workdir`` with this world's environment (or ``env``)."""
        proc = subprocess.run(
            [*BC2PEOPLE, *args],
            cwd=self.workdir,
            env=env if env is not None else self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        result = CliResult(list(args), proc.returncode, proc.stdout, proc.stderr)
        self.runs.append(result)
        return result

    def sync_args(self, *args: str) -> list[str]:
        """The arguments of ``bc2people sync`` against this world, then ``args``."""
        return ["sync", "--mapping", str(MAPPING), "--duckdb", str(self.duckdb), "--no-progress", *args]

    def sync(self, *args: str, **kw: Any) -> CliResult:
        return self.cli(*self.sync_args(*args), **kw)


def base_env(workdir: Path) -> dict[str, str]:
    """A clean environment: no inherited dlt/bc2people settings, telemetry off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "RUNTIME__"))}
    env.update(
        RUNTIME__DLTHUB_TELEMETRY="false",
        PYTHONPATH=str(REPO),
        HOME=str(workdir),  # no ~/.dlt of the machine's user
    )
    return env


def sandbox_env(bc: Any, people: Any, workdir: Path) -> dict[str, str]:
    env = base_env(workdir)
    env.update(
        SOURCES__BIGCOMMERCE__STORE_HASH=SYNC_STORE,
        SOURCES__BIGCOMMERCE__ACCESS_TOKEN=SYNC_TOKEN,
        SOURCES__BIGCOMMERCE__API_BASE_URL=bc.base_url,
        DESTINATION__PEOPLE__BASE_URL=people.base_url,
        DESTINATION__PEOPLE__API_KEY=SYNC_KEY,
        DESTINATION__PEOPLE__RATE_LIMIT=people_client_rate(people.rate_limit),
    )
    return env


@contextlib.contextmanager
def started_sync_world(workdir: Path, customers: int = 120) -> Iterator[SyncWorld]:
    """Both sandboxes (``customers`` generated customers, no rate limit), stopped on exit."""
    from bc2people.sandbox.bigcommerce import BigCommerceSandbox
    from bc2people.sandbox.generator import generate_customers
    from bc2people.sandbox.people import PeopleSandbox

    bc = BigCommerceSandbox(store_hash=SYNC_STORE, access_token=SYNC_TOKEN, quota=None, seed=3)
    people = PeopleSandbox(api_key=SYNC_KEY, rate_limit=None)
    with bc, people:
        bc.add_customers(generate_customers(customers, seed=11, now=bc.clock.now() - 3600))
        yield SyncWorld(bc, people, workdir, sandbox_env(bc, people, workdir))


@pytest.fixture(scope="module")
def sync_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncWorld]:
    """Both sandboxes (120 generated customers, no rate limit), stopped after the module."""
    with started_sync_world(tmp_path_factory.mktemp("sync")) as world:
        yield world


def _readable_bytes(path: Path) -> bytes:
    """A file's bytes, decompressed when dlt gzipped it (load package jobs are ``*.gz``)."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data += gzip.decompress(data)
    return data


def all_bytes_under(*roots: Path) -> Iterator[tuple[Path, bytes]]:
    """Every file under the given files/directories with its (decompressed) bytes."""
    for root in roots:
        if root.is_file():
            yield root, _readable_bytes(root)
        elif root.is_dir():
            for p in sorted(root.rglob("*")):
                if p.is_file():
                    yield p, _readable_bytes(p)
