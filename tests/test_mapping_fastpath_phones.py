"""The phone fast path gives phonenumbers' answer exactly: ``normalize_phone_fast`` against
``normalize_phone_reference`` (``phonenumbers.parse`` + ``is_valid_number(_for_region)`` +
``format_number``) over every region's example numbers, mutated and reformatted numbers of
many regions, arbitrary phone-ish text, and the generated store's own numbers; and through the
default mapping, the same phone value or the same drop reason per customer."""

from __future__ import annotations

from functools import cache

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from bc2people.pipelines.mapping import load_mapping
from bc2people.pipelines.mapping.phones import normalize_phone_fast, normalize_phone_reference
from bc2people.sandbox.generator import generate_customers, nasty_customers
from tests.fixtures_mapping import CTX, DEFAULT_MAPPING_PATH

DEFAULT_REGIONS = (None, "US", "GB", "DE", "IT", "BR", "IN")
FORMATS = (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL)


@cache
def _examples() -> tuple[tuple[str, int, str], ...]:
    """(region, calling code, national significant number) of every example number phonenumbers
    ships: each region and number type, and the non-geographic codes."""
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(PhoneNumberType.FIXED_LINE, PhoneNumberType.VOICEMAIL + 1):
            num = phonenumbers.example_number_for_type(region, kind)
            if num is not None:
                out.append((region, num.country_code or 0, phonenumbers.national_significant_number(num)))
    for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        num = phonenumbers.example_number_for_non_geo_entity(cc)
        if num is not None:
            out.append(("001", cc, phonenumbers.national_significant_number(num)))
    return tuple(dict.fromkeys(out))


def _same(raw: str, region: str | None) -> None:
    for plus in (False, True):
        assert normalize_phone_fast(raw, region, plus) == normalize_phone_reference(raw, region, plus), (raw, region, plus)


def test_every_example_number_in_every_format_gives_phonenumbers_answer() -> None:
    examples = _examples()
    assert len(examples) > 1000  # every region and type, so the comparison covers the metadata
    valid = 0
    for region, cc, nsn in examples:
        num = phonenumbers.parse(f"+{cc}{nsn}")
        texts = {phonenumbers.format_number(num, f) for f in FORMATS}
        for text in texts:
            for default in (None, "US", region if region != "001" else "GB"):
                _same(text, default)
        valid += normalize_phone_fast(f"+{cc}{nsn}", None, True) is not None
    assert valid > 1000  # most example numbers are valid: the fast validity check says so too


def test_national_prefix_with_cut_and_grown_numbers_in_their_own_region() -> None:
    """Trunk prefix + an example number cut or grown: where stripping the prefix would leave a
    number of impossible length, phonenumbers keeps it; the fast path must too."""
    compared = 0
    for region, cc, nsn in _examples():
        if region == "001":
            continue
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        prefix = (meta.national_prefix if meta is not None else None) or ""
        for n in range(1, len(nsn) + 3):
            body = (nsn + "5678")[:n]
            for text in (prefix + body, f"+{cc}{prefix}{body}"):
                if len(text.lstrip("+")) >= 3:
                    assert normalize_phone_fast(text, region, True) == normalize_phone_reference(text, region, True), (text, region)
                    compared += 1
    assert compared > 10_000


_SEPARATOR = st.sampled_from(["", "", "", " ", "-", ".", "(", ")", "  ", " - "])


@st.composite
def _mutated(draw: st.DrawFn) -> tuple[str, str | None]:
    """An example number with digits changed, added or cut, written with separators and an
    optional +, country code, trunk 0 or international prefix; and a default region."""
    region, cc, nsn = draw(st.sampled_from(_examples()))
    digits = list(nsn)
    for _ in range(draw(st.integers(0, 3))):
        if digits:
            digits[draw(st.integers(0, len(digits) - 1))] = draw(st.sampled_from("0123456789"))
    cut = draw(st.integers(-3, 3))
    digits = digits[:cut] if cut < 0 else digits + [draw(st.sampled_from("0123456789")) for _ in range(cut)]
    prefix = draw(st.sampled_from(["+" + str(cc), "+" + str(cc), str(cc), "0", "00" + str(cc), "011" + str(cc), "", "+"]))
    body = "".join(d + draw(_SEPARATOR) for d in prefix.lstrip("+") + "".join(digits))
    text = ("+" if prefix.startswith("+") else "") + draw(st.sampled_from(["", "", "("])) + body
    text += draw(st.sampled_from(["", "", "", " ext. 12", " ext 5", " ext.123456", " x7", " x 42", "ext. 9", " ext. 1234567",
                                  " #12", " extension 3", ";ext=4", " x", " ext. ", ","]))
    default = draw(st.sampled_from((*DEFAULT_REGIONS, region if region != "001" else None)))
    return text.strip() or "0", default


@settings(max_examples=1500, deadline=None)
@given(_mutated())
def test_mutated_numbers_of_many_regions_give_phonenumbers_answer(case: tuple[str, str | None]) -> None:
    _same(*case)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="0123456789+-(). x#,;/ext", max_size=24), st.sampled_from(DEFAULT_REGIONS))
def test_arbitrary_phone_like_text_gives_phonenumbers_answer(text: str, region: str | None) -> None:
    _same(text, region)


def _store_phones(customers: list[dict]) -> list[str]:
    phones = set()
    for c in customers:
        for raw in [c.get("phone")] + [a.get("phone") for a in (c.get("addresses") or []) if isinstance(a, dict)]:
            if isinstance(raw, str) and raw.strip():
                phones.add(raw.strip())
    return sorted(phones)


def test_the_generated_store_numbers_give_phonenumbers_answer() -> None:
    customers = generate_customers(6000, seed=7) + nasty_customers(600, seed=7, start_id=10_000_000)
    phones = _store_phones(customers)
    assert len(phones) > 4000
    for raw in phones:
        for region in ("US", None):
            _same(raw, region)


def test_default_mapping_gives_the_reference_phone_or_the_same_drop_reason() -> None:
    mapping = load_mapping(DEFAULT_MAPPING_PATH)
    customers = generate_customers(3000, seed=11) + nasty_customers(300, seed=11, start_id=20_000_000)
    source_text = next(p for p in mapping.plans if p.target == "phone").source_text
    kept = dropped = 0
    for customer, record in zip(customers, mapping.map_many(customers, CTX), strict=True):
        raw = record.sources.get("phone")
        phone_drops = [why for target, why in record.dropped if target == "phone"]
        phones = [c["identifier"] for c in (record.payload or {}).get("contactInformation", []) if c["type"] == "PHONE"]
        if not isinstance(raw, str) or not raw.strip():
            continue
        expected = normalize_phone_reference(raw.strip(), "US", False)
        if expected is None:
            dropped += 1
            assert phone_drops == [f"is not a valid phone number for region US (source {source_text} = {raw!r})"], customer
            assert phones == []
        else:
            kept += 1
            assert phone_drops == [], customer
            if record.payload is not None:
                assert phones == [expected]
    assert kept > 1000 and dropped > 100  # both paths exercised

