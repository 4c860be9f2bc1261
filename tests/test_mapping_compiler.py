"""Compiled JSONPaths and templates: fast paths give exactly jsonpath-ng's matches."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bc2people.pipelines.mapping.compiler import (
    PathSyntaxError,
    TemplateSyntaxError,
    compile_path,
    compile_template,
    jsonpath_ng_baseline,
)
from tests.fixtures_mapping import CUSTOMER

EXPRESSIONS = [
    "$.first_name", "first_name", "$.authentication.force_password_reset", "$.addresses[0].city",
    "$.addresses[-1].city", "$.addresses[5].city", "$.channel_ids[0]", "$.channel_ids[*]", "$.addresses[*].phone",
    "$.store_credit_amounts[*].amount", "$['first_name']", "$.form_fields[?(@.name=='newsletter')].value",
    "$.attributes[?(@.attribute_id==3)].attribute_value", "$.attributes[?(@.attribute_id=='3')].attribute_value",
    "$.missing.deeper[0]", "$.first_name.nope", "$.addresses.city", "$.*",
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_fast_path_matches_jsonpath_ng_on_a_realistic_customer(expr: str) -> None:
    compiled = compile_path(expr)
    assert compiled.mode.startswith("fast")
    assert compiled.all(CUSTOMER) == jsonpath_ng_baseline(expr)(CUSTOMER)


def test_functions_and_other_filters_go_through_jsonpath_ng() -> None:
    compiled = compile_path("$.store_credit_amounts[?(@.amount > 5)].amount")
    assert compiled.mode == "jsonpath"
    assert compiled.all(CUSTOMER) == [10.5]
    assert compiled.first(CUSTOMER) == 10.5
    assert compile_path("$.addresses[?(@.country_code=='XX')].city").first(CUSTOMER) is None


def test_first_skips_empty_matches_and_single_paths_return_none_when_absent() -> None:
    doc = {"a": [{"p": ""}, {"p": None}, {"p": "x"}], "b": None}
    assert compile_path("$.a[*].p").first(doc) == "x"
    assert compile_path("$.b").first(doc) is None
    assert compile_path("$.b").all(doc) == [None]  # present-but-null is a match, as in jsonpath-ng
    assert compile_path("$.c").all(doc) == []
    assert compile_path("$.a[0].p.q").first({"a": "string"}) is None


@pytest.mark.parametrize("bad", ["$.first_name[", "$..[?(", "$.a[?(@.b==)]", "", "   ", "$.a b"])
def test_unparsable_paths_raise_path_syntax_error(bad: str) -> None:
    with pytest.raises(PathSyntaxError):
        compile_path(bad)


def test_template_parts_context_paths_and_escaped_braces() -> None:
    t = compile_template("bc-{store_hash}-{$.id}-{{x}}-{first_name}", frozenset({"store_hash"}))
    kinds = [k for k, _ in t.parts]
    assert kinds == ["lit", "ctx", "lit", "path", "lit", "path"]
    assert t.parts[4] == ("lit", "-{x}-")
    assert t.placeholders == ("store_hash", "$.id", "first_name")


@pytest.mark.parametrize("bad", ["bc-{id", "bc-}", "plain", "bc-{}", "bc-{$.a[}"])
def test_bad_templates_raise(bad: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        compile_template(bad, frozenset({"store_hash"}))


# -- property: the fast walker agrees with jsonpath-ng on arbitrary JSON -----------------------
KEYS = st.sampled_from(["name", "value", "id", "a", "b"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, width=16),
                    st.sampled_from(["x", "newsletter", "", "1", "3"]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(KEYS, inner, max_size=4)), max_leaves=20)
STEP = st.one_of(
    KEYS.map(lambda k: f".{k}"),
    st.integers(-2, 3).map(lambda i: f"[{i}]"),
    st.just("[*]"),
    st.tuples(KEYS, st.sampled_from(["'x'", "'newsletter'", "1", "3", "true", "'3'"])).map(
        lambda kv: f"[?(@.{kv[0]}=={kv[1]})]"),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=JSON, steps=st.lists(STEP, min_size=1, max_size=4))
def test_fast_walker_equals_jsonpath_ng(doc: Any, steps: list[str]) -> None:
    expr = "$" + "".join(steps)
    compiled = compile_path(expr)
    assert compiled.mode != "jsonpath"
    assert compiled.all(doc) == jsonpath_ng_baseline(expr)(doc)
