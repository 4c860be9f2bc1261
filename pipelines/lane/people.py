"""The drain's People client: one per drain (one session, one set of connections), and the
definitions it provisions remembered for a while.

Every micro-batch goes through `pipelines.push.push_persons`, which provisions the mapping's
custom attributes and tags before it sends (a definitions listing plus one tag lookup per tag:
three requests on People's 5/s limiters, ~0.2 s of every cycle). Definitions change rarely and
an attribute's type never changes, so the drain reuses what it saw for `DEFINITIONS_TTL_S`:
a tag or attribute removed in People meanwhile is re-created at the latest one TTL later (the
nightly run provisions afresh every night).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from bc2people.destinations.people.client import PeopleClient, ProvisionKey

DEFINITIONS_TTL_S = 300.0


class DrainPeopleClient(PeopleClient):
    """A `PeopleClient` whose definition lookups (custom attributes, existing tags) are reused
    for ``ttl_s`` seconds; creating an attribute forgets the listing."""

    def __init__(self, base_url: str, api_key: str, *, ttl_s: float = DEFINITIONS_TTL_S, **kwargs: Any) -> None:
        super().__init__(base_url, api_key, **kwargs)
        self.ttl_s = ttl_s
        self._defs_lock = threading.Lock()
        self._attributes: tuple[float, dict[str, str]] | None = None
        self._tags: dict[str, tuple[float, dict[str, Any]]] = {}

    def provisioned_recently(self, key: ProvisionKey) -> bool:
        when = self.provisioned.get(key)
        return when is not None and time.monotonic() - when < self.ttl_s

    def list_custom_attributes(self) -> dict[str, str]:
        with self._defs_lock:
            seen = self._attributes
        if seen is not None and time.monotonic() - seen[0] < self.ttl_s:
            return dict(seen[1])
        found = super().list_custom_attributes()
        with self._defs_lock:
            self._attributes = (time.monotonic(), dict(found))
        return found

    def create_custom_attribute(self, name: str, data_type: str) -> bool:
        with self._defs_lock:
            self._attributes = None
        return super().create_custom_attribute(name, data_type)

    def get_tag(self, name: str) -> dict[str, Any] | None:
        with self._defs_lock:
            seen = self._tags.get(name)
        if seen is not None and time.monotonic() - seen[0] < self.ttl_s:
            return dict(seen[1])
        tag = super().get_tag(name)
        if tag is not None:  # a missing tag is looked up again (provisioning creates it)
            with self._defs_lock:
                self._tags[name] = (time.monotonic(), dict(tag))
        return tag


def drain_people_client() -> DrainPeopleClient:
    """The drain's client, configured like the job's (dlt config / env)."""
    from bc2people.destinations.people.destination import load_people_config

    cfg = load_people_config()
    return DrainPeopleClient(cfg.base_url, cfg.api_key, timeout=cfg.timeout, rate=cfg.rate)
