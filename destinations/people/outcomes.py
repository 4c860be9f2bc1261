"""Reading People's per-person answers: what each outcome of an upsert means for a sync ledger."""

from __future__ import annotations

from bc2people.destinations.people.client import RecordOutcome

ACCEPTED = ("CREATED", "UPDATED", "NOT_MODIFIED")
REJECTED = "REJECTED"  # People refused the person: not resent until its payload changes
FAILED = "FAILED"  # People failed on it or never answered for it: resent on the next run


def status_of(outcome: RecordOutcome) -> str:
    """CREATED, UPDATED or NOT_MODIFIED when accepted; REJECTED for a per-person error;
    FAILED for a 5xx-class code (e.g. 500100: People failed on that person) or no answer at
    all (an index the 207 left out)."""
    if outcome.accepted:
        return str(outcome.status)
    if outcome.status == "REJECTED" and not str(outcome.error_code or "").startswith("5"):
        return REJECTED
    return FAILED


def flatten(payload: dict | None) -> dict:  # type: ignore[type-arg]
    """A person as flat fields for a field-level diff: each custom attribute on its own."""
    flat: dict = {}  # type: ignore[type-arg]
    for key, value in (payload or {}).items():
        if key == "customAttributes" and isinstance(value, dict):
            for k, v in value.items():
                flat[f"customAttributes.{k}"] = v
        else:
            flat[key] = value
    return flat
