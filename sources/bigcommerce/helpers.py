"""Small helpers of the BigCommerce source: errors with CLI exit codes, UTC timestamps."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from dlt.common.configuration.container import Container
from dlt.common.destination import DestinationCapabilitiesContext

from .settings import ENV_ACCESS_TOKEN, ENV_STORE_HASH, TOML_SECTION

API_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class BigCommerceError(Exception):
    """A request to BigCommerce failed for good; the message names the URL (never the token)."""

    exit_code = 1

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class BigCommerceConfigError(BigCommerceError):
    """Missing or rejected configuration (exit code 2): found before or at the first request."""

    exit_code = 2


class BigCommerceAuthError(BigCommerceConfigError):
    """401/403: the access token is wrong or lacks the Customers read-only OAuth scope."""


class MalformedResponse(ValueError):
    """A 2xx body that is not the documented shape (truncated JSON, missing `data`, wrong types)."""


def missing_setting_message(field: str) -> str:
    """The message for a missing source setting: the env var and the TOML key to set."""
    env = f"SOURCES__BIGCOMMERCE__{field.upper()}"
    where = "secrets.toml" if field == "access_token" else "config.toml (or secrets.toml)"
    return (
        f"BigCommerce setting `{field}` is missing: set the environment variable {env} "
        f"or `{field} = ...` under {TOML_SECTION} in .dlt/{where}"
    )


def auth_error_message(status: int, url: str) -> str:
    """Why BigCommerce refused the credentials, naming what to check (never the token)."""
    if status == 401:
        return (
            f"BigCommerce refused the credentials (401) for GET {url}: check {ENV_ACCESS_TOKEN} "
            f"(and {ENV_STORE_HASH}); the token may be wrong, revoked or for another store"
        )
    if "/v2/orders" in url:
        return (
            f"BigCommerce denied access (403) for GET {url}: the API token lacks the Orders "
            f"read-only OAuth scope (store_v2_orders_read_only); grant it to the API account "
            f"behind {ENV_ACCESS_TOKEN}, or stage no orders (SOURCES__BIGCOMMERCE__ORDERS=false)"
        )
    return (
        f"BigCommerce denied access (403) for GET {url}: the API token lacks the Customers "
        f"read-only OAuth scope (store_v2_customers_read_only); grant it to the API account "
        f"behind {ENV_ACCESS_TOKEN}"
    )


def format_ts(epoch: int) -> str:
    """Unix seconds -> the API's own UTC format ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime(API_TIME_FORMAT)


def parse_ts(value: str) -> int:
    """An API/ISO-8601 timestamp -> Unix seconds (naive values are read as UTC)."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


class ExtractStats:
    """What one extraction did; filled in by the ``customers`` resource as it runs.

    ``progress`` (optional) is called after every page with
    ``{"phase": "extract", "pages": n, "records": n, "total": n_or_None}``.
    """

    phase = "extract"  # the ``phase`` reported to ``progress``

    def __init__(self, progress: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.progress = progress
        self.pages = 0
        self.records = 0
        self.total: int | None = None
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0
        self.quota_wait_s = 0.0
        self.splits = 0
        self.window_start: str | None = None
        self.window_end: str | None = None
        self.committed_cursor: str | None = None
        self.object_pages = 0  # pages handed to dlt as dicts: a value no Arrow column of its type holds

    def page_read(self, rows: int) -> None:
        """Count one page and report progress."""
        self.pages += 1
        self.records += rows
        if self.progress is not None:
            self.progress({"phase": self.phase, "pages": self.pages, "records": self.records, "total": self.total})

    def took_requests(self, client: Any) -> None:
        """Copy a (scoped) client's request counters: this resource's share of the run."""
        self.requests = client.requests
        self.retries = client.retries
        self.rate_limited = client.rate_limited
        self.quota_wait_s = client.quota_wait_s

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(pages={self.pages}, records={self.records}, requests={self.requests}, "
            f"window={self.window_start}..{self.window_end})"
        )


@contextlib.contextmanager
def default_naming() -> Iterator[None]:
    """Schemas made inside take dlt's default naming (snake_case) whatever pipeline is active:
    dlt names a new schema after the active pipeline's destination, and a People pipeline
    (direct naming) active in the same process gave a new staging file ``date_shipped▶v_text``
    where it should hold ``date_shipped__v_text``. The active capabilities come back after."""
    with Container().injectable_context(DestinationCapabilitiesContext.generic_capabilities()):
        yield
