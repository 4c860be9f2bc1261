"""The transforms a mapping field can chain, each built once from its YAML argument.

A transform factory takes the YAML argument and a :class:`TransformContext` and returns a
:class:`Transform` whose ``fn`` maps one value to one value. ``fn`` raises
:class:`TransformFailure` for a value it cannot handle (a list where text was expected, a
date that does not parse) and :class:`InvalidValue` for a value People would refuse (an
email or phone that is not valid); the field's ``on_invalid`` decides what happens next.
List transforms (``sum``, ``count``, ``join``) take the whole list a ``take: all`` produced.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

import phonenumbers

from bc2people.destinations.people.rules import (
    DATETIME_FORMATS,
    DEFAULT_DATETIME_FORMAT,
    FORBIDDEN_NAME_CHARS,
    is_valid_email,
    strip_forbidden,
    to_decimal,
)

from .phones import normalize_phone_fast


class TransformFailure(ValueError):
    """A transform could not handle this value."""


class InvalidValue(TransformFailure):
    """The value was handled but People would not accept it (bad email or phone)."""


class ArgError(ValueError):
    """A transform's YAML argument is wrong; ``hint`` says what would be right."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class TransformContext:
    """What a factory may need: the target's People limit and the mapping's defaults."""

    target: str
    max_len: int | None
    phone_region: str | None
    datetime_format: str = DEFAULT_DATETIME_FORMAT  # a key of DATETIME_FORMATS (defaults.datetime_format)


@dataclass(frozen=True)
class Transform:
    """One compiled transform: ``fn`` and the type of what it produces."""

    name: str
    fn: Callable[[Any], Any]
    out: str  # "str", "int", "float", "bool", "date", "datetime", "any"
    on_list: bool = False
    # Python conditions on a non-empty ``v`` (builtins and ``_FORBIDDEN``, the forbidden name
    # characters, only) under which ``fn(v)`` is ``v`` itself: the engine's generated code skips
    # the call when they all hold. None: no such shortcut.
    keeps: tuple[str, ...] | None = None


def _text(value: Any, name: str) -> str:
    if type(value) is str:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TransformFailure(f"{name} expects text, got {type(value).__name__}")
    return str(value)


def _no_arg(name: str, arg: Any) -> None:
    if arg is not None:
        raise ArgError(f"{name} takes no argument", f"write just `- {name}`")


# printable text has no whitespace but " " (str.strip strips nothing else from it)
_STRIPPED = ("type(v) is str", "v.isprintable()", "v[0] != ' '", "v[-1] != ' '")


def _simple(name: str, op: Callable[[str], str],
            keeps: tuple[str, ...] | None = None) -> Callable[[Any, TransformContext], Transform]:
    def factory(arg: Any, ctx: TransformContext) -> Transform:
        _no_arg(name, arg)

        def fn(value: Any) -> Any:
            return op(value) if type(value) is str else op(_text(value, name))

        return Transform(name, fn, "str", keeps=keeps)

    return factory


_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
_BREAKS = re.compile(r"[\t\n\v\f\r\u2028\u2029]")


def _strip_control_text(text: str) -> str:
    if text.isprintable():  # no control, format or separator characters: nothing to do
        return text
    return _CONTROL.sub("", _BREAKS.sub(" ", text))


def _collapse_spaces(text: str) -> str:
    if "  " not in text and text.isprintable():
        return text.strip()
    return _SPACES.sub(" ", text).strip()


def _strip_forbidden(arg: Any, ctx: TransformContext) -> Transform:
    replacement = "" if arg is None else arg
    if not isinstance(replacement, str):
        raise ArgError("strip_forbidden takes the replacement text", "e.g. `- strip_forbidden: ' '`")

    def fn(value: Any) -> Any:
        text = value if type(value) is str else _text(value, "strip_forbidden")
        return text if FORBIDDEN_NAME_CHARS.isdisjoint(text) else strip_forbidden(text, replacement)

    return Transform("strip_forbidden", fn, "str", keeps=("type(v) is str", "_FORBIDDEN.isdisjoint(v)"))


