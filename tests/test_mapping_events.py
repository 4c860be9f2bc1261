"""The mapping's `events` section: checked with file:line, covered by the JSON Schema and `mapping check`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from bc2people.pipelines.cli import main as cli_main
from bc2people.pipelines.mapping import MappingError, load_mapping_bytes
from bc2people.pipelines.mapping.events import PropertyError, convert

REPO = Path(__file__).resolve().parents[1]
HEAD = "version: 1\nfields:\n  - to: externalId\n    template: 'x-{$.id}'\n"


def issues(text: str) -> list[str]:
    with pytest.raises(MappingError) as err:
        load_mapping_bytes((HEAD + text).encode(), "m.yaml")
    return [str(i) for i in err.value.issues]


def test_each_mistake_in_an_event_is_reported_at_its_line() -> None:
    found = issues(
        "events:\n"
        "  definitions:\n"
        "    - name: Order-Placed\n"            # line 7: not alphanumeric
        "      trigger: order_placed\n"
        "    - name: Shipped\n"
        "      on: order_status_changed\n"      # line 10: YAML reads `on` as true
        "    - name: Abandoned\n"
        "      trigger: cart_abandoned\n"       # line 12: comes with the real-time lane
        "    - name: Refunded\n"
        "      trigger: order_refunded\n"
        "      properties:\n"
        "        amount: {type: decimal, from: $.refunded_amount}\n"  # line 16: types are case-sensitive
        "        Bad: {type: String, from: $.id}\n"                     # line 17: must start lower-case
    )
    text = "\n".join(found)
    assert "m.yaml:7:" in text and "1 to 36 letters or digits" in text
    assert "m.yaml:9:" in text and "not `on:`" in text
    assert "m.yaml:12:" in text and "real-time lane" in text
    assert "m.yaml:16:" in text and "type must be one of" in text
    assert "m.yaml:17:" in text and "'Bad' is not allowed" in text


def test_the_default_mapping_passes_the_schema_and_mapping_check_lists_its_events(capsys: pytest.CaptureFixture[str]) -> None:
    path = REPO / "mappings" / "customers_to_people.yaml"
    schema = json.loads((REPO / "mappings" / "mapping.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    bad = yaml.safe_load(path.read_text())
    bad["events"]["definitions"][0]["properties"]["total"]["type"] = "Money"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    assert cli_main(["mapping", "check", "--mapping", str(path)]) == 0
    out = capsys.readouterr().out
    for name in ("OrderPlaced", "OrderStatusChanged", "OrderRefunded", "OrderCancelled", "CartConverted"):
        assert name in out


@pytest.mark.parametrize(("value", "ptype", "expected"), [
    ("12.5000", "Decimal", 12.5), ("3", "Numeric", 3), (True, "String", "true"), ("yes", "Boolean", True),
    ("2026-01-02T03:04:05Z", "DateTime", "2026-01-02T03:04:05.000Z"),
    ("Wed, 10 Jan 2018 21:05:30 +0000", "DateTime", "2018-01-10T21:05:30.000Z"), (None, "Decimal", None),
])
def test_values_are_converted_to_the_property_type(value: object, ptype: str, expected: object) -> None:
    assert convert(value, ptype) == expected


@pytest.mark.parametrize(("value", "ptype"), [("abc", "Decimal"), ("2.5", "Numeric"), ("maybe", "Boolean"),
                                              ({"a": 1}, "String")])
def test_a_value_that_does_not_fit_is_refused_with_the_reason(value: object, ptype: str) -> None:
    with pytest.raises(PropertyError, match=ptype):
        convert(value, ptype, "prop")
