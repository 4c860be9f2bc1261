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

from bc2people.destinations.people.rules import (
    CONTACTS_PER_TYPE_MAX,
    CUSTOM_PREFIX,
    PAYLOAD_ORDER,
)

from .codegen import build_field_mapper
from .compiler import keys_read_under
from .events import EventsSpec
from .finalize import make_finalizer
from .model import MISSING, FieldPlan, MappedRecord
from .traits import TRAITS_ROOT, TraitsSpec
from .transforms import (
    Transform,
    TransformFailure,
)

CONTEXT_NAMES = frozenset({"store_hash"})
_EMPTY_TYPES = frozenset({str, list, dict})


class _Rejected(Exception):
    def __init__(self, why: str) -> None:
        self.why = why


class _Dropped:
    """A value (or some items of a list) left out under ``on_invalid: drop``, with why."""

    __slots__ = ("value", "why")

    def __init__(self, value: Any, why: str) -> None:
        self.value = value
        self.why = why


def _with_drops(value: Any, why: list[str]) -> Any:
    """``value`` as is, or wrapped in `_Dropped` when items were dropped on the way."""
    if not why:
        return value
    if type(value) is _Dropped:
        return _Dropped(value.value, "; ".join([*why, value.why]))
    return _Dropped(value, "; ".join(why))


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
    final = make_finalizer(plan, email_checked=bool(transforms) and transforms[-1].name == "email")
    default = plan.default
    required = plan.take == "required"
    drop = plan.on_invalid == "drop"
    empty_types = _EMPTY_TYPES
    final_default = make_finalizer(plan)(default) if default is not MISSING else MISSING

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
                    return _Dropped(MISSING, str(exc))
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
                return _Dropped(MISSING, str(exc))
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
        final = make_finalizer(plan, email_checked=bool(each) and transforms[-1].name == "email")

    def run(raw: Any) -> Any:
        values = [v for v in raw if v is not None and (v or type(v) not in empty_types)]
        why: list[str] = []
        for fn in each:
            out = []
            for v in values:
                try:
                    v = fn(v)
                except TransformFailure as exc:
                    if drop:
                        why.append(f"{exc} (item {_short(v)})")
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
                    return _Dropped(MISSING, "; ".join([*why, str(exc)]))
                raise _Rejected(str(exc)) from None
            return _with_drops(rest(scalar), why)
        done = []
        for v in values:
            try:
                done.append(final(v))
            except TransformFailure as exc:
                if not drop:
                    raise _Rejected(f"{exc} (item {_short(v)})") from None
                why.append(f"{exc} (item {_short(v)})")
        return _with_drops(done if done else MISSING, why)

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


def loop_fields(steps: tuple[Any, ...], customer: dict[str, Any], context: dict[str, Any], sources: dict[str, Any],
                std: dict[str, Any], custom: dict[str, Any], tags: list[str], emails: list[tuple[str, bool]],
                phones: list[tuple[str, bool]], dropped: list[tuple[str, str]]) -> tuple[str | None, str | None]:
    """The field loop as a plain loop over the mapping's steps: the definition the generated
    function of :mod:`.codegen` is held equal to (tests), and easier to read."""
    rejection: str | None = None
    rejection_field: str | None = None
    for label, when, read, render, run, sink, key, primary, clear, plan in steps:
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
        if type(value) is _Dropped:
            dropped.append((plan.target, f"{value.why} (source {plan.source_text} = {_short(sources.get(label))})"))
            value = value.value
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
    return rejection, rejection_field


