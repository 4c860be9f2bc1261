"""Phone numbers to E.164: phonenumbers' answer, computed with less of phonenumbers' overhead.

:func:`normalize_phone_reference` is the definition: ``phonenumbers.parse`` with the default
region, valid for that region or valid at all (``is_valid_number``), formatted E.164.
:func:`normalize_phone_fast` gives the same answer for every input (a property test over
generated numbers of every region and the generated store's numbers holds them equal):

- a value made only of digits, an optional leading ``+`` and the separators `` ().-`` (and
  perhaps an extension such as `` ext. 12``, which E.164 leaves out) skips
  ``parse``'s string handling (extension, RFC 3966 and viability checks; they cannot change
  such a value) and goes straight to the country code: the longest prefix of the digits after a
  ``+`` that phonenumbers' own metadata knows, or phonenumbers' own default-region logic;
  national prefixes and Italian leading zeros go through phonenumbers' own helpers;
- validity uses the same metadata (general description, then every number type's possible
  lengths and pattern, the region chosen by leading digits) compiled once per region into one
  pattern per length, instead of up to eleven pattern lookups per region per call;
- anything else (letters, extensions, a ``+`` with no known country code) is parsed by
  ``phonenumbers.parse``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat
from phonenumbers import phonenumberutil as pnu

# digits and separators, an optional leading + and/or (, an optional " ext. 12"-style extension
# (parse drops the extension, E.164 has none): the number is group 1
_PLAIN_RE = re.compile(r"(\+?\(?[0-9][0-9 ().-]*?)(?: (?:ext\.?|x) ?[0-9]{1,6})?")
_SEPARATORS = str.maketrans("", "", " ().-")
_NON_GEO = "001"
_MAX_INPUT = 250  # phonenumbers' _MAX_INPUT_STRING_LENGTH
_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' _MIN_LENGTH_FOR_NSN, _MAX_LENGTH_FOR_NSN
_TOO_SHORT_ETC = (
    pnu.ValidationResult.TOO_SHORT,
    pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    pnu.ValidationResult.INVALID_LENGTH,
)


def normalize_phone_reference(raw: str, region: str | None, plus: bool) -> str | None:
    """E.164 form of ``raw`` by phonenumbers alone (digits only unless ``plus``), or None."""
    try:
        num = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not ((region is not None and phonenumbers.is_valid_number_for_region(num, region))
            or phonenumbers.is_valid_number(num)):
        return None
    e164 = phonenumbers.format_number(num, PhoneNumberFormat.E164)
    return e164 if plus else e164[1:]


# --- validity -----------------------------------------------------------------------------

def _desc_parts(desc: Any) -> tuple[frozenset[int], str] | None:
    """(possible lengths, empty = any; national number pattern), or None: matches nothing."""
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length), desc.national_number_pattern


def _typed_checker(meta: Any) -> Callable[[str], bool]:
    """``nsn -> bool`` equal to ``phonenumbers._number_type_helper(nsn, meta) != UNKNOWN``."""
    general = _desc_parts(meta.general_desc)
    if general is None:
        return lambda nsn: False
    g_lengths, g_pattern = general
    g_re = re.compile(g_pattern)
    descs = [meta.premium_rate, meta.toll_free, meta.shared_cost, meta.voip, meta.personal_number,
             meta.pager, meta.uan, meta.voicemail, meta.fixed_line]
    if not meta.same_mobile_and_fixed_line_pattern:
        descs.append(meta.mobile)
    types = [p for p in (_desc_parts(d) for d in descs) if p is not None]
    by_length: dict[int, Any] = {}
    for n in range(1, _MAX_NSN + 1):
        if g_lengths and n not in g_lengths:
            continue
        patterns = list(dict.fromkeys(pat for lengths, pat in types if not lengths or n in lengths))
        if patterns:
            by_length[n] = re.compile("|".join(f"(?:{p})" for p in patterns))

    def typed(nsn: str) -> bool:
        type_re = by_length.get(len(nsn))
        return type_re is not None and g_re.fullmatch(nsn) is not None and type_re.fullmatch(nsn) is not None

    return typed


_TYPED: dict[tuple[int, str], Callable[[str], bool] | None] = {}
_Step = tuple[Any, Any]  # (None, check) or (leading-digits alternation, {group name: check})
_REGION_WALK: dict[int, tuple[_Step, ...]] = {}


def _typed_for(cc: int, region: str) -> Callable[[str], bool] | None:
    """The validity check of ``region``'s metadata for calling code ``cc``, or None when
    ``is_valid_number_for_region`` would say False for any number (wrong code, no metadata)."""
    key = (cc, region)
    if key not in _TYPED:
        meta = PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
        ok = meta is not None and (region == _NON_GEO or meta.country_code == cc)
        _TYPED[key] = _typed_checker(meta) if ok else None
    return _TYPED[key]


def _region_walk(cc: int) -> tuple[_Step, ...]:
    """phonenumbers' walk over the regions sharing ``cc`` (``_region_code_for_number_from_list``)
    compiled: a region with leading digits is chosen when they match the start of the number,
    one without when the number is valid there; runs of leading-digit regions become one
    alternation (the first alternative that matches is the first region in the list)."""
    if cc not in _REGION_WALK:
        steps: list[_Step] = []
        run: list[tuple[str, Callable[[str], bool]]] = []

        def close_run() -> None:
            if run:
                names = {f"r{i}": check for i, (_, check) in enumerate(run)}
                alternation = "|".join(f"(?P<r{i}>{lead})" for i, (lead, _) in enumerate(run))
                steps.append((re.compile(alternation), names))
                run.clear()

        for region in pnu.COUNTRY_CODE_TO_REGION_CODE.get(cc, ()):
            meta = PhoneMetadata.metadata_for_region(region.upper(), None)
            if meta is None:
                continue
            if meta.leading_digits is not None:
                run.append((meta.leading_digits, _typed_checker(meta)))
            else:
                close_run()
                steps.append((None, _typed_checker(meta)))
        close_run()
        _REGION_WALK[cc] = tuple(steps)
    return _REGION_WALK[cc]


_VALIDATORS: dict[tuple[int, str | None], Callable[[str], bool]] = {}


def is_valid_for(cc: int, nsn: str, region: str | None) -> bool:
    """``is_valid_number_for_region(num, region) or is_valid_number(num)`` for the number with
    calling code ``cc`` and national significant number ``nsn``."""
    check = _VALIDATORS.get((cc, region))
    if check is None:
        check = _VALIDATORS[(cc, region)] = _validator(cc, region)
    return check(nsn)


def _validator(cc: int, region: str | None) -> Callable[[str], bool]:
    """:func:`is_valid_for` for one calling code and default region, its lookups done once."""
    for_region = _typed_for(cc, region) if region is not None else None
    regions = pnu.COUNTRY_CODE_TO_REGION_CODE.get(cc)
    if regions is None:
        anywhere: Callable[[str], bool] = _never
    elif len(regions) == 1:
        anywhere = _typed_for(cc, regions[0]) or _never
    else:
        walk = _region_walk(cc)

        def anywhere(nsn: str) -> bool:
            for lead, check in walk:
                if lead is None:
                    if check(nsn):
                        return True
                else:
                    m = lead.match(nsn)
                    if m is not None:
                        return bool(check[m.lastgroup](nsn))
            return False

    if for_region is None:
        return anywhere

    def valid(nsn: str) -> bool:
        return for_region(nsn) or anywhere(nsn)

    return valid


def _never(nsn: str) -> bool:
    return False


# --- parsing ------------------------------------------------------------------------------

class _Fallback(Exception):
    """This value needs phonenumbers.parse."""


_CODES: dict[str, int] = {}  # the calling codes phonenumbers knows, by their digits


def _country_code(digits: str) -> tuple[int, str]:
    """phonenumbers' _extract_country_code: (code, rest), (0, digits) when none is known."""
    if not digits or digits[0] == "0":
        return 0, digits
    codes = _CODES
    if not codes:
        codes.update((str(cc), cc) for cc in pnu.COUNTRY_CODE_TO_REGION_CODE)
    for n in (1, 2, 3):  # a code has no leading zero, so its digits are str(code)
        cc = codes.get(digits[:n])
        if cc is not None and n <= len(digits):
            return cc, digits[n:]
    return 0, digits


