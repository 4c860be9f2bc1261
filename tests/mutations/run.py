"""``make mutate``: apply named mutations one at a time to a temporary copy of the tree and
run only the test files each one names; report which were killed and which SURVIVED.

Mutations are data (``mutations.toml`` beside this file): a name, the file, one exact
``original`` snippet that must occur exactly once in it, its ``replacement``, a description
and the ``tests`` that must catch it. A snippet that is missing or ambiguous (after a
refactor) is an error, never a silent "killed". The working tree is never modified.

    python -m tests.mutations.run                 # all mutations
    python -m tests.mutations.run NAME [NAME...]  # only these
    python -m tests.mutations.run --list

Exit status: 0 when every mutation was killed, 1 when one survived or a snippet is stale,
2 for a usage error. Not collected by pytest (no ``test_`` prefix) and not run by CI.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CATALOG = HERE / "mutations.toml"
IGNORE = shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "__pycache__", ".mypy_cache",
                                ".ruff_cache", ".pytest_cache", ".hypothesis", "*.duckdb", "*.duckdb.wal", "*.dlt")
TIMEOUT_S = 900


@dataclass(frozen=True)
class Mutation:
    """One deliberate bug: replace ``original`` in ``file`` with ``replacement``."""

    name: str
    file: str
    original: str
    replacement: str
    description: str
    tests: tuple[str, ...]


@dataclass
class Outcome:
    mutation: Mutation
    verdict: str  # killed | SURVIVED | STALE
    detail: str
    seconds: float


def load_catalog(path: Path = CATALOG) -> list[Mutation]:
    """The mutations of the catalog, checked for required keys and unique names."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: list[Mutation] = []
    for i, raw in enumerate(data.get("mutation", [])):
        missing = {"name", "file", "original", "replacement", "description", "tests"} - set(raw)
        if missing:
            raise SystemExit(f"{path.name}: mutation #{i + 1} lacks {', '.join(sorted(missing))}")
        out.append(Mutation(raw["name"], raw["file"], raw["original"], raw["replacement"], raw["description"],
                            tuple(raw["tests"])))
    names = [m.name for m in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SystemExit(f"{path.name}: duplicate mutation names {dupes}")
    return out


def check_target(m: Mutation, root: Path = REPO) -> str | None:
    """Why the mutation cannot be applied to ``root`` (None when it can)."""
    target = root / m.file
    if not target.is_file():
        return f"{m.file} does not exist"
    n = target.read_text(encoding="utf-8").count(m.original)
    if n != 1:
        return f"snippet found {n} times in {m.file} (must be exactly once): {m.original.strip()[:80]!r}"
    missing = [t for t in m.tests if not (root / t.split("::")[0]).is_file()]
    if missing:
        return f"test files missing: {missing}"
    return None


def _pytest(root: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PYTHONPATH"] = str(root)  # the copy's packages, also in the CLI subprocesses the tests start
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:randomly", *tests]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


def _failures(output: str) -> str:
    found = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.M)
    if found:
        return ", ".join(dict.fromkeys(found))
    lines = output.strip().splitlines()
    return lines[-1] if lines else "no output"


def run_one(m: Mutation, workdir: Path) -> Outcome:
    """Apply ``m`` to a fresh copy of the tree under ``workdir`` and run its tests there."""
    started = time.monotonic()
    reason = check_target(m)
    if reason:
        return Outcome(m, "STALE", reason, 0.0)
    copy = workdir / m.name
    shutil.copytree(REPO, copy, ignore=IGNORE)
    try:
        target = copy / m.file
        target.write_text(target.read_text(encoding="utf-8").replace(m.original, m.replacement), encoding="utf-8")
        proc = _pytest(copy, m.tests)
    except subprocess.TimeoutExpired:
        return Outcome(m, "killed", f"tests timed out after {TIMEOUT_S} s", time.monotonic() - started)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    seconds = time.monotonic() - started
    if proc.returncode == 0:
        return Outcome(m, "SURVIVED", f"{' '.join(m.tests)} passed", seconds)
    if proc.returncode in (1, 3):  # tests failed, or a collection/internal error (counted: the suite caught it)
        return Outcome(m, "killed", _failures(proc.stdout + proc.stderr), seconds)
    return Outcome(m, "killed", f"pytest exit {proc.returncode}: {_failures(proc.stdout + proc.stderr)}", seconds)


def baseline(mutations: list[Mutation], workdir: Path) -> str | None:
    """Run every named test file on an unmutated copy: a mutation only counts as killed
    when its tests pass without it. Returns the failure text, or None when green."""
    files = tuple(dict.fromkeys(t for m in mutations for t in m.tests))
    copy = workdir / "_baseline"
    shutil.copytree(REPO, copy, ignore=IGNORE)
    try:
        proc = _pytest(copy, files)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    return None if proc.returncode == 0 else _failures(proc.stdout + proc.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the catalog (or the named mutations) and print one line per mutation and a summary."""
    ap = argparse.ArgumentParser(prog="make mutate", description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="only these mutations")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the named tests")
    args = ap.parse_args(argv)
    catalog = load_catalog()
    if args.list:
        for m in catalog:
            print(f"{m.name:34} {m.file:36} {m.description}")
        return 0
    unknown = sorted(set(args.names) - {m.name for m in catalog})
    if unknown:
        print(f"unknown mutations: {', '.join(unknown)}", file=sys.stderr)
        return 2
    chosen = [m for m in catalog if not args.names or m.name in args.names]
    with tempfile.TemporaryDirectory(prefix="bc2people-mutate-") as tmp:
        work = Path(tmp)
        if not args.no_baseline:
            stale_free = [m for m in chosen if check_target(m) is None]
            failed = baseline(stale_free, work) if stale_free else None
            if failed:
                print(f"baseline: the named tests fail WITHOUT any mutation ({failed}); fix them first")
                return 1
        outcomes = []
        for m in chosen:
            o = run_one(m, work)
            outcomes.append(o)
            print(f"{o.verdict:8} {m.name:34} {o.seconds:6.1f}s  {o.detail}", flush=True)
    killed = sum(o.verdict == "killed" for o in outcomes)
    survived = [o.mutation.name for o in outcomes if o.verdict == "SURVIVED"]
    stale = [o.mutation.name for o in outcomes if o.verdict == "STALE"]
    print(f"\n{killed}/{len(outcomes)} killed; survived: {', '.join(survived) or 'none'}; "
          f"stale snippets: {', '.join(stale) or 'none'}")
    return 1 if survived or stale else 0


if __name__ == "__main__":
    sys.exit(main())
