"""Stored persons rendered in the v2 shape (``IamPersonV2``) that ``/people/2/persons`` returns."""

from __future__ import annotations

from typing import Any

_SKIP = ("contactInformation", "tags", "customAttributes")


def to_v2(person: dict[str, Any]) -> dict[str, Any]:
    """v2 person: contacts as ``{"email": [{"address"}], "phone": [{"number"}]}``, origin API."""
    out = {k: v for k, v in person.items() if k not in _SKIP}
    out["tags"] = list(person.get("tags") or [])
    out["customAttributes"] = dict(person.get("customAttributes") or {})
    contacts = person.get("contactInformation") or []
    out["contactInformation"] = {
        "email": [{"address": c["identifier"]} for c in contacts if c["type"] == "EMAIL"],
        "phone": [{"number": c["identifier"]} for c in contacts if c["type"] == "PHONE"],
    }
    out["origin"] = "API"
    out["modifiedFrom"] = "API"
    return out
