"""Only the traits a mapping reads re-map a customer: which `$.traits.<column>` paths a mapping
reads (from, template, when), and a traits hash over those columns alone, so a day count that
moves every night re-maps nobody unless it is mapped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bc2people.pipelines.mapping import load_mapping, load_mapping_bytes
from bc2people.pipelines.mapping.compiler import keys_read_under
from bc2people.pipelines.mapping.traits import compute_traits, load_spec, traits_for, traits_hashes
from tests.fixtures_mapping import DEFAULT_MAPPING_PATH
from tests.test_traits import AS_OF, TRAITS_SQL, add_customer, add_order, con  # noqa: F401 - fixture

HEAD = "version: 1\ntraits: {sql: customer_traits.sql, key: customer_id}\nfields:\n" \
       "  - {to: externalId, template: 'bc-{store_hash}-{$.id}'}\n"


@pytest.mark.parametrize(("expr", "expected"), [
    ("$.traits.order_count", {"order_count"}),
    ("traits.rfm_segment", {"rfm_segment"}),
    ("$['traits']['lifetime_value']", {"lifetime_value"}),
    ("$.traits.first_order_at[0]", {"first_order_at"}),
    ("$.email", set()),
    ("$.addresses[0].phone", set()),
    ("$.form_fields[?(@.name=='traits')].value", set()),
    ("$[0]", set()),
    ("$.traits", None),
    ("$.traits.*", None),
    ("$.traits[*]", None),
    ("$.*", None),
    ("$..order_count", None),  # recursive descent: jsonpath-ng only, may reach the traits
    ("$", None),
])
def test_the_trait_columns_a_path_can_read(expr: str, expected: set[str] | None) -> None:
    got = keys_read_under(expr, "traits")
    assert got == (None if expected is None else frozenset(expected))


def _mapping(tmp_path: Path, fields: str) -> Any:
    (tmp_path / "customer_traits.sql").write_text(TRAITS_SQL.read_text())
    path = tmp_path / "m.yaml"
    path.write_text(HEAD + fields)
    return load_mapping_bytes(path.read_bytes(), str(path))


def test_a_mapping_reads_the_traits_its_from_template_and_when_name(tmp_path: Path) -> None:
    m = _mapping(tmp_path, (
        "  - {to: customAttributes.n, type: INTEGER, from: [$.nothing, $.traits.order_count]}\n"
        "  - {to: tags, template: 'rfm-{$.traits.rfm_segment}'}\n"
        "  - {to: tags, value: buyer, when: {from: $.traits.lifetime_value, in: [1, 2]}}\n"
        "  - {to: tags, value: vip, when: $.traits.average_order_value}\n"
        "  - {to: firstName, from: $.first_name}\n"))
    assert m.traits_read() == {"order_count", "rfm_segment", "lifetime_value", "average_order_value"}
    assert _mapping(tmp_path, "  - {to: firstName, from: $.first_name}\n").traits_read() == frozenset()
    assert _mapping(tmp_path, "  - {to: customAttributes.t, type: STRING, from: $.traits}\n").traits_read() is None
    default = load_mapping(DEFAULT_MAPPING_PATH).traits_read()
    assert default is not None and "days_since_last_order" not in default
    assert {"order_count", "lifetime_value", "last_order_at", "rfm_segment"} <= default


def test_the_hash_covers_only_the_columns_read(con: Any) -> None:  # noqa: F811 - the fixture
    add_customer(con, 1)
    add_customer(con, 2)
    add_order(con, 1, "10.0000", created="2024-06-01 00:00:00+00")
    spec = load_spec(TRAITS_SQL)
    read = frozenset({"order_count", "lifetime_value", "last_order_at"})
    compute_traits(con, spec, as_of=AS_OF, hashed=read)
    today, today_traits = traits_hashes(con), traits_for(con)
    compute_traits(con, spec, as_of=AS_OF.replace(day=AS_OF.day - 3), hashed=read)
    # the day count moved, the columns read did not: the same hashes, all traits kept
    assert traits_for(con)[1]["days_since_last_order"] == today_traits[1]["days_since_last_order"] - 3
    assert traits_hashes(con) == today
    compute_traits(con, spec, as_of=AS_OF.replace(day=AS_OF.day - 3), hashed=read | {"days_since_last_order"})
    moved = traits_hashes(con)
    assert moved[1] != today[1]
    # hashed=None: every column, as before
    compute_traits(con, spec, as_of=AS_OF)
    everything = traits_hashes(con)
    compute_traits(con, spec, as_of=AS_OF.replace(day=AS_OF.day - 3))
    assert traits_hashes(con)[1] != everything[1]
    # a change of a column read changes the hash
    add_order(con, 1, "5.0000", created="2024-06-02 00:00:00+00")
    compute_traits(con, spec, as_of=AS_OF, hashed=read)
    assert traits_hashes(con)[1] != today[1] and traits_hashes(con)[2] == today[2]

