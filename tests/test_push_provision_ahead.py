"""Provisioning ahead (`PushSession.provision_ahead`, an overlapped first sync's): People's custom
attributes and tags are provisioned in the background while the run reads, and the first package
waits for it (a type mismatch found there: `tests/test_push.py`)."""

from __future__ import annotations

import time
from typing import Any

from bc2people.destinations.people.client import PeopleClient
from bc2people.pipelines.push import PushSession
from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from tests.fixtures_push import HandMapping, stage_real
from tests.fixtures_staging import wait_until

STORE = "sandbox1"
UPSERT = "PATCH /people/3/persons/upsert"


def test_attributes_are_provisioned_in_the_background_and_then_persons_sent(
    push_env: dict[str, Any], bc_sandbox: BigCommerceSandbox
) -> None:
    ps, db = push_env["people"], push_env["db"]
    stage_real(bc_sandbox, db)
    ps.latency_ms = 150  # provisioning takes several requests: well over the time provision_ahead may take
    client = PeopleClient(ps.base_url, ps.api_key, rate=1000)
    with PushSession(str(db), HandMapping(group_attr="customer_group"), "r1", store_hash=STORE,
                     client=client) as session:
        t0 = time.monotonic()
        session.provision_ahead()
        assert time.monotonic() - t0 < 0.1  # returned at once: the requests go on a thread of their own
        assert "customer_group" not in ps.custom_attributes()
        # nothing else is asked of the session, and the attribute appears in People
        assert wait_until(lambda: ps.custom_attributes().get("customer_group") == "INTEGER", timeout=10.0)
        assert ps.requests_served[UPSERT] == 0
        res = session.push_all(None)
    assert res.counts["created"] == res.counts["sent"] > 0
    assert len(ps.persons()) == res.counts["created"]

