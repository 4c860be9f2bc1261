"""Run a compiled mapping over customers: one :class:`MappedRecord` per customer, never a crash.

For each field: read the source (compiled path, template or constant), apply the transform
chain, fall back to ``default``, coerce to what the People field holds and check People's
rules. A value People would refuse either rejects the whole record (``on_invalid: reject``,
the default) with a reason naming the field and the source value, or is left out
(``on_invalid: drop``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .compiler import compile_path
from .model import MISSING, FieldPlan, MappedRecord
from .people_rules import (
    CONTACTS_PER_TYPE_MAX,
    CUSTOM_PREFIX,
    CUSTOM_VALUE_MAX,
    FORBIDDEN_NAME_CHARS,
    INT64_MAX,
    PAYLOAD_ORDER,
    TAG_MAX,
    TARGETS,
    check_custom_value,
    check_target_value,
    is_valid_email,
)
from .transforms import (
    InvalidValue,
    Transform,
    TransformFailure,
    lookup_key,
    to_bool,
    to_float,
    to_int,
    to_str,
)

CONTEXT_NAMES = frozenset({"store_hash"})
_EMPTY_TYPES = frozenset({str, list, dict})
_FALSY_TEXT = frozenset({"", "false", "no", "n", "0", "off", "f", "none", "null"})
_CUSTOM_COERCE: dict[str, Callable[[Any], Any]] = {
    "STRING": to_str, "INTEGER": to_int, "DECIMAL": to_float, "BOOLEAN": to_bool,
}


def truthy(value: Any) -> bool:
    """Truth as a data engineer means it: no/false/0/off/empty are false, lists if any item is true."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in _FALSY_TEXT
    if isinstance(value, list):
        return any(truthy(v) for v in value)
    return bool(value)


def make_when(spec: Any) -> Callable[[Any], bool]:
    """Compile a ``when:`` condition: a JSONPath (truthy test) or {from, equals | in}."""
    if isinstance(spec, str):
        p = compile_path(spec)
        if p.mode == "fast-single":
            first = p.first
            return lambda doc: truthy(first(doc))
        every = p.all
        return lambda doc: truthy(every(doc))
    if not isinstance(spec, dict) or "from" not in spec or not isinstance(spec["from"], str):
        raise ValueError("expected a JSONPath or a mapping with `from:`")
    extra = set(spec) - {"from", "equals", "in"}
    if extra or ("equals" in spec) == ("in" in spec):
        raise ValueError("give `from:` and exactly one of `equals:` or `in:`")
    options = [spec["equals"]] if "equals" in spec else spec["in"]
    if not isinstance(options, list) or any(isinstance(o, list | dict) for o in options):
        raise ValueError("`in:` takes a list of plain values")
    wanted = frozenset(lookup_key(o) for o in options)
    p = compile_path(spec["from"])

    def test(doc: Any) -> bool:
        for v in p.all(doc):
            for item in v if isinstance(v, list) else (v,):
                if not isinstance(item, list | dict) and item is not None and lookup_key(item) in wanted:
                    return True
        return False

    return test


def _check_unicode(text: str) -> None:
    """Refuse text that cannot be sent as UTF-8 (a lone surrogate from JSON escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise TransformFailure("contains an invalid Unicode character (a lone surrogate)") from None


def make_finalizer(plan: FieldPlan) -> Callable[[Any], Any]:
    """A function coercing a value to what ``plan``'s People field holds; it raises
    TransformFailure (InvalidValue for contacts) when People would refuse the value."""
    kind = plan.kind
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


def check_final(plan: FieldPlan, value: Any) -> str | None:
    """Why ``value`` cannot be the final value of ``plan``'s field, or None."""
    try:
        make_finalizer(plan)(value)
    except TransformFailure as exc:
        return str(exc)
    return None


class _Rejected(Exception):
    def __init__(self, why: str) -> None:
        self.why = why


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_missing(v: Any) -> bool:
    return v is None or (not v and type(v) in _EMPTY_TYPES)


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda raw: value


def _on_one(fn: Callable[[list[Any]], Any]) -> Callable[[Any], Any]:
    return lambda v: fn([v])


def _scalar_runner(plan: FieldPlan, transforms: tuple[Transform, ...]) -> Callable[[Any], Any]:
    """A function from one raw value to the field's final value (MISSING when it ends empty
    or is dropped); raises _Rejected when the record must be rejected."""
    fns = tuple(_on_one(t.fn) if t.on_list else t.fn for t in transforms)
    final = make_finalizer(plan)
    default = plan.default
    required = plan.take == "required"
    drop = plan.on_invalid == "drop"
    empty_types = _EMPTY_TYPES
    final_default = final(default) if default is not MISSING else MISSING

    if final_default is MISSING and not required:
        # the common case, kept lean: no default, not required

        def run_plain(v: Any) -> Any:
            if v is None or (not v and type(v) in empty_types):
                return MISSING
            try:
                for fn in fns:
                    v = fn(v)
                    if v is None:
                        return MISSING
                if not v and type(v) in empty_types:
                    return MISSING
                return final(v)
            except TransformFailure as exc:
                if drop:
                    return MISSING
                raise _Rejected(str(exc)) from None

        return run_plain

    def run(v: Any) -> Any:
        try:
            if v is not None and (v or type(v) not in empty_types):
                for fn in fns:
                    v = fn(v)
                    if v is None:
                        break
            if v is None or (not v and type(v) in empty_types):
                if final_default is not MISSING:
                    return final_default
                if required:
                    raise _Rejected("required value is missing")
                return MISSING
            return final(v)
        except TransformFailure as exc:
            if drop:
                return MISSING
            raise _Rejected(str(exc)) from None

    return run


