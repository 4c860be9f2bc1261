"""Each transform: what it does, what it refuses, and its argument checks."""

from __future__ import annotations

from typing import Any

import pytest

from bc2people.pipelines.mapping.transforms import (
    ArgError,
    InvalidValue,
    TransformContext,
    TransformFailure,
    build_transform,
    normalize_phone,
)

CTX = TransformContext("firstName", 255, "US")


def run(name: str, value: Any, arg: Any = None, ctx: TransformContext = CTX) -> Any:
    t = build_transform(name, arg, ctx)
    return t.fn(value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("trim", "  a b  ", "a b"),
        ("trim", 12, "12"),
        ("lower", "ÅSA", "åsa"),
        ("upper", "straße", "STRASSE"),
        ("title", "jane o'neil", "Jane O'Neil"),
        ("collapse_spaces", " a \t\n b  c ", "a b c"),
        ("collapse_spaces", "plain text", "plain text"),
        ("strip_control", "tab\tand\nnewline\r\n", "tab and newline  "),
        ("strip_control", "\ufeffBOM\u0000nul\u202eRTL", "BOMnulRTL"),
        ("strip_control", "👩\u200d👩\u200d👧", "👩\u200d👩\u200d👧"),  # joiners inside emoji stay
        ("strip_control", "lone\ud83dsurrogate", "lonesurrogate"),
        ("strip_forbidden", 'Jane "J" <O\'Neil> (x) {y} a=b; #1 & c/d\\e:f', "Jane J O'Neil x y ab 1  cdef"),
    ],
)
def test_text_transforms(name: str, value: Any, expected: str) -> None:
    assert run(name, value) == expected


def test_strip_forbidden_with_replacement() -> None:
    assert run("strip_forbidden", "a/b", " ") == "a b"


@pytest.mark.parametrize("value", [["a"], {"a": 1}, True])
@pytest.mark.parametrize("name", ["trim", "lower", "strip_forbidden", "truncate", "collapse_spaces"])
def test_text_transforms_refuse_non_text(name: str, value: Any) -> None:
    with pytest.raises(TransformFailure, match="expects text"):
        run(name, value)


def test_truncate_to_the_people_limit_and_to_a_given_length() -> None:
    assert run("truncate", "x" * 300) == "x" * 255
    assert run("truncate", "abc def", 4) == "abc"  # trailing space trimmed after the cut
    with pytest.raises(ArgError, match="no People length limit"):
        build_transform("truncate", None, TransformContext("customAttributes.n", None, None))
    with pytest.raises(ArgError, match="over the People limit"):
        build_transform("truncate", 300, CTX)
    for bad in (0, -1, "10", True):
        with pytest.raises(ArgError):
            build_transform("truncate", bad, CTX)


@pytest.mark.parametrize(
    ("raw", "arg", "expected"),
    [
        ("(415) 555-2671", None, "14155552671"),
        ("+44 20 7946 0958", None, "442079460958"),
        ("020 7946 0958", "GB", "442079460958"),
        ("+1 415 555 2671", {"plus": True}, "+14155552671"),
        ("4155552671", {"region": "us"}, "14155552671"),
        (4155552671, None, "14155552671"),
        ("   ", None, None),
    ],
)
def test_phone_e164(raw: Any, arg: Any, expected: str | None) -> None:
    assert run("phone_e164", raw, arg) == expected


@pytest.mark.parametrize("raw", ["555-CALL-NOW", "+1 555 0100\x00", "12", "not a phone", "+999 1234567"])
def test_phone_e164_invalid_numbers_are_invalid_values(raw: str) -> None:
    with pytest.raises(InvalidValue, match="not a valid phone"):
        run("phone_e164", raw)


def test_phone_e164_without_region_needs_a_country_code() -> None:
    ctx = TransformContext("phone", 50, None)
    assert run("phone_e164", "+14155552671", None, ctx) == "14155552671"
    with pytest.raises(InvalidValue):
        run("phone_e164", "4155552671", None, ctx)


def test_phone_cache_is_per_raw_and_region() -> None:
    normalize_phone.cache_clear()
    normalize_phone("020 7946 0958", "GB", False)
    normalize_phone("020 7946 0958", "GB", False)
    normalize_phone("020 7946 0958", "US", False)
    info = normalize_phone.cache_info()
    assert (info.hits, info.misses) == (1, 2)


@pytest.mark.parametrize("arg", ["XX", 12, {"region": "US", "bogus": 1}, {"plus": "yes"}])
def test_phone_e164_bad_arguments(arg: Any) -> None:
    with pytest.raises(ArgError):
        build_transform("phone_e164", arg, CTX)


