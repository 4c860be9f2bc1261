"""The generated code's shortcuts give the same results as the long way round:

- a transform's ``keeps`` conditions (and a finalizer's, :func:`final_keeps`) only hold for a
  value the transform (finalizer) gives back unchanged, same type and all;
- the payload builder's fast paths (one contact, std already in payload order) build the same
  payload, key order included, as the plain algorithm below.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bc2people.destinations.people.rules import CONTACTS_PER_TYPE_MAX, PAYLOAD_ORDER
from bc2people.pipelines.mapping import Mapping, load_mapping, load_mapping_bytes
from bc2people.pipelines.mapping.engine import _Dropped, loop_fields
from bc2people.pipelines.mapping.finalize import chain_keeps, compile_keeps, final_keeps, make_finalizer
from bc2people.pipelines.mapping.transforms import FACTORIES, Transform, TransformContext, TransformFailure
from bc2people.sandbox.generator import generate_customers, nasty_customers
from tests.fixtures_mapping import CTX, DEFAULT_MAPPING_PATH
from tests.test_mapping_fastpath_codegen import EVERY_KIND
from tests.test_mapping_properties import CUSTOMERS, SCALAR

# std fields out of payload order, a repeated std target, many contacts of both kinds
SHUFFLED = """
version: 1
defaults: {phone_region: US}
fields:
  - to: lastName
    from: $.last_name
    transforms: [strip_forbidden, truncate]
  - to: externalId
    template: "bc-{store_hash}-{$.id}"
  - to: firstName
    from: $.first_name
    transforms: [strip_control, strip_forbidden, collapse_spaces, truncate]
    on_invalid: drop
  - to: city
    from: $.addresses[0].city
    transforms: [trim, upper, lower]
  - to: country
    from: $.addresses[1].country
    transforms: [trim, truncate]
  - to: email
    from: $.addresses[*].email
    take: all
    transforms: [email]
    on_invalid: drop
  - to: email
    from: $.email
    transforms: [email]
    primary: true
    on_invalid: drop
  - to: phone
    from: $.addresses[*].phone
    take: all
    transforms: [phone_e164]
    on_invalid: drop
  - to: phone
    from: $.phone
    transforms: [phone_e164]
    primary: true
    on_invalid: drop
  - to: customAttributes.zeta
    type: STRING
    from: $.company
    transforms: [collapse_spaces]
  - to: customAttributes.alpha
    type: INTEGER
    from: $.customer_group_id
    transforms: [{cast: integer}]
  - to: customAttributes.mid
    type: DECIMAL
    from: $.store_credit_amounts[0].amount
  - to: tags
    from: $.addresses[*].country_code
    take: all
