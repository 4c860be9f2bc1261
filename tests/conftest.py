"""Shared pytest setup: every ``tests/fixtures_*.py`` module is loaded as a plugin.

Under CI (``CI`` set) hypothesis runs derandomized: the same examples every run, so a red
build always means a changed behaviour, never an unlucky draw. Locally it explores freely.
"""

import os
from pathlib import Path

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# fixtures_sync first: other fixture modules import from it, and a plugin must be registered
# before anything imports it, or pytest cannot rewrite its asserts.
pytest_plugins = sorted(
    (f"tests.{p.stem}" for p in Path(__file__).parent.glob("fixtures_*.py")),
    key=lambda name: (name != "tests.fixtures_sync", name),
)
