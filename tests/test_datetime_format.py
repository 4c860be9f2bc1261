"""Issue 14 item 1: DATE_TIME values are written in the mapping's ``defaults.datetime_format``
(UTC with ``Z`` by default, or without a zone), validation accepts both forms, and the People
sandbox can play an account that requires either one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bc2people.destinations.people.client import PeopleClient
from bc2people.pipelines.mapping import Mapping, MappingError
from bc2people.sandbox.people import PeopleSandbox

FIELD = """
- to: customAttributes.seen_at
  type: DATE_TIME
  from: $.date_created
  transforms: [datetime]
"""
CUSTOMER = {"id": 7, "date_created": "2020-02-06T17:46:33Z"}


def _mapping(mapping_text: Callable[..., Mapping], fmt: str | None, fields: str = FIELD) -> Mapping:
    head = "version: 1\n" + (f"defaults: {{datetime_format: {fmt}}}\n" if fmt else "")
    body = head + "fields:\n  - to: externalId\n    template: 'bc-{store_hash}-{$.id}'\n"
    return mapping_text(body + "".join("  " + line + "\n" for line in fields.strip("\n").splitlines()), raw=True)


def _value(m: Mapping, customer: dict[str, Any]) -> Any:
    rec = m.map(customer, context={"store_hash": "s"})
    assert rec.rejection is None, rec.rejection
    return rec.payload["customAttributes"]["seen_at"]  # type: ignore[index]


def test_default_is_utc_with_z(mapping_text: Callable[..., Mapping]) -> None:
    m = _mapping(mapping_text, None)
    assert _value(m, CUSTOMER) == "2020-02-06T17:46:33Z"
    # any input form is converted to UTC first
    assert _value(m, {"id": 7, "date_created": "2020-02-06T19:46:33+02:00"}) == "2020-02-06T17:46:33Z"
    assert _value(m, {"id": 7, "date_created": "Thu, 06 Feb 2020 17:46:33 +0000"}) == "2020-02-06T17:46:33Z"


def test_utc_naive_setting(mapping_text: Callable[..., Mapping]) -> None:
    m = _mapping(mapping_text, "utc_naive")
    assert _value(m, CUSTOMER) == "2020-02-06T17:46:33"
    assert _value(m, {"id": 7, "date_created": "2020-02-06T19:46:33+02:00"}) == "2020-02-06T17:46:33"


def test_explicit_utc_z_setting_and_default_mapping(mapping_text: Callable[..., Mapping],
                                                   default_mapping: Mapping, customer: dict[str, Any]) -> None:
    assert _value(_mapping(mapping_text, "utc_z"), CUSTOMER) == "2020-02-06T17:46:33Z"
    rec = default_mapping.map(customer, context={"store_hash": "s"})
    assert rec.payload is not None
    assert rec.payload["customAttributes"]["bc_date_created"].endswith("Z")


def test_unknown_setting_is_a_mapping_error(mapping_text: Callable[..., Mapping]) -> None:
    with pytest.raises(MappingError) as err:
        _mapping(mapping_text, "local")
    assert "defaults.datetime_format" in str(err.value) and "utc_naive" in str(err.value)


@pytest.mark.parametrize("value", ["2024-01-02T03:04:05Z", "2024-01-02T03:04:05"])
def test_validation_accepts_both_forms(mapping_text: Callable[..., Mapping], value: str) -> None:
    # a constant or a default in either form passes `mapping check` (the Z form used to be refused)
    m = _mapping(mapping_text, None, f"- to: customAttributes.seen_at\n  type: DATE_TIME\n  value: '{value}'\n")
    assert m.map({"id": 1}, context={"store_hash": "s"}).payload["customAttributes"]["seen_at"] == value  # type: ignore[index]
    m2 = _mapping(mapping_text, None, "- to: customAttributes.seen_at\n  type: DATE_TIME\n  from: $.nothing\n"
                                      f"  default: '{value}'\n")
    assert m2.map({"id": 1}, context={"store_hash": "s"}).payload["customAttributes"]["seen_at"] == value  # type: ignore[index]


@pytest.mark.parametrize("value", ["2024-01-02T03:04:05+02:00", "2024-02-30T00:00:00Z", "2024-01-02 03:04:05"])
def test_validation_still_refuses_other_forms(mapping_text: Callable[..., Mapping], value: str) -> None:
    with pytest.raises(MappingError):
        _mapping(mapping_text, None, f"- to: customAttributes.seen_at\n  type: DATE_TIME\n  value: '{value}'\n")


@pytest.mark.parametrize(
    ("mode", "z_ok", "naive_ok"),
    [("any", True, True), ("utc_z", True, False), ("naive", False, True)],
)
def test_sandbox_requires_the_configured_form(people_sandbox: PeopleSandbox, people_client: PeopleClient,
                                              mode: str, z_ok: bool, naive_ok: bool) -> None:
    people_sandbox.define_custom_attribute("seen_at", "DATE_TIME")
    people_sandbox.datetime_format = mode
    out = people_client.upsert([
        {"externalId": "z", "customAttributes": {"seen_at": "2024-01-02T03:04:05Z"}},
        {"externalId": "n", "customAttributes": {"seen_at": "2024-01-02T03:04:05"}},
    ])
    assert [o.accepted for o in out] == [z_ok, naive_ok]
    refused = [o for o in out if not o.accepted]
    assert all(o.error_code == "400100" and "seen_at" in (o.error_message or "") for o in refused)


def test_sandbox_mode_over_admin_api_and_reset(people_sandbox: PeopleSandbox) -> None:
    import requests

    assert PeopleSandbox().datetime_format == "any"
    r = requests.post(people_sandbox.base_url + "/__sandbox__/datetime-format", json={"value": "utc_z"}, timeout=5)
    assert r.status_code == 200 and people_sandbox.datetime_format == "utc_z"
    bad = requests.post(people_sandbox.base_url + "/__sandbox__/datetime-format", json={"value": "x"}, timeout=5)
    assert bad.status_code == 400 and people_sandbox.datetime_format == "utc_z"
    people_sandbox.reset()
    assert people_sandbox.datetime_format == "any"


@pytest.mark.parametrize(("fmt", "mode"), [(None, "utc_z"), ("utc_naive", "naive")])
def test_mapped_values_pass_a_sandbox_requiring_that_form(mapping_text: Callable[..., Mapping],
                                                          people_sandbox: PeopleSandbox, people_client: PeopleClient,
                                                          fmt: str | None, mode: str) -> None:
    people_sandbox.define_custom_attribute("seen_at", "DATE_TIME")
    people_sandbox.datetime_format = mode
    rec = _mapping(mapping_text, fmt).map(CUSTOMER, context={"store_hash": "s"})
    (out,) = people_client.upsert([rec.payload])  # type: ignore[list-item]
    assert out.accepted, out.error_message
    stored = people_sandbox.person_by_external_id("bc-s-7")
    assert stored is not None and stored["customAttributes"]["seen_at"] == rec.payload["customAttributes"]["seen_at"]  # type: ignore[index]