def _truncate(arg: Any, ctx: TransformContext) -> Transform:
    if arg is None:
        if ctx.max_len is None:
            raise ArgError(f"{ctx.target} has no People length limit", "give a length: `- truncate: 100`")
        length = ctx.max_len
    elif isinstance(arg, bool) or not isinstance(arg, int) or arg < 1:
        raise ArgError("truncate takes a positive whole number", "e.g. `- truncate: 50`, or bare `- truncate` for the People limit")
    else:
        length = arg
        if ctx.max_len is not None and length > ctx.max_len:
            raise ArgError(f"truncate: {length} is over the People limit of {ctx.max_len} for {ctx.target}",
                           f"use at most {ctx.max_len}, or bare `- truncate`")

    def fn(value: Any) -> Any:
        text = value if type(value) is str else _text(value, "truncate")
        return text if len(text) <= length else text[:length].rstrip()

    return Transform("truncate", fn, "str", keeps=("type(v) is str", f"len(v) <= {int(length)}"))


@lru_cache(maxsize=65536)
def normalize_phone(raw: str, region: str | None, plus: bool) -> str | None:
    """E.164 form of ``raw`` (digits only unless ``plus``), or None when it is not a valid number.

    phonenumbers' answer (``parse`` with ``region``, valid for it or valid at all), computed by
    :func:`.phones.normalize_phone_fast` (same result, held equal by a property test)."""
    return normalize_phone_fast(raw, region, plus)


def _phone_e164(arg: Any, ctx: TransformContext) -> Transform:
    # Keep phonenumbers' compiled metadata regexes: with numbers from many countries they
    # overflow the re module's 512-entry cache and get recompiled (~25% of the parse cost).
    enable = getattr(phonenumbers, "enable_pattern_cache", None)
    if enable is not None:
        enable()
    region, plus = ctx.phone_region, False
    if isinstance(arg, str):
        region = arg
    elif isinstance(arg, dict):
        unknown = set(arg) - {"region", "plus"}
        if unknown:
            raise ArgError(f"phone_e164 has no option {sorted(unknown)[0]!r}", "options: region, plus")
        region = arg.get("region", region)
        plus = arg.get("plus", False)
        if not isinstance(plus, bool):
            raise ArgError("phone_e164 plus must be true or false")
    elif arg is not None:
        raise ArgError("phone_e164 takes a region code or {region, plus}", "e.g. `- phone_e164: US`")
    if region is not None:
        if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ArgError(f"unknown phone region {region!r}", "use an ISO 3166 alpha-2 code such as US, GB, DE")
        region = region.upper()

    def fn(value: Any) -> Any:
        text = _text(value, "phone_e164").strip()
        if not text:
            return None
        out = normalize_phone(text, region, plus)
        if out is None:
            raise InvalidValue("is not a valid phone number" + (f" for region {region}" if region else ""))
        return out

    return Transform("phone_e164", fn, "str")


def _email(arg: Any, ctx: TransformContext) -> Transform:
    lower = True
    if isinstance(arg, dict):
        if set(arg) - {"lower"} or not isinstance(arg.get("lower", True), bool):
            raise ArgError("email takes only {lower: true|false}")
        lower = arg.get("lower", True)
    elif arg is not None:
        raise ArgError("email takes no argument (or {lower: false})", "write just `- email`")

    def fn(value: Any) -> Any:
        text = _text(value, "email").strip()
        if not text:
            return None
        if lower:
            text = text.lower()
        if not is_valid_email(text):
            raise InvalidValue("is not a valid email address")
        return text

    return Transform("email", fn, "str")


def parse_when(value: Any, input_format: str | None) -> datetime:
    """A datetime from ISO 8601, RFC 2822, a Unix timestamp or ``input_format``; aware → UTC."""
    if isinstance(value, bool):
        raise TransformFailure("expects a date, got bool")
    if isinstance(value, int | float):
        if not math.isfinite(value) or abs(value) > 253402300799:
            raise TransformFailure("timestamp out of range")
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    if not isinstance(value, str):
        raise TransformFailure(f"expects a date, got {type(value).__name__}")
    text = value.strip()
    try:
        if input_format:
            dt = datetime.strptime(text, input_format)
        else:
            try:
                dt = datetime.fromisoformat(text)
            except ValueError:
                dt = parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        raise TransformFailure("is not a date this transform can read") from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def _date_factory(name: str, default_out: str | None, out_type: str) -> Callable[[Any, TransformContext], Transform]:
    """``default_out`` None: the mapping's ``defaults.datetime_format`` (UTC with or without Z)."""

    def factory(arg: Any, ctx: TransformContext) -> Transform:
        default = default_out if default_out is not None else DATETIME_FORMATS[ctx.datetime_format]
        return _date_transform(name, arg, default, out_type)

    return factory


