"""Catalog, orders, carts, checkouts and hooks for the BigCommerce sandbox (filled in by the Answers work)."""

from __future__ import annotations

from typing import Any


def install(sandbox: Any) -> None:
    """Add the commerce routes and state to a BigCommerceSandbox (nothing yet)."""
    return None
