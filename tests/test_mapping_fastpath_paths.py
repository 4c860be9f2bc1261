"""Every JSONPath written in the shipped mappings and in the tests reads the same values through
the engine's compiled accessors as through jsonpath-ng, on the store's and the nasty customers
(and on orders, which the events section reads)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from bc2people.pipelines.mapping.compiler import compile_path, jsonpath_ng_baseline
from bc2people.sandbox.generator import generate_customers, nasty_customers

REPO = Path(__file__).resolve().parent.parent
_PATH_RE = re.compile(r"""\$(?:\.[A-Za-z_][A-Za-z0-9_]*|\.\*|\[[^\]\s'"]*\]|\[\?\(@\.[A-Za-z_]+\s*==\s*'[^']*'\)\])+""")


@cache
def _written_paths() -> list[str]:
    texts = [p.read_text() for p in sorted((REPO / "mappings").glob("*.yaml"))]
    texts += [p.read_text() for p in sorted((REPO / "tests").glob("*.py"))]
    found = {m.group(0) for text in texts for m in _PATH_RE.finditer(text)}
    usable = []
    for expr in sorted(found):
        try:
            jsonpath_ng_baseline(expr)
        except Exception:  # noqa: BLE001 - a test's deliberately broken path
            continue
        usable.append(expr)
    return usable


def test_every_written_path_reads_the_same_through_both() -> None:
    paths = _written_paths()
    assert len(paths) > 60 and "$.addresses[0].phone" in paths and "$.form_fields[?(@.name=='newsletter')].value" in paths
    docs = generate_customers(400, seed=3) + nasty_customers(200, seed=3, start_id=5_000_000)
    modes = set()
    for expr in paths:
        compiled = compile_path(expr)
        reference = jsonpath_ng_baseline(expr)
        modes.add(compiled.mode)
        for doc in docs:
            assert compiled.all(doc) == reference(doc), (expr, doc.get("id") if isinstance(doc, dict) else doc)
    assert {"fast-single", "fast-multi"} <= modes
