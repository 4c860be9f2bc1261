"""The test-data generator: deterministic, realistic, varied, and hostile where asked."""

from __future__ import annotations

import json
import re
from collections import Counter

import phonenumbers
import requests

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import REFERENCE_NOW, generate_customers, nasty_customers
from tests.fixtures_bigcommerce import BC_TOKEN, bc_url

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
FORBIDDEN = set('&<>"/\\:(){}=;#')
N = 3000
CUSTOMERS = generate_customers(N, seed=7)


def test_deterministic_and_parameterised() -> None:
    assert generate_customers(N, seed=7) == CUSTOMERS
    assert generate_customers(N, seed=8) != CUSTOMERS
    shifted = generate_customers(10, seed=7, start_id=1001)
    assert [c["id"] for c in shifted] == list(range(1001, 1011))
    assert all(a["customer_id"] == c["id"] for c in shifted for a in c["addresses"])
    early = generate_customers(100, seed=7, now=1_000_000_000)
    assert max(c["date_modified"] for c in early) <= "2001-09-09T01:46:40Z"


def test_full_objects_with_api_formats() -> None:
    for c in CUSTOMERS:
        assert DATE_RE.match(c["date_created"]) and DATE_RE.match(c["date_modified"])
        assert c["date_modified"] >= c["date_created"]
        assert c["date_modified"] < "2026-01-01T00:00:01Z"
        assert 1 <= len(c["first_name"]) <= 100 and 1 <= len(c["last_name"]) <= 100
        assert len(c["addresses"]) <= 10 and len(c["attributes"]) <= 10
        assert all(len(a["country_code"]) == 2 for a in c["addresses"])
        assert isinstance(c["store_credit_amounts"], list)
    ids = [c["id"] for c in CUSTOMERS]
    assert ids == list(range(1, N + 1))


def test_emails_unique_case_insensitively_with_lookalikes() -> None:
    emails = [c["email"] for c in CUSTOMERS]
    assert len({e.casefold() for e in emails}) == N
    assert any(e != e.lower() for e in emails)
    assert any(e == e.upper() for e in emails)
    locals_ = Counter(e.split("@")[0].split("+")[0].casefold() for e in emails)
    assert any(n > 1 for n in locals_.values())  # same local part on another domain or with +tag


def test_variety_the_mapping_must_handle() -> None:
    assert {type(c["channel_ids"]) for c in CUSTOMERS} == {type(None), list}
    assert any(c["company"] == "" for c in CUSTOMERS) and any(c["phone"] == "" for c in CUSTOMERS)
    assert any(any(ch in FORBIDDEN for ch in c["first_name"] + c["last_name"]) for c in CUSTOMERS)
    assert any(not (c["first_name"] + c["last_name"]).isascii() for c in CUSTOMERS)
    assert any(re.search(r"[\u0590-\u06ff]", c["first_name"] + c["last_name"]) for c in CUSTOMERS)  # RTL
    counts = Counter(len(c["addresses"]) for c in CUSTOMERS)
    assert counts[0] and counts[1] and counts[2] and max(counts) >= 8
    assert any(f["name"] == "newsletter" for c in CUSTOMERS for f in c["form_fields"])
    assert any(isinstance(f["value"], list) for c in CUSTOMERS for f in c["form_fields"])
    assert any(c["store_credit_amounts"][0]["amount"] > 0 for c in CUSTOMERS)
    assert len({c["customer_group_id"] for c in CUSTOMERS}) > 2


def test_phones_in_many_formats_some_invalid() -> None:
    phones = [c["phone"] for c in CUSTOMERS if c["phone"]]
    regions: Counter[str] = Counter()
    invalid = 0
    for p in phones:
        for region in ("US", "GB", "DE", "FR", "BR", "IN"):
            try:
                n = phonenumbers.parse(p, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_possible_number(n):
                regions[phonenumbers.region_code_for_number(n) or region] += 1
                break
        else:
            invalid += 1
    assert invalid > 0
    assert {"US", "GB", "DE", "FR", "BR", "IN"} <= set(regions)
    assert any(p.startswith("+") for p in phones) and any(p.startswith("0") for p in phones)


def test_dates_spread_over_years_with_shared_seconds() -> None:
    created = sorted(c["date_created"] for c in CUSTOMERS)
    assert int(created[-1][:4]) - int(created[0][:4]) >= 4
    assert Counter(c["date_created"] for c in CUSTOMERS).most_common(1)[0][1] >= 20  # bulk import
    assert Counter(c["date_modified"] for c in CUSTOMERS).most_common(1)[0][1] >= 20
    assert sum(c["date_modified"] == c["date_created"] for c in CUSTOMERS) > N // 4


def test_nasty_customers_are_hostile_but_loadable_and_served_intact() -> None:
    nasty = nasty_customers(40, seed=1, start_id=500)
    blob = json.dumps(nasty, ensure_ascii=False)
    assert "\x00" in blob or "\\u0000" in json.dumps(nasty)
    assert any(isinstance(c["notes"], str) and len(c["notes"]) >= 10240 for c in nasty)
    assert any(isinstance(c["last_name"], int) for c in nasty) and any(c["company"] is None for c in nasty)
    assert any("\u202e" in str(c["first_name"]) for c in nasty)
    assert any("DROP TABLE" in str(c["first_name"]) for c in nasty)
    assert len({c["email"].casefold() for c in nasty}) == 40
    with BigCommerceSandbox() as sb:
        sb.add_customers(nasty)
        sb.add_customers(generate_customers(5, seed=1))
        r = requests.get(bc_url(sb, "/v3/customers"), headers={"X-Auth-Token": BC_TOKEN},
                         params={"include": "addresses,attributes,formfields,storecredit", "limit": "250",
                                 "sort": "last_name:asc"})
        assert r.status_code == 200
        served = {c["id"]: c for c in r.json()["data"]}
        assert len(served) == 45
        for c in nasty:
            got = served[c["id"]]
            for key in ("first_name", "last_name", "notes", "company", "phone", "channel_ids", "form_fields"):
                assert got.get(key) == c[key], key


def test_reference_now_is_fixed() -> None:
    assert REFERENCE_NOW == 1767225600