def _list_runner(plan: FieldPlan) -> Callable[[Any], Any]:
    """``take: all``: element-wise transforms until a list transform makes one value."""
    transforms = plan.transforms
    cut = next((i for i, t in enumerate(transforms) if t.on_list), None)
    each = tuple(t.fn for t in (transforms if cut is None else transforms[:cut]))
    drop = plan.on_invalid == "drop"
    empty_types = _EMPTY_TYPES
    if cut is not None:
        collapse = transforms[cut].fn
        rest = _scalar_runner(plan, transforms[cut + 1 :])
        final: Callable[[Any], Any] | None = None
    else:
        final = make_finalizer(plan)

    def run(raw: Any) -> Any:
        values = [v for v in raw if v is not None and (v or type(v) not in empty_types)]
        for fn in each:
            out = []
            for v in values:
                try:
                    v = fn(v)
                except TransformFailure as exc:
                    if drop:
                        continue
                    raise _Rejected(f"{exc} (item {_short(v)})") from None
                if v is not None and (v or type(v) not in empty_types):
                    out.append(v)
            values = out
        if final is None:
            try:
                scalar = collapse(values)
            except TransformFailure as exc:
                if drop:
                    return MISSING
                raise _Rejected(str(exc)) from None
            return rest(scalar)
        done = []
        for v in values:
            try:
                done.append(final(v))
            except TransformFailure as exc:
                if not drop:
                    raise _Rejected(f"{exc} (item {_short(v)})") from None
        return done if done else MISSING

    return run


def _reader(plan: FieldPlan) -> Callable[[Any], Any]:
    """A function customer -> raw value, for path and constant sources."""
    if plan.source_kind == "value":
        const = plan.const
        return lambda doc: const
    paths = plan.paths
    if len(paths) == 1:
        return paths[0].all if plan.take == "all" else paths[0].first
    if plan.take == "all":
        alls = tuple(p.all for p in paths)
        return lambda doc: [v for every in alls for v in every(doc)]
    firsts = tuple(p.first for p in paths)

    def coalesce(doc: Any) -> Any:
        for first in firsts:
            v = first(doc)
            if v is not None and (v or type(v) not in _EMPTY_TYPES):
                return v
        return None

    return coalesce


def _renderer(plan: FieldPlan) -> Callable[[Any, dict[str, Any]], tuple[Any, Any]]:
    """A function (customer, context) -> (rendered text or None, placeholder values)."""
    assert plan.template is not None
    parts = plan.template.parts

    def render(doc: Any, context: dict[str, Any]) -> tuple[Any, Any]:
        out: list[str] = []
        used: dict[str, Any] = {}
        missing = False
        for kind, ref in parts:
            if kind == "lit":
                out.append(ref)
                continue
            if kind == "ctx":
                v, name = context.get(ref), ref
            else:
                v, name = ref.first(doc), ref.text
            used[name] = v
            if v is None or (not v and type(v) in _EMPTY_TYPES):
                missing = True
            elif type(v) is str:
                out.append(v)
            elif isinstance(v, bool) or not isinstance(v, int | float):
                raise _Rejected(f"template placeholder {{{name}}} is a {type(v).__name__}, not a single value")
            else:
                out.append(str(v))
        return (None if missing else "".join(out)), used

    return render


_SINKS = {"std": 0, "custom": 1, "tags": 2, "email": 3, "phone": 4}


