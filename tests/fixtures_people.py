"""Shared People sandbox fixtures (loaded as a pytest plugin by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bc2people.sandbox.people import PeopleSandbox


@pytest.fixture(scope="session")
def _people_sandbox_server() -> Iterator[PeopleSandbox]:
    # One server per session: stopping a ThreadingHTTPServer costs ~0.5 s (its poll interval).
    with PeopleSandbox(api_key="sandbox-key", rate_limit=None) as ps:
        yield ps


@pytest.fixture
def people_sandbox(_people_sandbox_server: PeopleSandbox) -> PeopleSandbox:
    """A started PeopleSandbox (api_key "sandbox-key", no rate limit), empty and with default
    settings at the start of every test (shared server, `reset()` between tests)."""
    _people_sandbox_server.reset()
    return _people_sandbox_server


class PeopleHTTP:
    """A tiny authenticated client for tests that talk to a PeopleSandbox over HTTP."""

    def __init__(self, sandbox: PeopleSandbox) -> None:
        self.base_url = sandbox.base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"App {sandbox.api_key}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.base_url + path, **kwargs)

    def upsert(self, persons: list[Any], method: str = "PATCH") -> requests.Response:
        return self.request(method, "/people/3/persons/upsert", json={"persons": persons})


@pytest.fixture
def people_http(people_sandbox: PeopleSandbox) -> Iterator[PeopleHTTP]:
    """An authenticated HTTP client bound to ``people_sandbox``."""
    client = PeopleHTTP(people_sandbox)
    yield client
    client.session.close()
