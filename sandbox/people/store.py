"""The People sandbox's state: persons with unique identifier indexes, attributes and tags.

Everything here is thread-safe behind one lock, held only while state is read or changed:
request parsing and validation happen outside it (see ``server.py``).

Identity indexes (reference §3): ``externalId`` case-sensitive, email case-insensitive,
phone exact (digits, no ``+``). A stored person always has ``type``, ``tags``,
``contactInformation`` (v3 list shape) and ``customAttributes``; scalar fields only when set.

Upsert semantics (sandbox choices where the spec is silent):

- Matching: the externalId, every email and every phone of the item are looked up. If they
  hit more than one person, or the one person hit by a contact has a *different* non-empty
  externalId, the item fails with 409100 (no silent merge, no externalId takeover), unless a
  ``match_order`` is set (see ``matching.py``).
- PATCH keeps fields the item omits, **appends** tags and contacts (v2 PATCH analogy; an
  existing contact is matched by type and identifier, email case-insensitively, and takes the
  new spelling and ``primary``) and merges ``customAttributes`` (``null``/``""`` removes one).
  An explicit ``null`` on any other field clears it.
- PUT replaces the whole profile: omitted fields are cleared, ``type`` falls back to CUSTOMER,
  tags and contacts become exactly the item's.
- NOT_MODIFIED when the resulting profile equals the stored one (tags compared as a set,
  contacts as a set of (type, identifier, primary)); modifiedAt is then left alone.
- Items of one batch apply sequentially in index order: a later item sees an earlier one's
  result (two items for the same new externalId give CREATED then UPDATED/NOT_MODIFIED).
- Tags a person references are created on the fly unless ``require_existing_tags`` (then
  validation has already rejected unknown ones).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable
from typing import Any

from bc2people.sandbox.people.matching import resolve
from bc2people.sandbox.people.validation import AttributeDef, normalize_phone

META = ("id", "createdAt", "modifiedAt")
ORDER_FIELDS = ("firstName", "lastName", "createdAt", "modifiedAt")


class DuplicateName(ValueError):
    """A tag or custom attribute with this name (case-insensitive) already exists."""


def now_stamp() -> str:
    """People's timestamp format ``yyyy-MM-dd'T'HH:mm:ss`` (UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


def contact_key(contact: dict[str, Any]) -> tuple[str, str]:
    """Identity of a contact: email lower-cased, phone as stored."""
    ident = contact["identifier"]
    return (contact["type"], ident.lower() if contact["type"] == "EMAIL" else ident)


def _canon(state: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in state.items() if k not in META}
    out["tags"] = sorted(state.get("tags") or ())
    out["contactInformation"] = sorted(
        (c["type"], c["identifier"], c.get("primary")) for c in state.get("contactInformation") or ()
    )
    return out


