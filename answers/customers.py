"""Find Customer Using Email."""

from __future__ import annotations

from typing import Any

from bc2people.answers import params
from bc2people.answers.client import BigCommerceClient

CUSTOMER_INCLUDE = "addresses,storecredit,attributes,formfields"


def find_customer_by_email(client: BigCommerceClient, email: str) -> dict[str, Any]:
    """The customer with this email (`GET /v3/customers?email:in=`, with addresses etc.).

    Returns the customer object itself plus ``found: true`` (so ``first_name`` and
    ``addresses.0.city`` are direct paths), or ``{"found": false, "email": ...}``.
    """
    email = params.email("email", email)
    body = client.get("v3", "customers", params={"email:in": email, "include": CUSTOMER_INCLUDE})
    data = (body or {}).get("data") or []
    match = next((c for c in data if str(c.get("email", "")).lower() == email.lower()), data[0] if data else None)
    if match is None:
        return {"found": False, "email": email}
    return {"found": True, **match}
