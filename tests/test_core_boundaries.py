"""The sync core names neither API, and each folder keeps to its room (read as source text)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Words that would mean the core knows an API or its entities. "ORDER BY" is SQL, not an entity.
API_WORDS = re.compile(
    r"people|bigcommerce|infobip|person|customer|externalid|\border(?:s\b|_)|\border\b(?!\s+by)", re.IGNORECASE
)


def _core_files() -> list[Path]:
    files = sorted((REPO / "pipelines" / "core").glob("*.py"))
    assert len(files) >= 5, files  # the loop below must have something to check
    return files


def test_the_sync_core_names_neither_api() -> None:
    found = []
    for path in _core_files():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if API_WORDS.search(line):
                found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert found == []


def test_the_word_check_would_catch_an_api_name() -> None:
    assert API_WORDS.search("FROM people_sync.person_state")
    assert API_WORDS.search("orders = []") and API_WORDS.search("order_id")
    assert not API_WORDS.search("SELECT 1 ORDER BY key")


def _room(module: str) -> str:
    """The top-level folder a module lives in (``bc2people.sources.x`` -> ``sources``)."""
    return module.removeprefix("bc2people.").split(".")[0]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {_room(a.name) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(_room(node.module))
    return out


def test_rooms_import_one_way() -> None:
    rules = {
        "sources": {"pipelines", "destinations", "answers", "sandbox"},
        "destinations": {"pipelines", "sources", "answers", "sandbox"},
        "answers": {"pipelines", "sources", "destinations"},
        "sandbox": {"pipelines", "sources", "destinations", "answers"},
    }
    checked = 0
    for room, forbidden in rules.items():
        for path in sorted((REPO / room).rglob("*.py")):
            checked += 1
            bad = _imports(path) & forbidden
            assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"
    core_bad = [p for p in _core_files() if _imports(p) & {"pipelines", "sources", "destinations", "sandbox"}]
    assert core_bad == []
    assert checked > 40
