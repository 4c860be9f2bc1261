"""Custom attribute and tag provisioning against the People sandbox."""

from __future__ import annotations

import pytest

from bc2people.destinations.people.client import PeopleClient
from bc2people.destinations.people.errors import ProvisioningError
from bc2people.destinations.people.provisioning import provision
from bc2people.sandbox.people import PeopleSandbox


def test_creates_missing_attributes_and_tags(people_sandbox: PeopleSandbox, people_client: PeopleClient) -> None:
    people_sandbox.define_custom_attribute("customer_group", "INTEGER")
    report = provision(people_client, {"customer_group": "INTEGER", "store_credit": "DECIMAL"}, ["bigcommerce", "vip"])
    assert people_sandbox.custom_attributes() == {"customer_group": "INTEGER", "store_credit": "DECIMAL"}
    assert {"bigcommerce", "vip"} <= people_sandbox.tags()
    assert report.attributes_created == ["store_credit"] and report.attributes_existing == ["customer_group"]
    again = provision(people_client, {"customer_group": "INTEGER", "store_credit": "DECIMAL"}, ["vip"])
    assert again.attributes_created == [] and again.tags_created == [] and again.tags_existing == ["vip"]


def test_type_mismatch_stops_before_anything_is_created(
    people_sandbox: PeopleSandbox, people_client: PeopleClient
) -> None:
    people_sandbox.define_custom_attribute("customer_group", "STRING")
    with pytest.raises(ProvisioningError) as info:
        provision(people_client, {"a_new_one": "DATE", "customer_group": "INTEGER"}, ["t1"])
    msg = str(info.value)
    assert "customer_group" in msg and "INTEGER" in msg and "STRING" in msg
    assert info.value.exit_code == 2
    assert people_sandbox.custom_attributes() == {"customer_group": "STRING"}  # a_new_one not created
    assert "t1" not in people_sandbox.tags()


def test_unknown_type_is_refused(people_client: PeopleClient) -> None:
    with pytest.raises(ProvisioningError, match="TEXT"):
        provision(people_client, {"x": "TEXT"})


def test_one_client_provisions_once(people_sandbox: PeopleSandbox, people_client: PeopleClient) -> None:
    """An overlapped first sync pushes every segment through one client: the second and later
    pushes ask People nothing; another client (another run) asks again."""

    def asked() -> int:
        return sum(people_sandbox.requests_served.values())

    wanted, tags = {"customer_group": "INTEGER"}, ["bigcommerce"]
    before = asked()
    provision(people_client, wanted, tags)
    first = asked()
    assert first - before >= 2
    again = provision(people_client, wanted, tags)
    assert asked() == first and again.attributes_existing == ["customer_group"] and again.tags_existing == tags
    provision(people_client, {**wanted, "store_credit": "DECIMAL"}, tags)  # something new: asked again
    assert asked() > first and people_sandbox.custom_attributes()["store_credit"] == "DECIMAL"
    other = PeopleClient(people_sandbox.base_url, people_sandbox.api_key, rate=1000.0)
    before = asked()
    provision(other, wanted, tags)
    assert asked() > before
