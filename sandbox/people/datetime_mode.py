"""What form of DATE_TIME custom attribute value the sandbox accepts (``PeopleSandbox.datetime_format``).

People's documentation does not state the DATE_TIME wire format: Infobip's own SDK sends UTC
``2020-02-06T17:46:33Z`` while People's timestamps read ``2020-02-06T17:46:33``. The sandbox can
play an account that accepts both (``any``, the default), only the ``Z`` form (``utc_z``) or only
the zone-less form (``naive``); a value in the refused form is a per-person 400100 detail, like
any other invalid value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bc2people.sandbox.people.validation import AttributeDef

MODES = ("any", "utc_z", "naive")


def check_mode(mode: Any) -> str:
    """``mode`` when it is one of `MODES`, else ValueError."""
    if mode not in MODES:
        raise ValueError(f"datetime format must be one of {', '.join(MODES)}")
    return str(mode)


def datetime_details(person: dict[str, Any], index: int, attributes: Mapping[str, AttributeDef],
                     mode: str) -> list[dict[str, str]]:
    """Error details for DATE_TIME values of a validated ``person`` in the form ``mode`` refuses."""
    if mode == "any":
        return []
    details = []
    for name, value in (person.get("customAttributes") or {}).items():
        definition = attributes.get(name.lower())
        if definition is None or definition.data_type != "DATE_TIME" or not isinstance(value, str):
            continue
        zoned = value.endswith("Z") or "+" in value[19:] or "-" in value[19:]
        if mode == "utc_z" and not value.endswith("Z"):
            details.append({"property": f"persons[{index}].customAttributes.{name}",
                            "message": "Value must be a UTC date-time like YYYY-MM-DDTHH:MM:SSZ (DATE_TIME)"})
        elif mode == "naive" and zoned:
            details.append({"property": f"persons[{index}].customAttributes.{name}",
                            "message": "Value must be a date-time like YYYY-MM-DDTHH:MM:SS without a zone (DATE_TIME)"})
    return details