def _std_order(keys: list[str]) -> tuple[str, ...] | None:
    """None when the std fields, each written by one step, come in ``PAYLOAD_ORDER`` (so the
    std dict is filled in payload order), else the payload order of the keys they write."""
    if len(set(keys)) == len(keys) and all(k in PAYLOAD_ORDER for k in keys):
        ranks = [PAYLOAD_ORDER.index(k) for k in keys]
        if ranks == sorted(ranks):
            return None
    return tuple(k for k in PAYLOAD_ORDER if k in keys)


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
    removed_attributes: str = "leave"  # custom attributes the mapping stopped sending: leave | clear (set to null)
    traits: TraitsSpec | None = None  # the per-customer traits SQL, read as $.traits.<column>
    events: EventsSpec | None = None  # the `events` section (commerce events for People)
    source: bytes | None = field(default=None, repr=False)  # the file's bytes: how another process rebuilds it
    custom_attributes: dict[str, str] = field(init=False)
    fixed_tags: list[str] = field(init=False)
    _steps: tuple[Any, ...] = field(init=False, repr=False)
    _fields: Callable[..., tuple[str | None, str | None]] = field(init=False, repr=False)
    _std_order: tuple[str, ...] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.custom_attributes = {
            p.target[len(CUSTOM_PREFIX):]: p.custom_type for p in self.plans if p.kind == "custom"  # type: ignore[misc]
        }
        tags: list[str] = []
        for p in self.plans:
            if p.kind == "tags" and p.source_kind == "value" and p.when is None:
                value = _scalar_runner(p, p.transforms)(p.const)
                if value is not MISSING and type(value) is not _Dropped and value not in tags:
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
        self._std_order = _std_order([s[6] for s in steps if s[5] == 0])
        self._fields = build_field_mapper(self._steps, _Rejected, _Dropped, _short)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its text, compiled again where it is unpickled (generated code and
        closures cannot travel to a worker process)."""
        if self.source is None:
            raise TypeError(f"mapping {self.path} was built without its text and cannot be sent to another process")
        from .loader import load_mapping_bytes

        return (load_mapping_bytes, (self.source, self.path))

    @property
    def targets(self) -> list[str]:
        """The People fields this mapping fills, in file order (repeats once)."""
        return list(dict.fromkeys(p.target for p in self.plans))

    def traits_read(self) -> frozenset[str] | None:
        """The trait columns the fields read (``$.traits.<column>``); None when a path may read
        any of them. Only these columns' changes re-map a customer."""
        read: set[str] = set()
        for plan in self.plans:
            for expr in plan.reads:
                keys = keys_read_under(expr, TRAITS_ROOT)
                if keys is None:
                    return None
                read |= keys
        return frozenset(read)

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
        dropped: list[tuple[str, str]] = []
        rejection, rejection_field = self._fields(customer, context, sources, std, custom, tags, emails, phones, dropped)
        customer_id = customer.get("id")
        external_id = std.get("externalId")
        if rejection is None and not external_id:
            rejection, rejection_field = (
                f"externalId: no value, so People could not match this person (sources {_short(sources.get('externalId'))})",
                "externalId",
            )
        if rejection is None:
            payload = _payload(std, custom, tags, emails, phones, self._std_order)
            if isinstance(payload, str):
                rejection, rejection_field = payload, payload.split(":", 1)[0]
            else:
                return MappedRecord(customer_id, external_id, payload, None, None, sources, dropped)
        return MappedRecord(customer_id, external_id, None, rejection, rejection_field, sources, dropped)

    def map_many(self, customers: Iterable[Any], context: dict[str, Any]) -> Iterator[MappedRecord]:
        """Map many customers with one context."""
        mapper = self.map
        for customer in customers:
            yield mapper(customer, context)


def _contacts(kind: str, items: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    if len(items) == 1:  # the usual case: one contact, nothing to merge
        ident, primary = items[0]
        return [{"type": kind, "identifier": ident, "primary": True} if primary else {"type": kind, "identifier": ident}]
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
             emails: list[tuple[str, bool]], phones: list[tuple[str, bool]],
             std_order: tuple[str, ...] | None = None) -> dict[str, Any] | str:
    """The canonical person (stable key order, no empties), or a rejection reason.

    ``std_order``: None when ``std`` is known to hold its keys in ``PAYLOAD_ORDER`` already
    (it is then used as the payload), else the order to copy them in."""
    payload = std if std_order is None else {k: std[k] for k in std_order if k in std}
    if emails or phones:
        contacts = _contacts("EMAIL", emails) if emails else []
        if len(contacts) > CONTACTS_PER_TYPE_MAX:
            return f"email: {len(contacts)} emails, People allows {CONTACTS_PER_TYPE_MAX} per person"
        if phones:
            more = _contacts("PHONE", phones)
            if len(more) > CONTACTS_PER_TYPE_MAX:
                return f"phone: {len(more)} phones, People allows {CONTACTS_PER_TYPE_MAX} per person"
            contacts += more
        payload["contactInformation"] = contacts
    if tags:
        payload["tags"] = sorted(set(tags))
    if custom:
        payload["customAttributes"] = {k: custom[k] for k in sorted(custom)}
    return payload