def _date_transform(name: str, arg: Any, default_out: str, out_type: str) -> Transform:
    """One date/datetime transform writing ``default_out`` unless its argument gives a format."""
    in_fmt, out_fmt = None, default_out
    if isinstance(arg, str):
        out_fmt = arg
    elif isinstance(arg, dict):
        unknown = set(arg) - {"input", "output"}
        if unknown:
            raise ArgError(f"{name} has no option {sorted(unknown)[0]!r}", "options: input, output (strftime formats)")
        in_fmt, out_fmt = arg.get("input"), arg.get("output", default_out)
    elif arg is not None:
        raise ArgError(f"{name} takes an output format or {{input, output}}")
    for fmt in (in_fmt, out_fmt):
        if fmt is not None and (not isinstance(fmt, str) or "%" not in fmt):
            raise ArgError(f"{name} format {fmt!r} is not a strftime format", "e.g. '%Y-%m-%d'")
    try:
        datetime(2001, 2, 3, 4, 5, 6).strftime(out_fmt)
    except ValueError as exc:
        raise ArgError(f"{name} output format {out_fmt!r}: {exc}") from None
    kind = out_type if out_fmt == default_out else "str"
    fast = in_fmt is None and out_fmt == default_out
    cut = 10 if out_type == "date" else 19
    suffix = "Z" if out_type == "datetime" and default_out.endswith("Z") else ""

    def fn(value: Any) -> Any:
        if fast and type(value) is str and len(value) == 20 and value[19] == "Z" and value[10] == "T":
            # BigCommerce's own "2020-02-06T17:46:33Z": already UTC, just validate and cut
            try:
                datetime.fromisoformat(value[:19])
            except ValueError:
                pass
            else:
                return value[:cut] + suffix
        dt = parse_when(value, in_fmt)
        if dt.year < 1:
            raise TransformFailure("year out of range")
        return dt.strftime(out_fmt)

    return Transform(name, fn, kind)


_BOOL_WORDS = {"true": "true", "yes": "true", "on": "true", "false": "false", "no": "false", "off": "false"}


def lookup_key(value: Any) -> str:
    """How lookup tables and ``when`` compare values: as trimmed lower-case text; booleans and
    yes/no/on/off (which YAML 1.1 reads as booleans) as ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip().lower()
    return _BOOL_WORDS.get(text, text)


_KEEP = object()
_KIND_OF: dict[type, str] = {str: "str", int: "int", float: "float", bool: "bool"}


def _lookup(arg: Any, ctx: TransformContext) -> Transform:
    if not isinstance(arg, dict) or "map" not in arg or not isinstance(arg["map"], dict):
        raise ArgError("lookup needs a map", "e.g. `- lookup: {map: {m: MALE, f: FEMALE}, default: null}`")
    unknown = set(arg) - {"map", "default"}
    if unknown:
        raise ArgError(f"lookup has no option {sorted(unknown)[0]!r}", "options: map, default")
    table: dict[str, Any] = {}
    for k, v in arg["map"].items():
        key = lookup_key(k)
        if key in table:
            raise ArgError(f"lookup key {k!r} appears twice (keys compare case-insensitively as text)")
        table[key] = v
    fallback = arg.get("default", _KEEP)
    outputs = [v for v in table.values() if v is not None]
    if fallback is not _KEEP and fallback is not None:
        outputs.append(fallback)
    out = "any"
    if fallback is not _KEEP and outputs:
        kinds = {_KIND_OF.get(type(v), "any") for v in outputs}
        out = kinds.pop() if len(kinds) == 1 else "any"

    def fn(value: Any) -> Any:
        if isinstance(value, list | dict):
            raise TransformFailure(f"lookup expects a single value, got {type(value).__name__}")
        hit = table.get(lookup_key(value), _KEEP)
        if hit is not _KEEP:
            return hit
        return value if fallback is _KEEP else fallback

    return Transform("lookup", fn, out)


_TRUE = frozenset({"true", "yes", "y", "1", "on", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "off", "f", ""})


def to_bool(value: Any) -> bool:
    """true/false from a bool, 0/1, or yes/no/true/false/on/off text (or a one-item list)."""
    if type(value) is list and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        t = value.strip().lower()
        if t in _TRUE:
            return True
        if t in _FALSE:
            return False
    raise TransformFailure(f"cannot read {type(value).__name__} as true/false")


def to_int(value: Any) -> int:
    """A whole number from an int, an integral float or numeric text."""
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise TransformFailure("cannot read bool as a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        d = to_decimal(value)
        if d is not None and d == d.to_integral_value():
            return int(d)
    raise TransformFailure(f"cannot read {type(value).__name__} as a whole number")


def to_float(value: Any) -> float:
    """A finite decimal number from a number or numeric text."""
    if isinstance(value, bool):
        raise TransformFailure("cannot read bool as a number")
    if isinstance(value, int | float):
        f = float(value)
    else:
        d = to_decimal(value) if isinstance(value, str) else None
        if d is None:
            raise TransformFailure(f"cannot read {type(value).__name__} as a number")
        f = float(d)
    if not math.isfinite(f):
        raise TransformFailure("is not a finite number")
    return f


def to_str(value: Any) -> str:
    """Text from text, a number, or a bool (``true``/``false``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TransformFailure(f"cannot turn {type(value).__name__} into text")


CASTS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "string": (to_str, "str"),
    "integer": (to_int, "int"),
    "decimal": (to_float, "float"),
    "boolean": (to_bool, "bool"),
}

