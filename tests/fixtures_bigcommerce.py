"""Pytest fixtures for the BigCommerce sandbox (loaded as a plugin by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers

BC_STORE_HASH = "sandbox1"
BC_TOKEN = "sandbox-token"
BC_CUSTOMERS = 120
BC_SEED = 1


@pytest.fixture
def bc_sandbox() -> Iterator[BigCommerceSandbox]:
    """A started BigCommerceSandbox with 120 generated customers (seed 1), unlimited quota."""
    sb = BigCommerceSandbox(store_hash=BC_STORE_HASH, access_token=BC_TOKEN)
    sb.add_customers(generate_customers(BC_CUSTOMERS, seed=BC_SEED))
    with sb:
        yield sb


@pytest.fixture
def bc_empty_sandbox() -> Iterator[BigCommerceSandbox]:
    """A started BigCommerceSandbox with no customers, unlimited quota."""
    with BigCommerceSandbox(store_hash=BC_STORE_HASH, access_token=BC_TOKEN) as sb:
        yield sb


@pytest.fixture
def bc_http(bc_sandbox: BigCommerceSandbox) -> Iterator[requests.Session]:
    """A requests session with the sandbox's auth headers; use ``bc_url(sb, "/v3/customers")``."""
    with requests.Session() as s:
        s.headers.update({"X-Auth-Token": BC_TOKEN, "Accept": "application/json"})
        yield s


def bc_url(sb: BigCommerceSandbox, path: str) -> str:
    """``http://127.0.0.1:PORT/stores/<hash>`` + ``path`` (e.g. ``/v3/customers``)."""
    return f"{sb.base_url}/stores/{sb.store_hash}{path}"