_NUMBER_META: dict[int, tuple[str, Any]] = {}


def _number_metadata(cc: int) -> tuple[str, Any]:
    """(region_code_for_country_code(cc), its metadata_for_region_or_calling_code), cached."""
    found = _NUMBER_META.get(cc)
    if found is None:
        region = pnu.region_code_for_country_code(cc)
        found = _NUMBER_META[cc] = (region, PhoneMetadata.metadata_for_region_or_calling_code(cc, region))
    return found


_PREFIX_RE: dict[str, re.Pattern[str]] = {}


def _strip_national_prefix(nn: str, metadata: Any) -> str:
    """``nn`` without its national prefix, as parse strips it (the number as is when
    phonenumbers keeps it: no prefix, or what is left would be too short)."""
    prefix = metadata.national_prefix_for_parsing
    if not prefix:  # nothing to strip
        return nn
    prefix_re = _PREFIX_RE.get(prefix)
    if prefix_re is None:
        prefix_re = _PREFIX_RE[prefix] = re.compile(prefix)
    if prefix_re.match(nn) is None:  # phonenumbers' own first test: no prefix, nothing stripped
        return nn
    _, potential, _ = pnu._maybe_strip_national_prefix_carrier_code(nn, metadata)
    if potential != nn and pnu._test_number_length(potential, metadata) not in _TOO_SHORT_ETC:
        return potential
    return nn


