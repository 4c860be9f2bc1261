"""People sandbox responses checked against Infobip's official OpenAPI document.

The document (OpenAPI 3.1, ../shared/specs/infobip/infobip-people-openapi.json) is read in
place, never copied. openapi-core loads the whole document and validates real HTTP responses.

Three known defects of the document itself, where its schemas contradict its own examples
(and the examples are what the API sends):

1. the upsert 207 schema declares ``errors`` and ``results`` as single objects, while every
   example (and the description "results by index") has arrays;
2. ``ErrorCodeV3`` is a string enum, while every example sends numbers (``"code": 400100``);
3. ``customAttributes`` values are declared ``type: object``, while every example holds
   strings, numbers or lists (``"Company": "Acme"``).

Where openapi-core complains, the test asserts its complaints are exactly these defects, then
validates the body against the document's own component schemas with the defects corrected
(openapi-schema-validator, OAS 3.1 dialect), and checks the correction accepts the document's
own examples. The upsert 400 has examples but no schema: bodies are compared with the examples.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import requests

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SPEC_PATH = SHARED / "specs" / "infobip" / "infobip-people-openapi.json"

if not SPEC_PATH.exists():
    pytest.skip(f"official People OpenAPI document not found at {SPEC_PATH}", allow_module_level=True)

from openapi_core import OpenAPI  # noqa: E402
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse  # noqa: E402
from openapi_core.validation.response.exceptions import InvalidData  # noqa: E402
from openapi_schema_validator import OAS31Validator  # noqa: E402

from tests.fixtures_people import PeopleHTTP  # noqa: E402

UPSERT = "/people/3/persons/upsert"


@pytest.fixture(scope="module")
def spec_doc() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC_PATH))


def _schema_name(doc: dict[str, Any], title: str) -> str:
    names = [k for k in doc["components"]["schemas"] if k.split(".")[-1] == title]
    assert names, f"{title} not in the document"
    return names[0]


@pytest.fixture(scope="module")
def corrected(spec_doc: dict[str, Any]) -> dict[str, Any]:
    """Validators built from the document's own schemas, with the two documented corrections."""
    components = copy.deepcopy(spec_doc["components"])
    code_name = _schema_name(spec_doc, "ErrorCodeV3")
    codes = components["schemas"][code_name]["enum"]
    components["schemas"][code_name] = {"type": "integer", "enum": [int(c) for c in codes]}
    for title in ("UpsertPersonV3DocsSchema", "IamPersonV2"):
        components["schemas"][_schema_name(spec_doc, title)]["properties"]["customAttributes"][
            "additionalProperties"
        ] = {}

    def validator(schema: dict[str, Any]) -> Any:
        return OAS31Validator({**schema, "components": components})

    def ref(title: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{_schema_name(spec_doc, title)}"}

    batch = {
        "type": "object",
        "properties": {
            "errors": {"type": "array", "items": ref("ErrorResponseV3")},
            "results": {"type": "array", "items": ref("UpsertSuccessResult")},
        },
        "required": ["errors", "results"],
    }
    return {
        "batch": validator(batch),
        "error_v3": validator(ref("ErrorResponseV3")),
        "person_v2": validator(ref("IamPersonV2")),
        "person_v3": validator(ref("UpsertPersonV3DocsSchema")),
    }


def _upsert_op(doc: dict[str, Any], method: str = "patch") -> dict[str, Any]:
    return doc["paths"][UPSERT][method]


def _examples(doc: dict[str, Any], status: str, method: str = "patch") -> dict[str, Any]:
    content = _upsert_op(doc, method)["responses"][status]["content"]["application/json"]
    return {k: v["value"] for k, v in content["examples"].items()}


def _request_examples(doc: dict[str, Any], method: str = "patch") -> dict[str, Any]:
    content = _upsert_op(doc, method)["requestBody"]["content"]["application/json"]
    return {k: v["value"] for k, v in content["examples"].items()}


def _batch_defect(e: Any) -> bool:  # defect 1
    return (
        list(e.path) in (["errors"], ["results"]) and e.validator == "type" and e.validator_value == "object"
    )


def _attribute_defect(e: Any) -> bool:  # defect 3
    path = list(e.path)
    return (
        len(path) == 2
        and path[0] == "customAttributes"
        and e.validator == "type"
        and e.validator_value == "object"
    )


def _validate(openapi: OpenAPI, r: requests.Response, *known: Any) -> list[Any]:
    """openapi-core validation; errors are allowed only when each matches a known defect."""
    try:
        openapi.validate_response(RequestsOpenAPIRequest(r.request), RequestsOpenAPIResponse(r))
    except InvalidData as exc:
        errors = list(getattr(exc.__cause__, "schema_errors", None) or [exc])
        unexplained = [e for e in errors if not any(k(e) for k in known)]
        assert unexplained == [], unexplained
        return errors
    return []


def _define_example_attributes(sandbox: Any) -> None:
    sandbox.define_custom_attribute("Contract Expiry", "DATE")
    sandbox.define_custom_attribute("Company", "STRING")
    sandbox.define_custom_attribute(
        "ShoppingCartList",
        "LIST_OF_OBJECTS",
        {
            "productName": "STRING",
            "productPrice": "DECIMAL",
            "productCategory": "STRING",
            "productImage": "STRING",
        },
    )


def test_correction_accepts_the_documents_own_examples(spec_doc, corrected):
    for method in ("patch", "put"):
        for name, example in _examples(spec_doc, "207", method).items():
            errors = list(corrected["batch"].iter_errors(example))
            assert errors == [], (method, name, errors)
        for name, example in _request_examples(spec_doc, method).items():
            for person in example["persons"]:
                assert list(corrected["person_v3"].iter_errors(person)) == [], (name, person)


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_upsert_207_conforms(people_sandbox, people_http: PeopleHTTP, openapi, corrected, spec_doc, method):
    _define_example_attributes(people_sandbox)
    examples = _request_examples(spec_doc, method.lower())
    persons = (
        examples["valid request - single person"]["persons"]
        + examples["mixed valid and invalid request"]["persons"]
    )
    r = people_http.upsert(persons, method=method)
    assert r.status_code == 207
    body = r.json()
    assert [x["status"] for x in body["results"]] == ["CREATED", "CREATED"]
    assert [e["index"] for e in body["errors"]] == [1]
    assert list(corrected["batch"].iter_errors(body)) == []

    schema_errors = _validate(openapi, r, _batch_defect)
    assert sorted(list(e.path) for e in schema_errors) == [["errors"], ["results"]]

    # the stored person round-trips through the document's v3 person schema
    stored = people_sandbox.person_by_external_id("3")
    assert list(corrected["person_v3"].iter_errors(stored)) == []


def test_all_invalid_example_gives_the_documented_errors(people_http: PeopleHTTP, spec_doc, corrected):
    request = _request_examples(spec_doc)["all invalid request"]
    expected = _examples(spec_doc, "207")["All validation errors"]
    r = people_http.request("PATCH", UPSERT, json=request)
    assert r.status_code == 207
    assert r.json() == expected


def test_mixed_example_matches_documented_statuses(people_http: PeopleHTTP, spec_doc):
    request = _request_examples(spec_doc)["mixed valid and invalid request"]
    expected = _examples(spec_doc, "207")["Mixed success and validation errors"]
    people_http.upsert([{"externalId": "0"}, request["persons"][1]])  # the example's person 2 exists
    body = people_http.request("PATCH", UPSERT, json=request).json()
    assert body["errors"] == expected["errors"]
    assert [(x["index"], x["status"]) for x in body["results"]] == [(1, "NOT_MODIFIED")]


def test_upsert_400_bodies_equal_the_documented_examples(
    people_http: PeopleHTTP, openapi, spec_doc, corrected
):
    examples = _examples(spec_doc, "400")
    malformed = people_http.request("PATCH", UPSERT, data=b"{not json")
    assert malformed.status_code == 400
    assert malformed.json() == examples["malformed JSON"]
    _validate(openapi, malformed)
    missing = people_http.request("PATCH", UPSERT, json={})
    assert missing.status_code == 400
    assert missing.json() == examples["missing required property"]
    _validate(openapi, missing)
    too_many = people_http.upsert([{"externalId": str(i)} for i in range(1001)])
    assert too_many.status_code == 400
    assert list(corrected["error_v3"].iter_errors(too_many.json())) == []


def test_401_and_429_envelopes_conform(people_sandbox, openapi):
    r = requests.patch(people_sandbox.base_url + UPSERT, json={"persons": [{"externalId": "a"}]})
    assert r.status_code == 401
    _validate(openapi, r)
    people_sandbox.faults.configure(rate=1.0, kinds=["429"], seed=0)
    r = requests.get(
        people_sandbox.base_url + "/people/2/persons", headers={"Authorization": "App sandbox-key"}
    )
    assert r.status_code == 429
    _validate(openapi, r)
    people_sandbox.faults.configure(kinds=["500"])
    r = requests.get(people_sandbox.base_url + "/people/2/tags", headers={"Authorization": "App sandbox-key"})
    assert r.status_code == 500
    _validate(openapi, r)


def test_v2_reads_conform(people_sandbox, people_http: PeopleHTTP, openapi, corrected, spec_doc):
    _define_example_attributes(people_sandbox)
    person = _request_examples(spec_doc)["valid request - single person"]["persons"][0]
    people_http.upsert([person])
    one = people_http.request("GET", "/people/2/persons", params={"identifier": "3", "type": "EXTERNAL_ID"})
    assert one.status_code == 200
    assert len(_validate(openapi, one, _attribute_defect)) == 3
    assert list(corrected["person_v2"].iter_errors(one.json())) == []
    listing = people_http.request(
        "GET", "/people/2/persons", params={"limit": 5, "includeTotalCount": "true"}
    )
    assert listing.status_code == 200
    _validate(openapi, listing)
    assert listing.json()["totalCount"] == 1
    for item in listing.json()["persons"]:
        assert list(corrected["person_v2"].iter_errors(item)) == []
    missing = people_http.request("GET", "/people/2/persons", params={"identifier": "x", "type": "EMAIL"})
    assert missing.status_code == 404
    _validate(openapi, missing)
    bad = people_http.request("GET", "/people/2/persons", params={"identifier": "x", "type": "NOPE"})
    assert bad.status_code == 400
    # (the type parameter is itself invalid per the spec, so only the body envelope is checked)
    assert set(bad.json()) == {"requestError"}


def test_attribute_and_tag_responses_conform(people_http: PeopleHTTP, openapi):
    calls = [
        ("POST", "/people/2/customAttributes", {"name": "Contract Expiry Date", "dataType": "DATE"}, 200),
        ("POST", "/people/2/customAttributes", {"name": "contract expiry date", "dataType": "DATE"}, 400),
        ("GET", "/people/2/customAttributes", None, 200),
        ("GET", "/people/2/customAttributes/Contract%20Expiry%20Date", None, 200),
        ("GET", "/people/2/customAttributes/missing", None, 404),
        ("POST", "/people/2/tags", {"name": "Vip"}, 200),
        ("POST", "/people/2/tags", {"name": "vip"}, 400),
        ("GET", "/people/2/tags", None, 200),
        ("GET", "/people/2/tags/Vip", None, 200),
        ("GET", "/people/2/tags/missing", None, 404),
    ]
    for method, path, body, status in calls:
        r = people_http.request(method, path, json=body)
        assert r.status_code == status, (method, path, r.text)
        _validate(openapi, r)
