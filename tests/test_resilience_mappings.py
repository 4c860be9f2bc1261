"""Broken mapping files, every kind of mistake: each gets a ``file:line:col`` error, never a traceback.

The table is generated into tmp files (one YAML per case) so a case reads next to the line
it must be reported at. ``line`` is the 1-based line of the mistake in the case's text.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from bc2people.pipelines.mapping import MappingError, load_mapping
from tests.fixtures_resilience import make_world
from tests.fixtures_sync import BC2PEOPLE, REPO, base_env

HEAD = 'version: 1\nfields:\n  - to: externalId\n    template: "bc-{store_hash}-{$.id}"\n'  # lines 1-4
BODY = HEAD[len("version: 1\n"):]  # HEAD without its version line (3 lines)

# name -> (YAML text, line of the mistake, text the message must contain)
BROKEN: dict[str, tuple[str, int, str]] = {
    "yaml_unclosed_list": (HEAD + "  - to: firstName\n    from: [$.first_name\n", 7, "YAML syntax error"),
    "yaml_tab_indent": (HEAD + "  - to: firstName\n\tfrom: $.first_name\n", 6, "YAML syntax error"),
    "yaml_duplicate_key": (HEAD + "  - to: firstName\n    from: $.first_name\n    from: $.last_name\n", 7,
                           "written twice"),
    "empty_file": ("", 1, "empty"),
    "not_a_mapping": ("- just\n- a list\n", 1, "YAML mapping"),
    "no_version": ('fields:\n  - to: externalId\n    template: "bc-{$.id}"\n', 1, "missing version"),
    "unsupported_version": ('version: 7\nfields:\n  - to: externalId\n    template: "bc-{$.id}"\n', 1,
                            "unsupported version 7"),
    "version_not_a_number": ('version: "one"\nfields:\n  - to: externalId\n    template: "x-{$.id}"\n', 1,
                             "unsupported version"),
    "unknown_top_level_key": (HEAD + "extras: 1\n", 5, "unknown top-level key 'extras'"),
    "fields_not_a_list": ("version: 1\nfields: {to: externalId}\n", 2, "fields"),
    "no_external_id": ("version: 1\nfields:\n  - to: firstName\n    from: $.first_name\n", 3, "externalId"),
    "external_id_twice": (HEAD + "  - to: externalId\n    from: $.email\n", 5, "more than once"),
    "field_not_a_mapping": (HEAD + "  - firstName\n", 5, "must be a mapping"),
    "field_without_to": (HEAD + "  - from: $.first_name\n", 5, "missing `to:`"),
    "unknown_target_typo": (HEAD + "  - to: fristName\n    from: $.first_name\n", 5, "did you mean 'firstName'"),
    "unknown_option_typo": (HEAD + "  - to: firstName\n    form: $.first_name\n", 5, "form"),
    "no_source": (HEAD + "  - to: firstName\n    transforms: [trim]\n", 5, "exactly one of"),
    "two_sources": (HEAD + "  - to: firstName\n    from: $.first_name\n    value: Bob\n", 5, "keep one"),
    "jsonpath_unclosed_bracket": (HEAD + "  - to: firstName\n    from: $.first_name[\n", 6, "does not parse"),
    "jsonpath_bad_filter": (HEAD + "  - to: city\n    from: \"$.form_fields[?(@.name=='x'].value\"\n", 6,
                            "does not parse"),
    "jsonpath_empty": (HEAD + "  - to: firstName\n    from: \"\"\n", 6, "empty JSONPath"),
    "template_unbalanced": (HEAD + "  - to: lastName\n    template: \"x-{$.last_name\"\n", 6, "unbalanced"),
    "unknown_transform": (HEAD + "  - to: firstName\n    from: $.first_name\n    transforms: [uppercase]\n", 7,
                          "unknown transform 'uppercase'"),
    "transforms_not_a_list": (HEAD + "  - to: firstName\n    from: $.first_name\n    transforms: trim\n", 7,
                              "must be a list"),
    "truncate_negative": (HEAD + "  - to: firstName\n    from: $.first_name\n    transforms: [{truncate: -3}]\n", 7,
                          "positive whole number"),
    "cast_unknown_type": (HEAD + "  - to: firstName\n    from: $.first_name\n    transforms: [{cast: float128}]\n",
                          7, "float128"),
    "date_format_not_text": (HEAD + "  - to: birthDate\n    from: $.date_created\n"
                             "    transforms: [{date: {input: 7}}]\n", 7, "strftime"),
    "lookup_without_map": (HEAD + "  - to: gender\n    from: $.notes\n    transforms: [{lookup: [1, 2]}]\n", 7,
                           "lookup needs a map"),
    "email_with_argument": (HEAD + "  - to: email\n    from: $.email\n    transforms: [{email: strict}]\n", 7,
                            "email takes no argument"),
    "phone_region_unknown": ("version: 1\ndefaults:\n  phone_region: Narnia\n" + BODY
                             + "  - to: phone\n    from: $.phone\n    transforms: [phone_e164]\n", 9,
                             "unknown phone region 'Narnia'"),
    "unknown_default": ("version: 1\ndefaults:\n  timezone: UTC\n" + BODY, 3, "unknown default 'timezone'"),
    "custom_attribute_without_type": (HEAD + "  - to: customAttributes.bc_x\n    from: $.company\n", 5, "no type"),
    "custom_attribute_unknown_type": (HEAD + "  - to: customAttributes.bc_x\n    type: TEXT\n    from: $.company\n",
                                      6, "unknown People data type 'TEXT'"),
    "custom_attribute_type_mismatch": (HEAD + "  - to: customAttributes.bc_x\n    type: DATE\n"
                                       "    from: $.date_created\n    transforms: [datetime]\n", 8,
                                       "cannot hold a datetime"),
    "custom_attribute_name_braces": (HEAD + "  - to: \"customAttributes.bad{name}\"\n    type: STRING\n"
                                     "    from: $.company\n", 5, "invalid custom attribute name"),
    "custom_attribute_name_too_long": (HEAD + "  - to: customAttributes." + "a" * 300 + "\n    type: STRING\n"
                                       "    from: $.company\n", 5, "invalid custom attribute name"),
    "constant_not_an_integer": (HEAD + "  - to: customAttributes.bc_n\n    type: INTEGER\n    value: lots\n", 7,
                                "whole number"),
    "type_on_a_standard_field": (HEAD + "  - to: firstName\n    type: STRING\n    from: $.first_name\n", 6,
                                 "only for customAttributes"),
    "single_target_twice": (HEAD + "  - to: firstName\n    from: $.first_name\n  - to: firstName\n"
                            "    from: $.last_name\n", 7, "more than once"),
    "take_unknown": (HEAD + "  - to: firstName\n    from: $.first_name\n    take: some\n", 7, "unknown take 'some'"),
    "take_all_into_single_value": (HEAD + "  - to: firstName\n    from: $.addresses[*].first_name\n    take: all\n",
                                   7, "gives a list"),
    "on_invalid_unknown": (HEAD + "  - to: email\n    from: $.email\n    on_invalid: ignore\n", 7,
                           "unknown on_invalid 'ignore'"),
    "on_empty_unknown": (HEAD + "  - to: firstName\n    from: $.first_name\n    on_empty: nothing\n", 7,
                         "unknown on_empty 'nothing'"),
    "when_bad_jsonpath": (HEAD + "  - to: tags\n    value: vip\n    when: $.customer_group_id[\n", 7, "bad when"),
    "when_bad_shape": (HEAD + "  - to: tags\n    value: vip\n    when: {from: $.customer_group_id, like: 3}\n", 7,
                       "bad when"),
    "tag_value_not_text": (HEAD + "  - to: tags\n    value: {a: 1}\n", 6, "single text"),
    "gender_constant_out_of_enum": (HEAD + "  - to: gender\n    value: ROBOT\n", 6, "MALE, FEMALE"),
    "person_type_out_of_enum": (HEAD + "  - to: type\n    value: ROBOT\n", 6, "CUSTOMER, LEAD"),
    "birth_date_constant_format": (HEAD + "  - to: birthDate\n    value: 31/12/2000\n", 6, "YYYY-MM-DD"),
    "primary_on_a_name": (HEAD + "  - to: firstName\n    from: $.first_name\n    primary: true\n", 7,
                          "only for email and phone"),
    # `primary: maybe` on an email field: the value is wrong, not the field kind
    "primary_not_a_boolean": (HEAD + "  - to: email\n    from: $.email\n    primary: maybe\n", 7, "true or false"),
    "on_deleted_unknown_action": (HEAD + "on_deleted: explode\n", 5, "unknown action 'explode'"),
    "on_deleted_empty_tag": (HEAD + "on_deleted: {tag: \"\"}\n", 5, "needs a tag name"),
}


def _write(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(BROKEN[name][0], encoding="utf-8")
    return path


def test_the_table_covers_at_least_25_kinds_of_mistake() -> None:
    assert len(BROKEN) >= 25


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_mapping_is_reported_at_its_file_and_line(tmp_path: Path, name: str) -> None:
    _, line, needle = BROKEN[name]
    path = _write(tmp_path, name)
    with pytest.raises(MappingError) as info:
        load_mapping(str(path))
    issues = info.value.issues
    assert issues, name
    for issue in issues:
        assert issue.file == str(path) and issue.line >= 1 and issue.column >= 1, issue
    text = str(info.value)
    located = re.compile(rf"^{re.escape(str(path))}:\d+:\d+: \S")
    assert all(located.match(ln) for ln in text.splitlines()), text
    assert any(i.line == line for i in issues), f"expected an error at line {line}:\n{text}"
    assert needle.lower() in text.lower(), f"{needle!r} not in:\n{text}"
    assert "Traceback" not in text


@pytest.mark.parametrize("name", ["yaml_tab_indent", "unknown_target_typo", "custom_attribute_type_mismatch"])
def test_mapping_check_cli_prints_file_line_and_exits_2(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, name)
    proc = subprocess.run([*BC2PEOPLE, "mapping", "check", "--mapping", str(path)], cwd=REPO, env=base_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc
    assert f"{path}:{BROKEN[name][1]}:" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_sync_with_a_broken_mapping_exits_2_before_any_request(tmp_path: Path) -> None:
    path = _write(tmp_path, "jsonpath_bad_filter")
    world = make_world(tmp_path)
    with world.bc, world.people:
        out = world.cli("sync", "--mapping", str(path), "--duckdb", str(world.duckdb), "--no-progress")
        assert out.returncode == 2, out
        assert f"{path}:6:" in out.stderr and "Traceback" not in out.stderr
        assert not world.bc.requests_served and not world.people.requests_served
        assert not world.duckdb.exists()  # no run recorded: the mapping never became a run
