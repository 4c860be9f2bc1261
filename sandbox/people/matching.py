"""``POST /people/2/persons/match`` and the sandbox's configurable matching order.

Match (spec ``match-people-ids``): ``{"identities": [{type, identifier, sender?}]}`` →
``{"matches": [{type, identifier, sender?, personId}]}`` for the identities that match a person,
duplicates answered once. When nothing matches the sandbox answers 200 with an empty list, or
404 (documented, body unspecified) when ``PeopleSandbox.match_none_404``.

Matching order (``PeopleSandbox.match_order``): how the upsert treats an item whose identifiers
name different persons. ``None`` (the default): per-item 409100, as the sandbox always did. A
tuple of identifier types, e.g. ``("EXTERNAL_ID", "EMAIL", "PHONE")``: the person named by the
first type in that order that matches wins, and the item's contacts owned by other persons are
left with their owners (People's real order is undocumented; tests can play either).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bc2people.sandbox.http import Request, Response
from bc2people.sandbox.people import errors as E

if TYPE_CHECKING:
    from bc2people.sandbox.people.server import PeopleSandbox

ORDER_TYPES = ("EXTERNAL_ID", "EMAIL", "PHONE")


def check_order(order: Any) -> tuple[str, ...] | None:
    """A valid matching order (None, or a permutation of some of `ORDER_TYPES`), else ValueError."""
    if order is None:
        return None
    if isinstance(order, str) or not all(t in ORDER_TYPES for t in order) or len(set(order)) != len(order):
        raise ValueError(f"match order must be null or a list of distinct {', '.join(ORDER_TYPES)}")
    return tuple(order)


def match(sb: PeopleSandbox, req: Request, id_types: tuple[str, ...]) -> Response:
    """Answer a match request."""
    try:
        body = req.json()
    except Exception:  # noqa: BLE001 - any unreadable body is a 400
        body = None
    identities = body.get("identities") if isinstance(body, dict) else None
    if not isinstance(identities, list):
        return E.bad_request("identities is required and must be an array", "identities")
    matches, seen = [], set()
    for i, ident in enumerate(identities):
        if (not isinstance(ident, dict) or ident.get("type") not in id_types
                or not isinstance(ident.get("identifier"), str) or not ident["identifier"]):
            return E.bad_request(f"identities[{i}] must have a valid type and an identifier", f"identities[{i}]")
        key = (ident["type"], ident["identifier"], ident.get("sender"))
        if key in seen:
            continue
        seen.add(key)
        person = sb.store.find(ident["type"], ident["identifier"])
        if person is not None:
            item = {"type": ident["type"], "identifier": ident["identifier"], "personId": person["id"]}
            if ident.get("sender"):
                item["sender"] = ident["sender"]
            matches.append(item)
    if not matches and sb.match_none_404:
        return E.not_found("No person matches the identities")
    return Response(200, {"matches": matches})


def resolve(order: tuple[str, ...], hits: dict[int, list[str]], item: dict[str, Any],
            owner_of: Any) -> tuple[int | None, dict[str, Any]]:
    """Under a matching order: (the winning person id, the item without contacts owned by other
    persons). ``hits`` maps person id -> what matched it ("externalId 'x'", "email 'y'", ...);
    ``owner_of(contact)`` gives the person id owning a contact, or None."""
    prefix = {"EXTERNAL_ID": "externalId ", "EMAIL": "email ", "PHONE": "phone "}
    winner = None
    for kind in order:
        for pid, what in sorted(hits.items()):
            if pid >= 0 and any(w.startswith(prefix[kind]) for w in what):
                winner = pid
                break
        if winner is not None:
            break
    if winner is None:
        return None, item
    kept = [c for c in item.get("contactInformation") or () if owner_of(c) in (None, winner)]
    return winner, {**item, "contactInformation": kept}