# when each cast gives back its input as is (``v - v == 0.0``: a finite float)
_CAST_KEEPS: dict[str, tuple[str, ...]] = {
    "string": ("type(v) is str",),
    "integer": ("type(v) is int",),
    "decimal": ("type(v) is float", "v - v == 0.0"),
    "boolean": ("type(v) is bool",),
}


def _cast(arg: Any, ctx: TransformContext) -> Transform:
    if arg not in CASTS:
        raise ArgError(f"cast to {arg!r} is not supported", "use one of: " + ", ".join(CASTS))
    fn, out = CASTS[arg]
    return Transform("cast", fn, out, keeps=_CAST_KEEPS[arg])


def _sum(arg: Any, ctx: TransformContext) -> Transform:
    _no_arg("sum", arg)

    def fn(values: list[Any]) -> Any:
        total = 0.0
        for v in values:
            t = type(v)
            if t is float or t is int:
                total += v
            elif v is not None and v != "":
                total += to_float(v)
        if not math.isfinite(total):
            raise TransformFailure("sum is not a finite number")
        return round(total, 6)  # 0.1 + 0.2 is 0.3 in a money column

    return Transform("sum", fn, "float", on_list=True)


def _count(arg: Any, ctx: TransformContext) -> Transform:
    _no_arg("count", arg)
    return Transform("count", lambda values: sum(1 for v in values if v is not None and v != ""), "int", on_list=True)


def _join(arg: Any, ctx: TransformContext) -> Transform:
    sep = ", " if arg is None else arg
    if not isinstance(sep, str):
        raise ArgError("join takes the separator text", "e.g. `- join: ', '`")

    def fn(values: list[Any]) -> Any:
        parts = [to_str(v) for v in values if v is not None and v != ""]
        return sep.join(parts) if parts else None

    return Transform("join", fn, "str", on_list=True)


FACTORIES: dict[str, Callable[[Any, TransformContext], Transform]] = {
    "trim": _simple("trim", str.strip, _STRIPPED),
    "collapse_spaces": _simple("collapse_spaces", _collapse_spaces, (*_STRIPPED, "'  ' not in v")),
    "strip_control": _simple("strip_control", _strip_control_text, ("type(v) is str", "v.isprintable()")),
    "lower": _simple("lower", str.lower, ("type(v) is str", "v.isascii()", "v.islower()")),
    "upper": _simple("upper", str.upper, ("type(v) is str", "v.isascii()", "v.isupper()")),
    "title": _simple("title", str.title),
    "strip_forbidden": _strip_forbidden,
    "truncate": _truncate,
    "phone_e164": _phone_e164,
    "email": _email,
    "date": _date_factory("date", "%Y-%m-%d", "date"),
    "datetime": _date_factory("datetime", None, "datetime"),
    "lookup": _lookup,
    "cast": _cast,
    "sum": _sum,
    "count": _count,
    "join": _join,
}


def build_transform(name: str, arg: Any, ctx: TransformContext) -> Transform:
    """Compile transform ``name`` with its YAML argument; ArgError when it cannot be built."""
    factory = FACTORIES.get(name)
    if factory is None:
        raise ArgError(f"unknown transform {name!r}", "known: " + ", ".join(sorted(FACTORIES)))
    return factory(arg, ctx)
