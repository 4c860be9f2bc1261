"""Start both sandboxes together and describe them as the environment ``bc2people sync`` reads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers, generate_orders

if TYPE_CHECKING:
    from bc2people.sandbox.people import PeopleSandbox

STORE_HASH = "sandbox1"
ACCESS_TOKEN = "sandbox-token"
API_KEY = "sandbox-key"


def start_sandboxes(
    customers: int,
    seed: int,
    latency_ms: float = 0,
    quota: tuple[int, float] | None = None,
    fault_rate: float = 0.0,
    bc_port: int = 0,
    people_port: int = 0,
    orders: bool = True,
) -> tuple[BigCommerceSandbox, PeopleSandbox]:
    """Started BigCommerce (with ``customers`` generated from ``seed`` and, when ``orders``,
    their orders and some guest orders from `generate_orders`) and People sandboxes.

    ``latency_ms`` and ``fault_rate`` (all fault kinds, seeded by ``seed``) apply to both.
    People keeps its documented 5 requests/s. Call ``stop()`` on both when done; if the
    second cannot start, the first is stopped before the error propagates.
    """
    from bc2people.sandbox.people import PeopleSandbox

    if customers < 0:
        raise ValueError("customers must be >= 0")
    bc = BigCommerceSandbox(store_hash=STORE_HASH, access_token=ACCESS_TOKEN, quota=quota, seed=seed, port=bc_port)
    if customers:
        generated = generate_customers(customers, seed)
        bc.add_customers(generated)
        if orders:
            bc.commerce.add_orders(generate_orders(generated, seed))
    started: list[BigCommerceSandbox | PeopleSandbox] = []
    try:
        people = PeopleSandbox(api_key=API_KEY, rate_limit=5, port=people_port)
    except BaseException:
        bc._server._httpd.server_close()  # bound but never served: just release the port
        raise
    for sb in (bc, people):
        sb.latency_ms = latency_ms
        if fault_rate:
            sb.faults.configure(rate=fault_rate, seed=seed)
    try:
        started.append(bc.start())
        started.append(people.start())
    except BaseException:
        for sb in started:
            sb.stop()
        raise
    return bc, people


UNLIMITED_CLIENT_RATE = 1000  # requests/s per operation a client may send a People sandbox without a limit


def people_client_rate(rate_limit: int | None) -> str:
    """``DESTINATION__PEOPLE__RATE_LIMIT`` for a People sandbox limited to ``rate_limit`` per
    operation per second (None: unlimited): the client paces at the sandbox's own limit."""
    return str(rate_limit if rate_limit is not None else UNLIMITED_CLIENT_RATE)


def env_for(bc: BigCommerceSandbox, people: PeopleSandbox) -> dict[str, str]:
    """The dlt environment variables that point ``bc2people sync`` at the two sandboxes (the
    People client paced at the People sandbox's rate limit as it is now)."""
    return {
        "SOURCES__BIGCOMMERCE__API_BASE_URL": bc.base_url,
        "SOURCES__BIGCOMMERCE__STORE_HASH": bc.store_hash,
        "SOURCES__BIGCOMMERCE__ACCESS_TOKEN": bc.access_token,
        "DESTINATION__PEOPLE__BASE_URL": people.base_url,
        "DESTINATION__PEOPLE__API_KEY": people.api_key,
        "DESTINATION__PEOPLE__RATE_LIMIT": people_client_rate(people.rate_limit),
    }
