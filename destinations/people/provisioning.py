"""Make sure People knows every custom attribute and tag a mapping writes, before sending.

Custom attribute types can never change in People, so a definition that exists with
another type stops the run (`ProvisioningError`, exit code 2) before any person is sent.
Missing definitions and tags are created; a "duplicate" answer (created concurrently) is
treated as success.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bc2people.destinations.people.client import PeopleClient
from bc2people.destinations.people.errors import ProvisioningError
from bc2people.destinations.people.rules import DATA_TYPES


@dataclass
class ProvisioningReport:
    """What provisioning found and did."""

    attributes_created: list[str] = field(default_factory=list)
    attributes_existing: list[str] = field(default_factory=list)
    tags_created: list[str] = field(default_factory=list)
    tags_existing: list[str] = field(default_factory=list)


def provision(
    client: PeopleClient, custom_attributes: Mapping[str, str], tags: Iterable[str] = ()
) -> ProvisioningReport:
    """Create missing custom attributes (name -> dataType) and tags; stop on type mismatch.

    Every type is checked before anything is created, so a mismatch changes nothing. What one
    client has provisioned recently (`PeopleClient.provisioned_recently`) is not asked again of
    People through it (all reported existing).
    """
    report = ProvisioningReport()
    wanted = {name: str(t).upper() for name, t in custom_attributes.items()}
    key = (tuple(sorted(wanted.items())), tuple(sorted(set(tags))))
    if client.provisioned_recently(key):
        return ProvisioningReport(attributes_existing=sorted(wanted), tags_existing=list(key[1]))
    bad = {n: t for n, t in wanted.items() if t not in DATA_TYPES}
    if bad:
        raise ProvisioningError(
            "unknown People data type(s): "
            + ", ".join(f"{n!r}: {t}" for n, t in sorted(bad.items()))
            + f" (known: {', '.join(sorted(DATA_TYPES))})"
        )
    if wanted:
        # names are case-insensitive in People
        existing = {name.lower(): (name, t.upper()) for name, t in client.list_custom_attributes().items()}
        mismatches = [
            f"custom attribute {name!r} is declared as {t} in the mapping but exists in People as "
            f"{existing[name.lower()][1]} (People never changes an attribute's type; rename the attribute "
            "or change the mapping)"
            for name, t in sorted(wanted.items())
            if name.lower() in existing and existing[name.lower()][1] != t
        ]
        if mismatches:
            raise ProvisioningError("; ".join(mismatches))
        for name, t in sorted(wanted.items()):
            if name.lower() in existing:
                report.attributes_existing.append(name)
                continue
            if not client.create_custom_attribute(name, t):
                current = client.get_custom_attribute(name)
                if current and str(current.get("dataType", "")).upper() != t:
                    raise ProvisioningError(
                        f"custom attribute {name!r} is declared as {t} in the mapping but exists in People as "
                        f"{current.get('dataType')}"
                    )
                report.attributes_existing.append(name)
            else:
                report.attributes_created.append(name)
    for tag in sorted(set(tags)):
        if client.get_tag(tag) is not None:
            report.tags_existing.append(tag)
        elif client.create_tag(tag):
            report.tags_created.append(tag)
        else:
            report.tags_existing.append(tag)
    client.provisioned[key] = time.monotonic()
    return report