_IDD: dict[str, re.Pattern[str]] = {}


def _national_country_code(digits: str, metadata: Any) -> tuple[int, str] | None:
    """phonenumbers' _maybe_extract_country_code for ASCII digits without a plus: an
    international dialling prefix (IDD) then a country code, or the default region's own code
    written in front of a national number; (0, "") for a plain national number, None where
    phonenumbers raises."""
    idd = metadata.international_prefix if metadata.international_prefix is not None else "NonMatch"
    idd_re = _IDD.get(idd)
    if idd_re is None:
        idd_re = _IDD[idd] = re.compile(idd)
    m = idd_re.match(digits)
    if m is not None and digits[m.end() : m.end() + 1] != "0":  # an IDD, not a national 0
        full = digits[m.end() :]
        if len(full) <= _MIN_NSN:
            return None
        cc, rest = _country_code(full)
        return (cc, rest) if cc != 0 else None
    code = str(metadata.country_code)
    if digits.startswith(code):
        _, potential, _ = pnu._maybe_strip_national_prefix_carrier_code(digits[len(code) :], metadata)
        general = metadata.general_desc
        if ((not pnu._match_national_number(digits, general, False)
             and pnu._match_national_number(potential, general, False))
                or pnu._test_number_length(digits, metadata) == pnu.ValidationResult.TOO_LONG):
            return metadata.country_code, potential
    return 0, ""


def _parse_plain(text: str, region: str | None) -> tuple[int, str] | None:
    """(calling code, national significant number) of ``phonenumbers.parse(text, region)``, None
    where it raises, for a value of digits and separators with an optional leading ``+``;
    raises _Fallback when unsure. (parse keeps a national number's leading zeros as Italian
    leading zeros, so its national significant number is the digit string itself.)"""
    digits = text.translate(_SEPARATORS)
    plus = text[0] == "+"
    if plus:
        digits = digits[1:]
    if len(digits) < 3:
        raise _Fallback
    metadata = PhoneMetadata.metadata_for_region(region, None) if region is not None else None
    if plus:
        cc, nn = _country_code(digits)
        if cc == 0:
            raise _Fallback  # parse retries without the plus: leave it to parse
    else:
        if metadata is None:
            raise _Fallback
        found = _national_country_code(digits, metadata)
        if found is None:
            return None  # parse raises, and without a plus it does not retry
        cc, nn = found
    if cc != 0:
        number_region, number_metadata = _number_metadata(cc)
        if number_region != region:
            metadata = number_metadata
    else:
        assert metadata is not None and metadata.country_code is not None
        nn = digits
        cc = metadata.country_code
    if len(nn) < _MIN_NSN:
        return None
    if metadata is not None:
        nn = _strip_national_prefix(nn, metadata)
    if not _MIN_NSN <= len(nn) <= _MAX_NSN:
        return None
    return cc, nn


def normalize_phone_fast(raw: str, region: str | None, plus: bool) -> str | None:
    """The same answer as :func:`normalize_phone_reference`, faster (see the module docstring).

    ``region`` is an upper-case region code phonenumbers supports, or None."""
    found: tuple[int | None, str] | None
    try:
        plain = _PLAIN_RE.fullmatch(raw)
        if plain is None or len(raw) > _MAX_INPUT:
            raise _Fallback
        found = _parse_plain(plain.group(1), region)
    except _Fallback:
        try:
            num = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            return None
        found = num.country_code, pnu.national_significant_number(num)
    if found is None:
        return None
    cc, nsn = found
    if cc is None or not is_valid_for(cc, nsn, region):
        return None
    return f"+{cc}{nsn}" if plus else f"{cc}{nsn}"
