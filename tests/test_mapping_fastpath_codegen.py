"""The generated field function of a mapping does exactly what the engine's plain loop does:
same sources (values and order), payload buckets, drops with reasons, rejection and field; on
the store's customers, the nasty ones, arbitrary JSON, and a mapping using every source kind,
``when``, templates, constants, drops, clears and negative indices."""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings

from bc2people.pipelines.mapping import Mapping, load_mapping, load_mapping_bytes
from bc2people.pipelines.mapping.engine import loop_fields
from bc2people.sandbox.generator import generate_customers, nasty_customers
from tests.fixtures_mapping import CTX, DEFAULT_MAPPING_PATH
from tests.test_mapping_properties import CUSTOMERS

EVERY_KIND = """
version: 1
defaults: {phone_region: GB}
fields:
  - to: externalId
    template: "bc-{store_hash}-{$.id}"
  - to: type
    value: CUSTOMER
  - to: firstName
    from:
      - $.first_name
      - $.addresses[0].first_name
      - $.addresses[-1].first_name
    transforms: [strip_control, strip_forbidden, collapse_spaces, truncate]
    on_empty: clear
  - to: lastName
    from: $.addresses[-1].last_name
    default: Unknown
  - to: city
    from: $.addresses[1].city
    on_invalid: drop
  - to: email
    from: $.email
    transforms: [email]
    primary: true
    on_invalid: drop
  - to: email
    from: $.addresses[*].email
    take: all
    transforms: [email]
    on_invalid: drop
  - to: phone
    from: $.addresses[*].phone
    take: all
    transforms: [phone_e164]
    on_invalid: drop
  - to: phone
    from: $.phone
    transforms: [phone_e164]
  - to: customAttributes.group
    type: INTEGER
    from: $.customer_group_id
    on_empty: clear
  - to: customAttributes.note
    type: STRING
    template: "{$.company} / {$.addresses[0].city}"
    on_invalid: drop
  - to: customAttributes.flag
    type: BOOLEAN
    from: $.accepts_product_review_abandoned_cart_emails
    transforms: [{cast: boolean}]
  - to: tags
    value: fixed
  - to: tags
    template: "g-{$.customer_group_id}"
    when: $.customer_group_id
  - to: tags
    value: vip
    when: {from: $.company, in: [ACME, Globex]}
  - to: tags
    from: $.channel_ids[*]
    take: all
    on_invalid: drop
"""


def _both(mapping: Mapping, customer: dict[str, Any]) -> tuple[Any, Any]:
    out = []
    for fields in (mapping._fields, lambda *a: loop_fields(mapping._steps, *a)):
        buckets: tuple[Any, ...] = ({}, {}, {}, [], [], [], [])
        sources, std, custom, tags, emails, phones, dropped = buckets
        result = fields(customer, CTX, sources, std, custom, tags, emails, phones, dropped)
        out.append((result, list(sources.items()), std, custom, tags, emails, phones, dropped))
    return out[0], out[1]


@cache
def _mappings() -> list[Mapping]:
    return [load_mapping(DEFAULT_MAPPING_PATH), load_mapping_bytes(EVERY_KIND.encode(), "every-kind.yaml")]


def test_generated_fields_equal_the_loop_on_the_store_and_nasty_customers() -> None:
    customers = generate_customers(1500, seed=5) + nasty_customers(300, seed=5, start_id=10_000_000)
    rejected = dropped = 0
    for mapping in _mappings():
        for customer in customers:
            generated, looped = _both(mapping, customer)
            assert generated == looped, customer
            rejected += generated[0][0] is not None
            dropped += bool(generated[-1])
    assert rejected > 50 and dropped > 50  # the rejection and drop paths were compared too


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CUSTOMERS)
def test_generated_fields_equal_the_loop_on_arbitrary_customers(customer: dict[str, Any]) -> None:
    for mapping in _mappings():
        generated, looped = _both(mapping, customer)
        assert generated == looped
