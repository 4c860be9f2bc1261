"""Loading a mapping: every error found at once, located by file:line:col, never a traceback."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bc2people.destinations.people.rules import CUSTOM_ATTRIBUTE_TYPES, TARGETS
from bc2people.pipelines.mapping import Issue, Mapping, MappingError, load_mapping, load_mapping_bytes
from bc2people.pipelines.mapping.transforms import FACTORIES
from tests.fixtures_mapping import DEFAULT_MAPPING_PATH, REPO, write_mapping

HEAD = "version: 1\nfields:\n  - to: externalId\n    template: 'bc-{store_hash}-{$.id}'\n"


def errors_of(text: str, name: str = "m.yaml") -> list[Issue]:
    with pytest.raises(MappingError) as info:
        load_mapping_bytes(text.encode(), name)
    return info.value.issues


def only_error(text: str) -> Issue:
    issues = errors_of(text)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


def test_default_mapping_loads_with_its_declared_parts(default_mapping: Mapping) -> None:
    m = default_mapping
    assert m.version == 1
    sql = DEFAULT_MAPPING_PATH.with_name("customer_traits.sql").read_bytes()  # the traits SQL is part of it
    assert m.sha256 == hashlib.sha256(DEFAULT_MAPPING_PATH.read_bytes() + b"\0traits\0" + sql).hexdigest()
    assert m.path == str(DEFAULT_MAPPING_PATH)
    assert m.custom_attributes["bc_customer_group_id"] == "INTEGER"
    assert m.custom_attributes["bc_store_credit"] == "DECIMAL"
    assert m.custom_attributes["bc_date_created"] == "DATE_TIME"
    assert set(m.custom_attributes.values()) <= set(CUSTOM_ATTRIBUTE_TYPES)
    assert m.fixed_tags == ["bigcommerce"]
    assert m.on_deleted == {"action": "tag", "tag": "bc-deleted"}
    assert {"externalId", "firstName", "lastName", "email", "phone", "address", "city", "country", "tags"} <= set(m.targets)


def test_all_errors_at_once_in_file_order_with_positions() -> None:
    text = (
        "version: 1\n"                                   # 1
        "fields:\n"                                      # 2
        "  - to: firstNme\n"                             # 3
        "    from: $.first_name\n"                       # 4
        "  - to: lastName\n"                             # 5
        "    from: $.last_name[\n"                       # 6
        "  - to: customAttributes.group\n"               # 7
        "    from: $.customer_group_id\n"                # 8
        "  - to: city\n"                                 # 9
        "    from: $.addresses[0].city\n"                # 10
        "    transforms: [trim, shout, {truncate: 0}]\n" # 11
    )
    issues = errors_of(text)
    where = [(i.line, i.column, i.field) for i in issues]
    assert where == [
        (3, 3, "externalId"),  # points at the fields list
        (3, 9, "firstNme"),
        (6, 11, "lastName"),
        (7, 9, "customAttributes.group"),
        (11, 24, "city"),
        (11, 31, "city"),
    ]
    messages = " | ".join(i.message for i in issues)
    assert "no field maps externalId" in messages
    assert "unknown People field 'firstNme'" in messages and issues[1].hint.startswith("did you mean 'firstName'?")
    assert "does not parse" in messages
    assert "custom attribute has no type" in messages
    assert "unknown transform 'shout'" in messages
    assert "truncate takes a positive whole number" in messages


def test_str_prints_one_issue_per_line_file_line_col_field_message_hint() -> None:
    with pytest.raises(MappingError) as info:
        load_mapping_bytes((HEAD + "  - to: nickname\n    from: $.x\n").encode(), "maps/x.yaml")
    text = str(info.value)
    assert text.splitlines() == [
        "maps/x.yaml:5:9: nickname: unknown People field 'nickname' (did you mean 'nickName'? targets: "
        + ", ".join(TARGETS) + ", customAttributes.<name>)"
    ]
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"),
    [
        ("version: 1\nfields: [\n", 3, 1, "YAML syntax error"),
        ("version: 1\nfields:\n  - to: x\n   from: y\n", 4, 4, "YAML syntax error"),
        ("version: 1\nfields:\n\t- to: x\n", 3, 1, "YAML syntax error"),
    ],
)
def test_yaml_syntax_errors_are_located(text: str, line: int, col: int, fragment: str) -> None:
    issue = only_error(text)
    assert (issue.line, issue.column) == (line, col)
    assert fragment in issue.message and issue.field == "yaml"


@pytest.mark.parametrize(
    ("fields", "fragment", "field"),
    [
        ("- to: firstName\n  from: $.a\n- to: firstName\n  from: $.b\n", "firstName is mapped more than once", "firstName"),
        ("- to: customAttributes.X\n  type: STRING\n  from: $.a\n- to: customAttributes.x\n  type: STRING\n  from: $.b\n",
         "mapped more than once", "customAttributes.x"),
        ("- to: customAttributes.n\n  type: NUMBER\n  from: $.a\n", "unknown People data type 'NUMBER'", "customAttributes.n"),
        ("- to: customAttributes.n\n  type: integer\n  from: $.a\n", "unknown People data type 'integer'", "customAttributes.n"),
        ("- to: customAttributes.a{b}\n  type: STRING\n  from: $.a\n", "invalid custom attribute name", "customAttributes.a{b}"),
        ("- to: customAttributes.d\n  type: DATE\n  from: $.date_created\n  transforms: [datetime]\n",
         "DATE attribute cannot hold a datetime value", "customAttributes.d"),
        ("- to: customAttributes.n\n  type: INTEGER\n  from: $.a\n  transforms: [{cast: boolean}]\n",
         "INTEGER attribute cannot hold a bool value", "customAttributes.n"),
        ("- to: customAttributes.n\n  type: INTEGER\n  value: lots\n", "value 'lots'", "customAttributes.n"),
        ("- to: customAttributes.n\n  type: INTEGER\n  from: $.a\n  default: many\n", "default 'many'", "customAttributes.n"),
        ("- to: birthDate\n  from: $.a\n  transforms: [datetime]\n", "is a date (YYYY-MM-DD), not a date-time", "birthDate"),
        ("- to: gender\n  value: OTHER\n", "must be one of MALE, FEMALE", "gender"),
        ("- to: firstName\n  from: $.a\n  template: '{$.b}'\n", "has both from and template", "firstName"),
        ("- to: firstName\n", "needs exactly one of", "firstName"),
        ("- from: $.a\n", "missing `to:`", "fields[1]"),
        ("- to: firstName\n  form: $.a\n  from: $.b\n", "unknown option 'form'", "firstName"),
        ("- to: firstName\n  from: $.a\n  take: last\n", "unknown take 'last'", "firstName"),
        ("- to: firstName\n  from: $.a[*]\n  take: all\n", "take: all gives a list", "firstName"),
        ("- to: firstName\n  from: $.a\n  transforms: [sum]\n", "works on a list of matches", "firstName"),
        ("- to: firstName\n  value: x\n  take: all\n", "take applies only to `from:`", "firstName"),
        ("- to: tags\n  template: 'no placeholder'\n", "needs at least one {placeholder}", "tags"),
        ("- to: tags\n  template: 'group-{$.a'\n", "unbalanced", "tags"),
        ("- to: tags\n  value: x\n  when: {from: $.a}\n", "bad when", "tags"),
        ("- to: tags\n  value: x\n  when: $.a[\n", "bad when", "tags"),
        ("- to: email\n  from: $.a\n  on_invalid: ignore\n", "unknown on_invalid 'ignore'", "email"),
        ("- to: email\n  from: $.a\n  on_empty: clear\n", "on_empty: clear is not possible for email", "email"),
        ("- to: firstName\n  from: $.a\n  primary: true\n", "primary: true is only for email and phone", "firstName"),
        ("- to: email\n  from: $.a\n  primary: true\n- to: email\n  from: $.b\n  primary: true\n",
         "more than one email field is primary", "email"),
        ("- to: firstName\n  from: $.a\n  type: STRING\n", "`type:` is only for customAttributes", "firstName"),
        ("- to: firstName\n  from: $.a\n  transforms: trim\n", "transforms must be a list", "firstName"),
        ("- to: firstName\n  from: $.a\n  transforms: [{trim: 1, lower: 2}]\n", "a transform is a name or a one-key", "firstName"),
        ("- to: phone\n  from: $.a\n  transforms: [{phone_e164: XX}]\n", "unknown phone region 'XX'", "phone"),
        ("- to: firstName\n  value: [a, b]\n", "value must be a single", "firstName"),
        ("- to: tags\n  value: 'a'\n  default: [x]\n", "default ['x'] must be a single value", "tags"),
        ("- to: firstName\n  value: 'A & B'\n", "forbids in names", "firstName"),
        ("- to: firstName\n  from: []\n", "from: is an empty list", "firstName"),
        ("- to: firstName\n  from: [$.a, 3]\n", "is not a JSONPath", "firstName"),
        ("- to: city\n  from: $.a\n  transforms: [{truncate: 80}]\n", "over the People limit of 50", "city"),
        ("- 'just text'\n", "each field must be a mapping", "fields[1]"),
    ],
)
def test_each_field_error(fields: str, fragment: str, field: str) -> None:
    body = "\n".join("  " + line for line in fields.splitlines()) + "\n"
    issues = errors_of(HEAD + body)
    assert any(fragment in i.message and i.field == field for i in issues), [str(i) for i in issues]
    assert all(i.line >= 3 and i.column >= 1 for i in issues)


@pytest.mark.parametrize(
    ("text", "fragment", "field"),
    [
        ("version: 2\nfields: []\n", "unsupported version 2", "version"),
        ("version: true\nfields:\n  - to: externalId\n    value: x\n", "unsupported version True", "version"),
        ("fields:\n  - to: externalId\n    value: x\n", "missing version", "version"),
        ("version: 1\n", "missing or empty `fields:`", "fields"),
        ("version: 1\nfields:\n  - to: externalId\n    value: x\nextra: 1\n", "unknown top-level key 'extra'", "extra"),
        ("version: 1\ndefaults: {region: US}\nfields:\n  - to: externalId\n    value: x\n", "unknown default 'region'",
         "defaults.region"),
        ("version: 1\non_deleted: archive\nfields:\n  - to: externalId\n    value: x\n", "unknown action 'archive'", "on_deleted"),
        ("version: 1\non_deleted: {tag: ''}\nfields:\n  - to: externalId\n    value: x\n", "needs a tag name", "on_deleted"),
        ("version: 1\nversion: 1\nfields:\n  - to: externalId\n    value: x\n", "key 'version' is written twice", "version"),
        ("- just a list\n", "a mapping file is a YAML mapping", "file"),
        ("", "the mapping file is empty", "file"),
    ],
)
def test_file_level_errors(text: str, fragment: str, field: str) -> None:
    issues = errors_of(text)
    assert any(fragment in i.message and i.field == field for i in issues), [str(i) for i in issues]


def test_duplicate_yaml_key_inside_a_field_is_located() -> None:
    issues = errors_of(HEAD + "  - to: firstName\n    from: $.a\n    from: $.b\n")
    assert [(i.line, i.column, i.message) for i in issues] == [
        (7, 5, "key 'from' is written twice here")
    ]


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("version: 1 # caf\xe9\n".encode("latin-1"))
    with pytest.raises(MappingError, match="not UTF-8"):
        load_mapping(bad)


def test_on_deleted_forms(mapping_text: Callable[..., Mapping]) -> None:
    base = "fields:\n  - to: externalId\n    template: 'x-{$.id}'\n"
    assert mapping_text("version: 1\n" + base, raw=True).on_deleted == {"action": "none", "tag": None}
    assert mapping_text("version: 1\non_deleted: delete\n" + base, raw=True).on_deleted == {"action": "delete", "tag": None}
    assert mapping_text("version: 1\non_deleted: none\n" + base, raw=True).on_deleted == {"action": "none", "tag": None}
    assert mapping_text("version: 1\non_deleted: {action: tag, tag: gone}\n" + base, raw=True).on_deleted == {
        "action": "tag", "tag": "gone"}


def test_fixed_tags_are_constant_tags_without_condition(mapping_text: Callable[..., Mapping]) -> None:
    m = mapping_text(
        "- to: tags\n  value: vip\n- to: tags\n  value: cond\n  when: $.x\n"
        "- to: tags\n  template: 'g-{$.g}'\n- to: tags\n  value: ' Shop '\n  transforms: [trim, lower]\n"
    )
    assert m.fixed_tags == ["vip", "shop"]


def test_sha256_is_of_the_file_bytes(tmp_path: Path) -> None:
    text = "version: 1\nfields:\n  - to: externalId\n    template: 'x-{$.id}'\n"
    a = load_mapping(write_mapping(tmp_path, text, "a.yaml"))
    b = load_mapping(write_mapping(tmp_path, text + "# a comment changes the hash\n", "b.yaml"))
    assert a.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert a.sha256 != b.sha256


def test_schema_is_valid_and_accepts_the_default_mapping() -> None:
    schema = json.loads((REPO / "mappings" / "mapping.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(DEFAULT_MAPPING_PATH.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": 1, "fields": [{"to": "firstNme", "from": "$.a"}]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": 1, "fields": [{"to": "customAttributes.x", "from": "$.a"}]}, schema)


def test_schema_lists_exactly_the_engine_targets_and_transforms() -> None:
    schema = json.loads((REPO / "mappings" / "mapping.schema.json").read_text())
    field = schema["definitions"]["field"]["properties"]
    assert set(field["to"]["anyOf"][0]["enum"]) == set(TARGETS)
    items = field["transforms"]["items"]["anyOf"]
    named = set(items[0]["enum"]) | {next(iter(i["properties"])) for i in items[1:]}
    assert named == set(FACTORIES)
    assert field["type"]["enum"] == list(CUSTOM_ATTRIBUTE_TYPES)


def test_self_referencing_alias_is_an_error_not_a_crash() -> None:
    issues = errors_of("version: 1\nfields: &f\n  - to: externalId\n    value: x\n  - *f\n")
    assert any("alias refers to itself" in i.message for i in issues)


YAMLISH = st.lists(st.sampled_from(list("ab:-[]{}&*!|>'\"#\n  $.?@=()01") + [
    "to: ", "from: ", "fields:\n", "version: 1\n", "externalId", "transforms: ", "\n  - ", "template: "]),
    max_size=40).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(YAMLISH, YAMLISH.map(lambda t: HEAD + t)))
def test_any_text_loads_or_raises_mapping_error(text: str) -> None:
    try:
        load_mapping_bytes(text.encode("utf-8", "surrogatepass"), "fuzz.yaml")
    except MappingError as exc:
        assert exc.issues and all(i.file == "fuzz.yaml" and i.message for i in exc.issues)


ANY_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.sampled_from(
        ["$.a", "$.a[0].b", "x", "", "bc-{store_hash}-{$.id}", "{", "trim", "STRING", "INTEGER", "DATE", "all",
         "required", "drop", "clear", "US", "$.f[?(@.n=='x')].v", "customAttributes.x", "tags", "email", "phone"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["map", "default", "region", "plus", "from", "equals", "in", "trim", "truncate", "lookup", "cast", "join"]),
        inner, max_size=2)),
    max_leaves=6,
)
FIELD = st.dictionaries(st.sampled_from(sorted(["to", "from", "template", "value", "take", "default", "transforms",
                                                "when", "on_invalid", "on_empty", "type", "primary", "bogus"])),
                        ANY_VALUE, max_size=6)
TARGET = st.sampled_from(["firstName", "tags", "email", "phone", "customAttributes.x", "birthDate", "gender", "nope"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.lists(st.tuples(TARGET, FIELD), max_size=4))
def test_any_field_structure_loads_or_raises_mapping_error(fields: list[tuple[str, dict]]) -> None:
    doc = {"version": 1, "fields": [{"to": "externalId", "template": "x-{$.id}"}]
           + [{**f, "to": f.get("to", t) if isinstance(f.get("to"), str) else t} for t, f in fields]}
    try:
        m = load_mapping_bytes(yaml.safe_dump(doc).encode(), "fuzz.yaml")
    except MappingError as exc:
        assert exc.issues
        return
    rec = m.map({"id": 1, "a": [{"b": 1}], "f": [{"n": "x", "v": "yes"}]}, {"store_hash": "s"})
    assert rec.payload is not None or rec.rejection
