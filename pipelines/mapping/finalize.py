"""The last step of every field: coerce the value to what its People field holds, and refuse
what People would refuse (lengths, forbidden name characters, enums, dates, contacts, types)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bc2people.destinations.people.rules import (
    CUSTOM_VALUE_MAX,
    FORBIDDEN_NAME_CHARS,
    INT64_MAX,
    TAG_MAX,
    TARGETS,
    check_custom_value,
    check_target_value,
    is_datetime,
    is_valid_email,
)

from .model import FieldPlan
from .transforms import InvalidValue, TransformFailure, to_bool, to_float, to_int, to_str

_CUSTOM_COERCE: dict[str, Callable[[Any], Any]] = {
    "STRING": to_str, "INTEGER": to_int, "DECIMAL": to_float, "BOOLEAN": to_bool,
}


def _check_unicode(text: str) -> None:
    """Refuse text that cannot be sent as UTF-8 (a lone surrogate from JSON escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise TransformFailure("contains an invalid Unicode character (a lone surrogate)") from None


def make_finalizer(plan: FieldPlan, email_checked: bool = False) -> Callable[[Any], Any]:
    """A function coercing a value to what ``plan``'s People field holds; it raises
    TransformFailure (InvalidValue for contacts) when People would refuse the value.

    ``email_checked``: every value comes straight out of the ``email`` transform, which already
    refused what ``is_valid_email`` refuses (so an email field need not check it twice)."""
    kind = plan.kind
    if kind == "email" and email_checked:
        return _checked_email
    if kind == "std":
        target = plan.std
        assert target is not None
        if target.kind == "string":
            max_len, is_name = target.max_len or 0, target.is_name

            def fin_string(v: Any) -> Any:
                if type(v) is not str:
                    if isinstance(v, bool) or not isinstance(v, int | float):
                        raise TransformFailure(f"must be text, got {type(v).__name__}")
                    v = str(v)
                if len(v) > max_len or (is_name and not FORBIDDEN_NAME_CHARS.isdisjoint(v)):
                    why = check_target_value(target, v)
                    if why:
                        raise TransformFailure(why)
                if not v.isascii():
                    _check_unicode(v)
                return v

            return fin_string

        def fin_std(v: Any) -> Any:
            if type(v) is not str:
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise TransformFailure(f"must be text, got {type(v).__name__}")
                v = str(v)
            why = check_target_value(target, v)
            if why:
                raise TransformFailure(why)
            if not v.isascii():
                _check_unicode(v)
            return v

        return fin_std
    if kind == "custom":
        data_type = plan.custom_type
        assert data_type is not None
        if data_type == "STRING":

            def fin_custom_string(v: Any) -> Any:
                if type(v) is not str:
                    v = to_str(v)
                if len(v) > CUSTOM_VALUE_MAX:
                    raise TransformFailure(check_custom_value("STRING", v) or "too long")
                if not v.isascii():
                    _check_unicode(v)
                return v

            return fin_custom_string
        if data_type == "BOOLEAN":

            def fin_bool(v: Any) -> Any:
                return v if type(v) is bool else to_bool(v)

            return fin_bool
        if data_type == "INTEGER":

            def fin_int(v: Any) -> Any:
                if type(v) is not int:
                    v = to_int(v)
                if -INT64_MAX <= v <= INT64_MAX:
                    return v
                raise TransformFailure("is out of People's INTEGER range")

            return fin_int
        if data_type == "DECIMAL":

            def fin_decimal(v: Any) -> Any:
                if type(v) is not float:
                    v = to_float(v)
                if -INT64_MAX <= v <= INT64_MAX:  # also false for NaN
                    return v
                raise TransformFailure("is out of People's DECIMAL range" if v == v else "must be a finite number")

            return fin_decimal
        if data_type == "DATE_TIME":

            def fin_datetime(v: Any) -> Any:
                if isinstance(v, str) and is_datetime(v):
                    return v
                raise TransformFailure(check_custom_value(data_type, v) or "is not a UTC date-time")

            return fin_datetime
        coerce = _CUSTOM_COERCE.get(data_type)

        def fin_custom(v: Any) -> Any:
            if coerce is not None:
                v = coerce(v)
            why = check_custom_value(data_type, v)
            if why:
                raise TransformFailure(why)
            return v

        return fin_custom

    def as_text(v: Any) -> str:
        if type(v) is str:
            if not v.isascii():
                _check_unicode(v)
            return v
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise TransformFailure(f"must be text, got {type(v).__name__}")
        return str(v)

    if kind == "tags":

        def fin_tag(v: Any) -> Any:
            v = as_text(v)
            if len(v) > TAG_MAX:
                raise TransformFailure(f"tag is {len(v)} characters, People allows {TAG_MAX}")
            return v

        return fin_tag
    if kind == "email":

        def fin_email(v: Any) -> Any:
            v = as_text(v)
            if not is_valid_email(v):
                raise InvalidValue("is not a valid email address (add the email transform)")
            return v

        return fin_email
    phone_target = TARGETS["phone"]

    def fin_phone(v: Any) -> Any:
        v = as_text(v)
        why = check_target_value(phone_target, v)
        if why:
            raise InvalidValue(why)
        return v

    return fin_phone


def final_keeps(plan: FieldPlan, email_checked: bool = False) -> tuple[str, ...] | None:
    """Conditions on a non-empty ``v`` (as in :attr:`.transforms.Transform.keeps`) under which
    ``make_finalizer(plan, email_checked)(v)`` is ``v`` itself; None: no such shortcut.
    (Printable text holds no lone surrogate, so it encodes as UTF-8.)"""
    kind = plan.kind
    utf8 = "v.isascii() or v.isprintable()"
    if kind == "email" and email_checked:
        return ()
    if kind == "std":
        target = plan.std
        if target is None or target.kind != "string":
            return None
        name = ("_FORBIDDEN.isdisjoint(v)",) if target.is_name else ()
        return ("type(v) is str", f"len(v) <= {int(target.max_len or 0)}", *name, utf8)
    if kind == "custom":
        return {
            "STRING": ("type(v) is str", f"len(v) <= {CUSTOM_VALUE_MAX}", utf8),
            "BOOLEAN": ("type(v) is bool",),
            "INTEGER": ("type(v) is int", f"-{INT64_MAX} <= v <= {INT64_MAX}"),
            "DECIMAL": ("type(v) is float", f"-{INT64_MAX} <= v <= {INT64_MAX}"),
        }.get(plan.custom_type or "")
    if kind == "tags":
        return ("type(v) is str", utf8, f"len(v) <= {TAG_MAX}")
    return None


def chain_keeps(plan: FieldPlan) -> tuple[str, ...] | None:
    """Conditions on a non-empty raw ``v`` under which ``plan``'s whole scalar chain (every
    transform, then the finalizer) gives back ``v`` itself, or None: no such shortcut."""
    parts: list[str] = []
    for t in plan.transforms:
        if t.keeps is None or t.on_list:
            return None
        parts.extend(t.keeps)
    email_checked = bool(plan.transforms) and plan.transforms[-1].name == "email"
    final = final_keeps(plan, email_checked)
    if final is None:
        return None
    return tuple(dict.fromkeys([*parts, *final]))


def keeps_expr(conditions: tuple[str, ...]) -> str:
    """The Python expression in ``v`` that holds when every one of ``conditions`` does."""
    return " and ".join(f"({c})" for c in conditions) or "True"


def compile_keeps(conditions: tuple[str, ...]) -> Callable[[Any], bool]:
    """``conditions`` as a function of ``v`` (what the generated code inlines; for tests)."""
    fn: Callable[[Any], bool] = eval(f"lambda v: {keeps_expr(conditions)}", {"_FORBIDDEN": FORBIDDEN_NAME_CHARS})  # noqa: S307
    return fn


def _checked_email(v: Any) -> Any:
    """The email transform's output: ASCII text ``is_valid_email`` accepted."""
    return v


def check_final(plan: FieldPlan, value: Any) -> str | None:
    """Why ``value`` cannot be the final value of ``plan``'s field, or None."""
    try:
        make_finalizer(plan)(value)
    except TransformFailure as exc:
        return str(exc)
    return None
