"""Parts of the drain that make it fast: merging fetched batches, the remembering People client."""

from __future__ import annotations

from bc2people.pipelines.lane.drain import Batch
from bc2people.pipelines.lane.intake import Pending


def _p(seq: int, kind: str, ident: str) -> Pending:
    return Pending(seq, f"store/{kind}/updated", kind, ident, 0.0)


def test_a_batch_fetched_later_wins_when_batches_merge_into_one_cycle() -> None:
    first = Batch([_p(1, "customer", "5"), _p(2, "customer", "6"), _p(3, "order", "40"), _p(4, "customer", "8")],
                  customers=[{"id": 5, "v": "old"}, {"id": 6, "v": "old"}], orders=[{"id": 40, "v": "old"}],
                  gone_customers={8}, first_of={("customer", "5"): 1, ("customer", "6"): 2, ("order", "40"): 3,
                                                ("customer", "8"): 4})
    later = Batch([_p(9, "customer", "5"), _p(10, "customer", "6"), _p(11, "order", "40")],
                  customers=[{"id": 5, "v": "new"}], orders=[], gone_customers={6}, gone_orders={40},
                  first_of={("customer", "5"): 9, ("customer", "6"): 10, ("order", "40"): 11})
    first.absorb(later)
    assert [e.seq for e in first.entries] == [1, 2, 3, 4, 9, 10, 11]
    assert first.customers == [{"id": 5, "v": "new"}]  # re-read later: the later record is staged
    assert first.gone_customers == {6, 8} and first.orders == [] and first.gone_orders == {40}
    assert first.first_of[("customer", "5")] == 1 and first.merged == 2  # entry 9 collapses into 1


def test_the_drains_people_client_looks_definitions_up_once_per_ttl() -> None:
    from bc2people.destinations.people.provisioning import provision
    from bc2people.pipelines.lane.people import DrainPeopleClient
    from bc2people.sandbox.people import PeopleSandbox

    with PeopleSandbox() as people:
        client = DrainPeopleClient(people.base_url, people.api_key)
        first = provision(client, {"loyalty_tier": "STRING"}, ["bigcommerce"])
        assert first.attributes_created == ["loyalty_tier"] and first.tags_created == ["bigcommerce"]
        provision(client, {"loyalty_tier": "STRING"}, ["bigcommerce"])  # what was created is read back once
        served = sum(people.requests_served.values())
        for _ in range(3):  # the next cycles: no request at all
            again = provision(client, {"loyalty_tier": "STRING"}, ["bigcommerce"])
            assert again.attributes_existing == ["loyalty_tier"] and again.tags_existing == ["bigcommerce"]
        assert sum(people.requests_served.values()) == served
        client.ttl_s = 0.0  # expired: looked up again
        provision(client, {"loyalty_tier": "STRING"}, ["bigcommerce"])
        assert sum(people.requests_served.values()) > served