@dataclass
class Mapping:
    """A compiled mapping file: ``map`` turns a BigCommerce customer into a People person."""

    path: str
    sha256: str
    version: int
    plans: list[FieldPlan]
    on_deleted: dict[str, Any]
    phone_region: str | None = None
    custom_attributes: dict[str, str] = field(init=False)
    fixed_tags: list[str] = field(init=False)
    _steps: tuple[Any, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.custom_attributes = {
            p.target[len(CUSTOM_PREFIX):]: p.custom_type for p in self.plans if p.kind == "custom"  # type: ignore[misc]
        }
        tags: list[str] = []
        for p in self.plans:
            if p.kind == "tags" and p.source_kind == "value" and p.when is None:
                value = _scalar_runner(p, p.transforms)(p.const)
                if value is not MISSING and value not in tags:
                    tags.append(value)
        if self.on_deleted.get("tag") and self.on_deleted["tag"] not in tags:
            pass  # the deletion tag is not a fixed tag of live persons
        self.fixed_tags = tags
        steps = []
        for p in self.plans:
            run = _list_runner(p) if p.take == "all" else _scalar_runner(p, p.transforms)
            if p.source_kind == "value":  # a constant: transform and check it once, here
                run = _constant(run(p.const))
            key = p.target[len(CUSTOM_PREFIX):] if p.kind == "custom" else p.target
            clear: Any = MISSING
            if p.on_empty == "clear":
                clear = "" if (p.std is not None and p.std.kind == "string") or p.custom_type == "STRING" else None
            read = _reader(p) if p.source_kind != "template" else None
            render = _renderer(p) if p.source_kind == "template" else None
            steps.append((p.label, p.when, read, render, run, _SINKS[p.kind], key, p.primary, clear, p))
        self._steps = tuple(steps)

    @property
    def targets(self) -> list[str]:
        """The People fields this mapping fills, in file order (repeats once)."""
        return list(dict.fromkeys(p.target for p in self.plans))

    def map(self, customer: Any, context: dict[str, Any]) -> MappedRecord:
        """Map one customer; the result carries a payload or a rejection, never raises for data."""
        if not context.get("store_hash"):
            raise ValueError("mapping context needs a store_hash")
        if type(customer) is not dict:
            return MappedRecord(None, None, None, f"customer is not a JSON object: {_short(customer)}", None, {})
        sources: dict[str, Any] = {}
        std: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        tags: list[str] = []
        emails: list[tuple[str, bool]] = []
        phones: list[tuple[str, bool]] = []
        rejection: str | None = None
        rejection_field: str | None = None
        for label, when, read, render, run, sink, key, primary, clear, plan in self._steps:
            if when is not None and not when(customer):
                continue
            try:
                if render is None:
                    raw = sources[label] = read(customer)
                else:
                    raw, sources[label] = render(customer, context)
                if rejection is not None:
                    continue  # keep collecting sources for the preview
                value = run(raw)
            except _Rejected as exc:
                if rejection is None:
                    rejection = f"{plan.target}: {exc.why} (source {plan.source_text} = {_short(sources.get(label))})"
                    rejection_field = plan.target
                continue
            if value is MISSING:
                if clear is not MISSING:
                    (std if sink == 0 else custom)[key] = clear
            elif sink == 0:
                std[key] = value
            elif sink == 1:
                custom[key] = value
            elif sink == 2:
                if type(value) is list:
                    tags.extend(value)
                else:
                    tags.append(value)
            else:
                bucket = emails if sink == 3 else phones
                if type(value) is list:
                    bucket.extend((v, primary and n == 0) for n, v in enumerate(value))
                else:
                    bucket.append((value, primary))
        customer_id = customer.get("id")
        external_id = std.get("externalId")
        if rejection is None and not external_id:
            rejection, rejection_field = (
                f"externalId: no value, so People could not match this person (sources {_short(sources.get('externalId'))})",
                "externalId",
            )
        if rejection is None:
            payload = _payload(std, custom, tags, emails, phones)
            if isinstance(payload, str):
                rejection, rejection_field = payload, payload.split(":", 1)[0]
            else:
                return MappedRecord(customer_id, external_id, payload, None, None, sources)
        return MappedRecord(customer_id, external_id, None, rejection, rejection_field, sources)

    def map_many(self, customers: Iterable[Any], context: dict[str, Any]) -> Iterator[MappedRecord]:
        """Map many customers with one context."""
        mapper = self.map
        for customer in customers:
            yield mapper(customer, context)


def _contacts(kind: str, items: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    for ident, primary in items:
        key = ident.lower() if kind == "EMAIL" else ident
        entry = seen.get(key)
        if entry is None:
            entry = {"type": kind, "identifier": ident}
            seen[key] = entry
            out.append(entry)
        if primary:
            entry["primary"] = True
    return out


def _payload(std: dict[str, Any], custom: dict[str, Any], tags: list[str],
             emails: list[tuple[str, bool]], phones: list[tuple[str, bool]]) -> dict[str, Any] | str:
    """The canonical person (stable key order, no empties), or a rejection reason."""
    payload = {k: std[k] for k in PAYLOAD_ORDER if k in std}
    contacts = _contacts("EMAIL", emails) + _contacts("PHONE", phones)
    if contacts:
        for kind in ("EMAIL", "PHONE"):
            n = sum(1 for c in contacts if c["type"] == kind)
            if n > CONTACTS_PER_TYPE_MAX:
                target = kind.lower()
                return f"{target}: {n} {target}s, People allows {CONTACTS_PER_TYPE_MAX} per person"
        payload["contactInformation"] = contacts
    if tags:
        payload["tags"] = sorted(set(tags))
    if custom:
        payload["customAttributes"] = {k: custom[k] for k in sorted(custom)}
    return payload