class PeopleStore:
    """Persons, custom attribute definitions and tags of one People account."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.match_order: tuple[str, ...] | None = None  # see matching.py; None = conflicts are 409100
        self.reset()

    def reset(self) -> None:
        """Forget everything."""
        with self.lock:
            self.persons: dict[int, dict[str, Any]] = {}
            self._by_ext: dict[str, int] = {}
            self._by_email: dict[str, int] = {}
            self._by_phone: dict[str, int] = {}
            self._next_id = 1
            self.attributes: dict[str, dict[str, Any]] = {}
            self._attr_defs: dict[str, AttributeDef] = {}
            self.tag_registry: dict[str, dict[str, Any]] = {}
            self._next_tag_id = 1

    # -- snapshots for validation (read without holding the lock for long) ---------------
    def attribute_defs(self) -> dict[str, AttributeDef]:
        """Lower-cased name -> definition (an immutable snapshot)."""
        return self._attr_defs

    def known_tags(self) -> frozenset[str]:
        """Lower-cased names of the defined tags."""
        with self.lock:
            return frozenset(self.tag_registry)

    # -- persons ---------------------------------------------------------------------------
    def upsert(
        self, items: Iterable[tuple[int, dict[str, Any]]], *, replace: bool
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Apply validated items in order; returns (results, errors) in the V3 shapes."""
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        stamp = now_stamp()
        with self.lock:
            for index, person in items:
                outcome = self._upsert_one(index, person, replace, stamp)
                (errors if "code" in outcome else results).append(outcome)
        return results, errors

    def _upsert_one(self, index: int, p: dict[str, Any], replace: bool, stamp: str) -> dict[str, Any]:
        hits: dict[int, list[str]] = {}
        ext = p.get("externalId")
        if ext:
            pid = self._by_ext.get(ext)
            if pid is not None:
                hits.setdefault(pid, []).append(f"externalId {ext!r}")
        for c in p.get("contactInformation") or ():
            ctype, key = contact_key(c)
            pid = (self._by_email if ctype == "EMAIL" else self._by_phone).get(key)
            if pid is not None:
                hits.setdefault(pid, []).append(f"{ctype.lower()} {c['identifier']!r}")
        if self.match_order and len(hits) > 1:  # first identifier type in the order wins
            winner, p = resolve(self.match_order, hits, p, self._owner)
            if winner is not None:
                hits = {winner: hits[winner]}
        target = None
        if len(hits) == 1:
            (pid,) = hits
            target = self.persons[pid]
            if ext and target.get("externalId") and target["externalId"] != ext:
                hits[-1] = [f"externalId {ext!r}"]  # a different person: the one the id names
        if len(hits) > 1:
            details = [
                {"property": f"persons[{index}]", "message": f"{', '.join(what)} belong(s) to person {pid}"}
                for pid, what in sorted(hits.items())
                if pid != -1
            ]
            if -1 in hits:
                details.append(
                    {
                        "property": f"persons[{index}].externalId",
                        "message": "Contact information matches a person with a different externalId",
                    }
                )
            return {
                "code": 409100,
                "message": "Identifiers of the person match different existing persons",
                "details": details,
                "index": index,
            }
        new = self._merge(target, p) if target is not None and not replace else self._build(p)
        self._canonical_tags(new)
        if target is None:
            pid = self._next_id
            self._next_id += 1
            new.update(id=pid, createdAt=stamp, modifiedAt=stamp)
            self.persons[pid] = new
            self._index(new, pid)
            return {"id": pid, "index": index, "status": "CREATED"}
        pid = target["id"]
        if _canon(new) == _canon(target):
            return {"id": pid, "index": index, "status": "NOT_MODIFIED"}
        self._unindex(target)
        new.update(id=pid, createdAt=target["createdAt"], modifiedAt=stamp)
        self.persons[pid] = new
        self._index(new, pid)
        return {"id": pid, "index": index, "status": "UPDATED"}

    def _owner(self, contact: dict[str, Any]) -> int | None:
        ctype, key = contact_key(contact)
        return (self._by_email if ctype == "EMAIL" else self._by_phone).get(key)

    @staticmethod
    def _build(p: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {
            "type": "CUSTOMER",
            "tags": [],
            "contactInformation": [],
            "customAttributes": {},
        }
        for k, v in p.items():
            if v is None:
                continue
            if k == "customAttributes":
                state[k] = {n: x for n, x in v.items() if x is not None}
            else:
                state[k] = list(v) if isinstance(v, list) else v
        return state

    @staticmethod
    def _merge(target: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        new = {k: v for k, v in target.items() if k not in META}
        for k, v in p.items():
            if k == "tags":
                if v is None:
                    new["tags"] = []
                    continue
                have = {t.lower() for t in new["tags"]}
                new["tags"] = new["tags"] + [t for t in v if t.lower() not in have]
            elif k == "contactInformation":
                if v is None:
                    new[k] = []
                    continue
                merged = list(new[k])
                pos = {contact_key(c): i for i, c in enumerate(merged)}
                for c in v:
                    i = pos.get(contact_key(c))
                    if i is None:
                        pos[contact_key(c)] = len(merged)
                        merged.append(c)
                    else:
                        entry = dict(c)
                        if "primary" not in c and "primary" in merged[i]:
                            entry["primary"] = merged[i]["primary"]
                        merged[i] = entry
                new[k] = merged
            elif k == "customAttributes":
                if v is None:
                    new[k] = {}
                    continue
                attrs = dict(new[k])
                for name, x in v.items():
                    if x is None:
                        attrs.pop(name, None)
                    else:
                        attrs[name] = x
                new[k] = attrs
            elif v is None:
                new.pop(k, None)
                if k == "type":
                    new["type"] = "CUSTOMER"
            else:
                new[k] = v
        return new

    def _canonical_tags(self, state: dict[str, Any]) -> None:
        tags = []
        for t in state["tags"]:
            entry = self.tag_registry.get(t.lower())
            if entry is None:
                entry = self._create_tag(t)
            tags.append(entry["name"])
        state["tags"] = tags

    def _index(self, person: dict[str, Any], pid: int) -> None:
        if person.get("externalId"):
            self._by_ext[person["externalId"]] = pid
        for c in person["contactInformation"]:
            ctype, key = contact_key(c)
            (self._by_email if ctype == "EMAIL" else self._by_phone)[key] = pid

    def _unindex(self, person: dict[str, Any]) -> None:
        if person.get("externalId"):
            self._by_ext.pop(person["externalId"], None)
        for c in person["contactInformation"]:
            ctype, key = contact_key(c)
            (self._by_email if ctype == "EMAIL" else self._by_phone).pop(key, None)

    def _lookup(self, id_type: str, identifier: str) -> int | None:
        if id_type == "ID":
            try:
                pid = int(identifier)
            except ValueError:
                return None
            return pid if pid in self.persons else None
        if id_type == "EXTERNAL_ID":
            return self._by_ext.get(identifier)
        if id_type == "EMAIL":
            return self._by_email.get(identifier.lower())
        if id_type == "PHONE":
            number = normalize_phone(identifier)
            return self._by_phone.get(number) if number else None
        return None

    def find(self, id_type: str, identifier: str) -> dict[str, Any] | None:
        """A copy of the person ``identifier`` names (type ID/EXTERNAL_ID/EMAIL/PHONE), or None."""
        with self.lock:
            pid = self._lookup(id_type, identifier)
            return copy.deepcopy(self.persons[pid]) if pid is not None else None

    def remove_contacts(self, id_type: str, identifier: str, emails: Iterable[str],
                        phones: Iterable[str]) -> dict[str, Any] | None:
        """Remove the given emails (any case) and phones from one person; contacts it does not
        have are ignored. Returns a copy of the person, or None when there is no such person."""
        with self.lock:
            pid = self._lookup(id_type, identifier)
            if pid is None:
                return None
            person = self.persons[pid]
            gone = {("EMAIL", e.lower()) for e in emails} | {("PHONE", normalize_phone(p) or p) for p in phones}
            keep = [c for c in person["contactInformation"] if contact_key(c) not in gone]
            if len(keep) != len(person["contactInformation"]):
                self._unindex(person)
                person["contactInformation"] = keep
                person["modifiedAt"] = now_stamp()
                self._index(person, pid)
            return copy.deepcopy(person)

    def missing(self, queries: list[tuple[str, str]]) -> list[int]:
        """Indexes of the (type, identifier) queries that match no person."""
        with self.lock:
            return [i for i, (t, ident) in enumerate(queries) if self._lookup(t, ident) is None]

    def delete(self, id_type: str, identifier: str) -> bool:
        """Delete the person ``identifier`` names; False when there is none."""
        with self.lock:
            pid = self._lookup(id_type, identifier)
            if pid is None:
                return False
            self._unindex(self.persons.pop(pid))
            return True

    def all_persons(self) -> list[dict[str, Any]]:
        """Deep copies of every person, by id."""
        with self.lock:
            return [copy.deepcopy(self.persons[k]) for k in sorted(self.persons)]

    def page(self, limit: int, page: int, order_by: str | None) -> tuple[list[dict[str, Any]], int]:
        """One page of persons (copies) and the total count."""
        with self.lock:
            people = list(self.persons.values())
            if order_by:
                field, _, direction = order_by.partition(":")
                people.sort(key=lambda p: (p.get(field) is None, p.get(field) or "", p["id"]))
                if direction.lower() == "desc":
                    people.reverse()
            start = (page - 1) * limit
            return [copy.deepcopy(p) for p in people[start : start + limit]], len(people)

    # -- custom attributes -------------------------------------------------------------------
    def define_attribute(
        self, name: str, data_type: str, object_schema: dict[str, str] | None
    ) -> dict[str, Any]:
        """Create a definition; raises DuplicateName when the name exists (any case)."""
        with self.lock:
            if name.lower() in self.attributes:
                raise DuplicateName(name)
            stamp = now_stamp()
            entry: dict[str, Any] = {
                "name": name,
                "dataType": data_type,
                "createdAt": stamp,
                "modifiedAt": stamp,
            }
            if object_schema is not None:
                entry["objectSchema"] = dict(object_schema)
            self.attributes[name.lower()] = entry
            defs = dict(self._attr_defs)
            defs[name.lower()] = AttributeDef(name, data_type, entry.get("objectSchema"))
            self._attr_defs = defs
            return dict(entry)

    def attribute(self, name: str) -> dict[str, Any] | None:
        """The definition named ``name`` (case-insensitive), or None."""
        with self.lock:
            entry = self.attributes.get(name.lower())
            return copy.deepcopy(entry) if entry else None

    def attribute_list(self) -> list[dict[str, Any]]:
        """All definitions sorted by name."""
        with self.lock:
            return [
                copy.deepcopy(e) for e in sorted(self.attributes.values(), key=lambda e: e["name"].lower())
            ]

    # -- tags --------------------------------------------------------------------------------
    def _create_tag(self, name: str) -> dict[str, Any]:
        stamp = now_stamp()
        entry = {"id": self._next_tag_id, "name": name, "createdAt": stamp, "modifiedAt": stamp}
        self._next_tag_id += 1
        self.tag_registry[name.lower()] = entry
        return entry

    def create_tag(self, name: str) -> dict[str, Any]:
        """Create a tag; raises DuplicateName when the name exists (any case)."""
        with self.lock:
            if name.lower() in self.tag_registry:
                raise DuplicateName(name)
            return dict(self._create_tag(name))

    def tag(self, name: str) -> dict[str, Any] | None:
        """The tag named ``name`` (case-insensitive), or None."""
        with self.lock:
            entry = self.tag_registry.get(name.lower())
            return dict(entry) if entry else None

    def tag_list(self) -> list[dict[str, Any]]:
        """All tags sorted by name."""
        with self.lock:
            return [dict(e) for e in sorted(self.tag_registry.values(), key=lambda e: e["name"].lower())]

    def tag_persons(
        self, name: str, queries: list[tuple[str, str]], *, add: bool, create: bool
    ) -> int | None:
        """Add (or remove) a tag on the persons the queries name; None when the tag is unknown
        and ``create`` is False. Returns how many persons changed."""
        with self.lock:
            entry = self.tag_registry.get(name.lower())
            if entry is None:
                if not (add and create):
                    return None
                entry = self._create_tag(name)
            stamp, changed = now_stamp(), 0
            for id_type, identifier in queries:
                pid = self._lookup(id_type, identifier)
                if pid is None:
                    continue
                person = self.persons[pid]
                has = any(t.lower() == name.lower() for t in person["tags"])
                if add and not has:
                    person["tags"] = person["tags"] + [entry["name"]]
                elif not add and has:
                    person["tags"] = [t for t in person["tags"] if t.lower() != name.lower()]
                else:
                    continue
                person["modifiedAt"] = stamp
                changed += 1
            return changed