"""


def _transforms() -> list[Transform]:
    """Every transform that has a ``keeps`` shortcut, with the arguments that change it."""
    ctx = TransformContext(target="firstName", max_len=255, phone_region="US")
    built = [FACTORIES[name](None, ctx) for name in ("trim", "collapse_spaces", "strip_control", "lower", "upper",
                                                     "strip_forbidden", "truncate")]
    built += [FACTORIES["truncate"](3, ctx), FACTORIES["strip_forbidden"]("-", ctx)]
    built += [FACTORIES["cast"](kind, ctx) for kind in ("string", "integer", "decimal", "boolean")]
    assert all(t.keeps is not None for t in built)
    return built


@cache
def _corpus() -> list[Any]:
    """Single characters of every kind, the same padded and doubled, and every scalar of the
    generated and nasty customers."""
    every = [chr(c) for c in range(0x110000)]
    odd = [c for c in every if c.isspace() or not c.isprintable() or c.isupper() or c.islower()]
    chars = [*every[:0x300], *odd[::7], *every[0x300::97], *every[0xD800:0xE000:31], *(c for c in every if c.isspace())]
    texts = chars + [f"a{c}b" for c in chars] + [f" {c}" for c in chars] + [f"{c} " for c in chars] + [c * 2 for c in chars]
    texts += ["Ab", "ab", "AB", "a b", "a  b", "ab ", "ÀB", "ǅx", "abcd", "ab", "İ", "ß"]
    texts += ["x" * n for n in (3, 4, 50, 51, 255, 256, 257, 4096, 4097)]  # People's limits, each side
    values: list[Any] = [*texts, 0, 1, -1, 2**63, -(2**63), 2**64, True, False, 0.5, 1.0, -0.0, float("inf"),
                         float("nan"), 9.3e18, 1e300, None, [], ["a"], {}]

    def scalars(doc: Any) -> None:
        if isinstance(doc, dict):
            for v in doc.values():
                scalars(v)
        elif isinstance(doc, list):
            for v in doc:
                scalars(v)
        else:
            values.append(doc)

    scalars(generate_customers(300, seed=3) + nasty_customers(300, seed=3, start_id=10_000_000))
    return values


def _kept_unchanged(fn: Any, keeps: tuple[str, ...], values: list[Any]) -> int:
    """How many non-empty values ``keeps`` accepts; each must come out of ``fn`` as it went in."""
    test = compile_keeps(keeps)
    hits = 0
    for v in values:
        if v is None or (not v and type(v) in (str, list, dict)) or not test(v):
            continue
        hits += 1
        try:
            out = fn(v)
        except TransformFailure as exc:
            raise AssertionError(f"{keeps} accepts {v!r}, which fails: {exc}") from None
        assert type(out) is type(v) and repr(out) == repr(v), (keeps, v, out)
    return hits


def test_transform_keeps_only_accept_values_the_transform_gives_back() -> None:
    values = _corpus()
    for t in _transforms():
        assert t.keeps is not None
        assert _kept_unchanged(t.fn, t.keeps, values) > 20, t.name  # the shortcut is taken at all


@cache
def _mappings() -> list[Mapping]:
    return [load_mapping(DEFAULT_MAPPING_PATH), load_mapping_bytes(EVERY_KIND.encode(), "every-kind.yaml"),
            load_mapping_bytes(SHUFFLED.encode(), "shuffled.yaml")]


def test_finalizer_and_chain_keeps_only_accept_values_given_back() -> None:
    values = _corpus()
    checked = 0
    for mapping in _mappings():
        for plan in mapping.plans:
            final = final_keeps(plan)
            if final is not None:
                checked += _kept_unchanged(make_finalizer(plan), final, values) > 0
            chain = chain_keeps(plan)
            if chain is not None and plan.take == "first" and plan.source_kind != "value":
                run = next(s[4] for s in mapping._steps if s[9] is plan)
                checked += _kept_unchanged(run, chain, values) > 0
    assert checked >= 20


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCALAR)
def test_chain_keeps_on_arbitrary_values(value: Any) -> None:
    for mapping in _mappings():
        for plan, step in zip(mapping.plans, mapping._steps, strict=True):
            chain = chain_keeps(plan)
            if chain is not None and plan.take == "first" and plan.source_kind != "value":
                _kept_unchanged(step[4], chain, [value])


def _reference_payload(std: dict[str, Any], custom: dict[str, Any], tags: list[str],
                       emails: list[tuple[str, bool]], phones: list[tuple[str, bool]]) -> dict[str, Any] | str:
    """The payload algorithm without fast paths."""

    def contacts_of(kind: str, items: list[tuple[str, bool]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: dict[str, dict[str, Any]] = {}
        for ident, primary in items:
            key = ident.lower() if kind == "EMAIL" else ident
            if key not in seen:
                seen[key] = {"type": kind, "identifier": ident}
                out.append(seen[key])
            if primary:
                seen[key]["primary"] = True
        return out

    payload = {k: std[k] for k in PAYLOAD_ORDER if k in std}
    contacts = contacts_of("EMAIL", emails) + contacts_of("PHONE", phones)
    for kind in ("EMAIL", "PHONE"):
        n = sum(1 for c in contacts if c["type"] == kind)
        if n > CONTACTS_PER_TYPE_MAX:
            return f"{kind.lower()}: {n} {kind.lower()}s, People allows {CONTACTS_PER_TYPE_MAX} per person"
    if contacts:
        payload["contactInformation"] = contacts
    if tags:
        payload["tags"] = sorted(set(tags))
    if custom:
        payload["customAttributes"] = {k: custom[k] for k in sorted(custom)}
    return payload


def _assert_reference_payload(mapping: Mapping, customer: dict[str, Any]) -> None:
    record = mapping.map(customer, CTX)
    buckets: tuple[Any, ...] = ({}, {}, {}, [], [], [], [])
    sources, std, custom, tags, emails, phones, dropped = buckets
    rejection, _ = loop_fields(mapping._steps, customer, CTX, sources, std, custom, tags, emails, phones, dropped)
    if rejection is not None or not std.get("externalId"):
        assert record.payload is None
        return
    expected = _reference_payload(std, custom, tags, emails, phones)
    if isinstance(expected, str):
        assert record.payload is None and record.rejection == expected
    else:
        assert json.dumps(record.payload) == json.dumps(expected), customer  # key order too


def _many_contacts(customer: dict[str, Any]) -> dict[str, Any]:
    n = CONTACTS_PER_TYPE_MAX + 1
    return {**customer, "addresses": [{"email": f"a{i}@example.com", "phone": f"+1 415 555 {2000 + i}",
                                       "city": "Oslo", "country_code": "NO"} for i in range(n)]}


def test_payloads_equal_the_plain_algorithm_on_store_and_nasty_customers() -> None:
    customers = generate_customers(800, seed=9) + nasty_customers(300, seed=9, start_id=10_000_000)
    customers += [_many_contacts(customers[0]), _many_contacts({**customers[1], "email": "A0@EXAMPLE.COM"})]
    for mapping in _mappings():
        for customer in customers:
            _assert_reference_payload(mapping, customer)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CUSTOMERS, st.booleans())
def test_payloads_equal_the_plain_algorithm_on_arbitrary_customers(customer: dict[str, Any], many: bool) -> None:
    for mapping in _mappings():
        _assert_reference_payload(mapping, _many_contacts(customer) if many else customer)


def test_dropped_marker_is_never_kept() -> None:
    """A value the chain drops is never one ``keeps`` accepts (it would skip the drop)."""
    for mapping in _mappings():
        for plan, step in zip(mapping.plans, mapping._steps, strict=True):
            chain = chain_keeps(plan)
            if chain is None or plan.take != "first" or plan.source_kind == "value":
                continue
            test = compile_keeps(chain)
            for v in ("x" * 5000, "a&b", "\x00", "  a", 2**70, sys.float_info.max, float("nan")):
                if test(v):
                    assert type(step[4](v)) is not _Dropped
