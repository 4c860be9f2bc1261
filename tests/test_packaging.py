"""Installed, the project is one `bc2people` package: no generic top-level names, the default
mapping shipped as package data, and every package folder listed in pyproject.toml."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOMS = ("sources", "destinations", "pipelines", "answers", "sandbox")


def _packages_in_tree() -> set[str]:
    found = {"bc2people", "bc2people.mappings"}
    for room in ROOMS:
        for init in (REPO / room).rglob("__init__.py"):
            found.add("bc2people." + ".".join(init.parent.relative_to(REPO).parts))
    return found


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    assert listed == _packages_in_tree()


def test_nothing_imports_a_bare_top_level_name() -> None:
    """`import pipelines.x` beside `import bc2people.pipelines.x` would load one file as two modules."""
    bad, checked = [], 0
    for folder in (*ROOMS, "tests", "benchmarks", "bc2people"):
        for path in (REPO / folder).rglob("*.py"):
            checked += 1
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
                bad += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in ROOMS]
    assert checked > 150
    assert bad == []


@pytest.mark.slow
def test_an_installed_copy_finds_its_default_mapping_outside_the_checkout(tmp_path: Path) -> None:
    import shutil

    # Built from a copy: setuptools writes build/ beside the sources it builds.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", ".typecheck", "__pycache__", "*.egg-info", ".*_cache", "*.duckdb*", "*.dlt"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(source)],
                   check=True, capture_output=True, timeout=240)
    assert not (target / "pipelines").exists() and not (target / "sources").exists()
    assert (target / "bc2people" / "mappings" / "customers_to_people.yaml").is_file()
    assert (target / "bc2people" / "mappings" / "customer_traits.sql").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("PYTHONSAFEPATH", None)
    res = subprocess.run([str(target / "bin" / "bc2people"), "mapping", "check"], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=120)
    shipped = target / "bc2people" / "mappings" / "customers_to_people.yaml"
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"OK {shipped}"), res.stdout
    probe = ("import importlib.util as u, bc2people, bc2people.pipelines.cli; "
             "print(bc2people.__file__); print([n for n in ('pipelines', 'sources', 'destinations', 'sandbox', "
             "'answers') if u.find_spec(n)])")
    out = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    where, generic = out.stdout.splitlines()
    assert Path(where).is_relative_to(target)
    assert generic == "[]"  # the install takes no generic top-level name