def test_email_normalises_and_validates() -> None:
    assert run("email", "  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert run("email", "Jane@Example.com", {"lower": False}) == "Jane@Example.com"
    assert run("email", "  ") is None
    for bad in ("jane", "jane@", "@x.com", "a b@x.com", "nasty+ü@example.com", "a@b", "a..b@x.com", "x" * 250 + "@a.com"):
        with pytest.raises(InvalidValue, match="not a valid email"):
            run("email", bad)
    with pytest.raises(ArgError):
        build_transform("email", "yes", CTX)


@pytest.mark.parametrize(
    ("name", "value", "arg", "expected"),
    [
        ("date", "2020-02-06T17:46:33Z", None, "2020-02-06"),
        ("datetime", "2020-02-06T17:46:33Z", None, "2020-02-06T17:46:33Z"),
        ("datetime", "2020-02-06T17:46:33+02:00", None, "2020-02-06T15:46:33Z"),
        ("date", "Tue, 20 Nov 2012 00:00:00 +0000", None, "2012-11-20"),
        ("date", 0, None, "1970-01-01"),
        ("date", "06/02/2020", {"input": "%d/%m/%Y"}, "2020-02-06"),
        ("date", "2020-02-06", "%d.%m.%Y", "06.02.2020"),
        ("datetime", "2020-02-06", None, "2020-02-06T00:00:00Z"),
    ],
)
def test_dates(name: str, value: Any, arg: Any, expected: str) -> None:
    assert run(name, value, arg) == expected


@pytest.mark.parametrize("value", ["yesterday", "2020-13-45T00:00:00Z", True, [2020], 1e300, "2020-02-30"])
def test_dates_that_do_not_parse_fail(value: Any) -> None:
    with pytest.raises(TransformFailure):
        run("date", value)


@pytest.mark.parametrize("arg", [{"format": "%Y"}, "YYYY-MM-DD", 5, {"output": 3}])
def test_date_bad_arguments(arg: Any) -> None:
    with pytest.raises(ArgError):
        build_transform("date", arg, CTX)


def test_lookup() -> None:
    arg = {"map": {"m": "MALE", "F": "FEMALE", 2: "two", "true": "yes"}}
    assert run("lookup", "M", arg) == "MALE"
    assert run("lookup", "f ", arg) == "FEMALE"
    assert run("lookup", True, arg) == "yes"  # booleans compare as true/false text
    assert run("lookup", 2.0, arg) == "two"
    assert run("lookup", "x", arg) == "x"  # unmatched values pass unchanged
    assert run("lookup", "x", {**arg, "default": None}) is None
    assert run("lookup", "x", {**arg, "default": "OTHER"}) == "OTHER"
    with pytest.raises(TransformFailure):
        run("lookup", ["m"], arg)
    bad: Any
    for bad in ({"m": "MALE"}, {"map": []}, {"map": {}, "else": 1}, {"map": {"a": 1, "A": 2}}):
        with pytest.raises(ArgError):
            build_transform("lookup", bad, CTX)


@pytest.mark.parametrize(
    ("to", "value", "expected"),
    [
        ("string", 12, "12"), ("string", True, "true"), ("string", 1.5, "1.5"),
        ("integer", "12", 12), ("integer", 12.0, 12), ("integer", " 7 ", 7), ("integer", "1e3", 1000),
        ("decimal", "12.5", 12.5), ("decimal", 3, 3.0),
        ("boolean", "Yes", True), ("boolean", "off", False), ("boolean", 0, False), ("boolean", ["yes"], True),
    ],
)
def test_casts(to: str, value: Any, expected: Any) -> None:
    out = run("cast", value, to)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize(
    ("to", "value"),
    [("integer", "12.5"), ("integer", True), ("integer", "abc"), ("decimal", "nan"), ("decimal", [1]),
     ("boolean", "maybe"), ("boolean", 2), ("string", {"a": 1}), ("decimal", float("inf"))],
)
def test_casts_that_cannot_fail(to: str, value: Any) -> None:
    with pytest.raises(TransformFailure):
        run("cast", value, to)


def test_cast_bad_argument() -> None:
    with pytest.raises(ArgError, match="cast to 'float'"):
        build_transform("cast", "float", CTX)


def test_list_transforms() -> None:
    assert run("sum", [10.5, "2.25", None, ""]) == 12.75
    assert run("sum", []) == 0.0
    assert run("count", [1, None, "", "x"]) == 2
    assert run("join", [1, "b", None]) == "1, b"
    assert run("join", [1, 2], "|") == "1|2"
    assert run("join", []) is None
    with pytest.raises(TransformFailure):
        run("sum", ["abc"])
    assert build_transform("sum", None, CTX).on_list


def test_unknown_transform_and_stray_arguments() -> None:
    with pytest.raises(ArgError, match="unknown transform 'frobnicate'"):
        build_transform("frobnicate", None, CTX)
    with pytest.raises(ArgError, match="takes no argument"):
        build_transform("trim", 3, CTX)
