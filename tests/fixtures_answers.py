"""Fixtures for the Answers tests: one BigCommerce sandbox per session, a client and a customer per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from bc2people.answers.client import BigCommerceClient
from bc2people.answers.config import AnswersConfig
from bc2people.sandbox.bigcommerce.server import BigCommerceSandbox

ANSWERS_STORE = "answers1"
ANSWERS_TOKEN = "answers-secret-token-0123456789"
_emails = itertools.count(1)


@pytest.fixture(scope="session")
def _commerce_sandbox_server() -> Iterator[BigCommerceSandbox]:
    sb = BigCommerceSandbox(store_hash=ANSWERS_STORE, access_token=ANSWERS_TOKEN)
    with sb:
        yield sb


@pytest.fixture
def commerce_sandbox(_commerce_sandbox_server: BigCommerceSandbox) -> BigCommerceSandbox:
    """The shared sandbox with knobs reset (no latency, faults or quota)."""
    sb = _commerce_sandbox_server
    sb.latency_ms = 0
    sb.faults.configure(rate=0.0)
    sb.set_quota(None)
    sb.on_request = None
    return sb


@pytest.fixture
def answers_config(commerce_sandbox: BigCommerceSandbox) -> AnswersConfig:
    return AnswersConfig(store_hash=ANSWERS_STORE, access_token=ANSWERS_TOKEN,
                         api_base_url=commerce_sandbox.base_url, timeout=5.0)


@pytest.fixture
def answers_env(answers_config: AnswersConfig) -> dict[str, str]:
    """Environment variables that configure the Answers module for the sandbox."""
    return {"SOURCES__BIGCOMMERCE__STORE_HASH": answers_config.store_hash,
            "SOURCES__BIGCOMMERCE__ACCESS_TOKEN": answers_config.access_token,
            "SOURCES__BIGCOMMERCE__API_BASE_URL": answers_config.api_base_url}


@pytest.fixture
def answers_client(answers_config: AnswersConfig) -> Iterator[BigCommerceClient]:
    client = BigCommerceClient(answers_config)
    yield client
    client.close()


@pytest.fixture
def answers_customer(commerce_sandbox: BigCommerceSandbox) -> dict[str, Any]:
    """A fresh customer with one address."""
    n = next(_emails)
    return commerce_sandbox.create_customer(
        email=f"shopper{n}@example.com", first_name="Ana", last_name=f"Kovac{n}",
        addresses=[{"first_name": "Ana", "last_name": f"Kovac{n}", "address1": "Ilica 1", "city": "Zagreb",
                    "country_code": "HR", "postal_code": "10000", "state_or_province": "Grad Zagreb"}],
    )
