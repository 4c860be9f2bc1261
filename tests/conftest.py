"""Shared pytest setup: every ``tests/fixtures_*.py`` module is loaded as a plugin.

Under CI (``CI`` set) hypothesis runs derandomized: the same examples every run, so a red
build always means a changed behaviour, never an unlucky draw. Locally it explores freely.
Under CI a missing ``../shared/specs`` (the official OpenAPI documents the conformance tests
read) stops the run with an error instead of skipping those tests silently.
"""

import os
from pathlib import Path

import pytest
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

SPECS = Path(__file__).resolve().parents[1].parent / "shared" / "specs"
# the documents whose absence makes a conformance module skip itself
REQUIRED_SPECS = (
    "bigcommerce/customers.v3.yml",
    "bigcommerce/store_information.v2.yml",
    "bigcommerce/carts.v3.yml",
    "infobip/infobip-people-openapi.json",
)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI, refuse to run without the official specs (locally the conformance tests skip)."""
    if not os.environ.get("CI"):
        return
    missing = [name for name in REQUIRED_SPECS if not (SPECS / name).is_file()]
    if missing:
        raise pytest.UsageError(
            f"CI is set but the official specs are missing under {SPECS}: {', '.join(missing)}; "
            "the conformance tests would silently skip"
        )
