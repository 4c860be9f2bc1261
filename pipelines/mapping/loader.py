"""Read a mapping YAML file, check every part of it, and compile it into a :class:`Mapping`.

Every problem is collected as an :class:`Issue` with file, line and column (1-based) before
anything is raised, so a data engineer sees all of them at once; nothing here lets a Python
traceback escape for bad input.
"""

from __future__ import annotations

import difflib
import hashlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from bc2people.destinations.people.rules import (
    CUSTOM_ATTRIBUTE_TYPES,
    CUSTOM_NAME_FORBIDDEN,
    CUSTOM_NAME_MAX,
    CUSTOM_PREFIX,
    CUSTOM_VALUE_MAX,
    DATETIME_FORMATS,
    DEFAULT_DATETIME_FORMAT,
    TARGETS,
)

from .compiler import (
    PathSyntaxError,
    TemplateSyntaxError,
    compile_path,
    compile_template,
)
from .conditions import make_when
from .engine import CONTEXT_NAMES, Mapping
from .events import parse_events
from .finalize import check_final
from .model import MISSING, FieldPlan, Issue, MappingError
from .traits import DEFAULT_KEY, TraitsSpec, check_traits
from .transforms import ArgError, Transform, TransformContext, TransformFailure, build_transform

Pos = tuple[int, int]
PathKey = tuple[Any, ...]

TOP_KEYS = {"version", "description", "defaults", "on_deleted", "removed_attributes", "traits", "events", "fields"}
REMOVED_ATTRIBUTES = ("leave", "clear")
TRAITS_KEYS = {"sql", "key"}
FIELD_KEYS = {"to", "from", "template", "value", "take", "default", "transforms", "when",
              "on_invalid", "on_empty", "type", "primary", "note"}
SUPPORTED_VERSIONS = (1,)
DEFAULT_KEYS = ("phone_region", "datetime_format")

# Which transform outputs a custom attribute type can hold (runtime coercion does the rest).
_FITS = {
    "STRING": {"str", "any", "int", "float", "bool", "date", "datetime"},
    "INTEGER": {"int", "any", "str", "float"},
    "DECIMAL": {"int", "float", "any", "str"},
    "BOOLEAN": {"bool", "any", "str", "int"},
    "DATE": {"date", "any", "str"},
    "DATE_TIME": {"datetime", "any", "str"},
}
_FIT_HINT = {
    "INTEGER": "end the chain with `- cast: integer`",
    "DECIMAL": "end the chain with `- cast: decimal`",
    "BOOLEAN": "end the chain with `- cast: boolean`",
    "DATE": "use the `date` transform (YYYY-MM-DD)",
    "DATE_TIME": "use the `datetime` transform (UTC YYYY-MM-DDTHH:MM:SSZ, see defaults.datetime_format)",
}


class _Doc:
    """YAML turned into plain Python, remembering where each part was written."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.pos: dict[PathKey, Pos] = {}
        self.issues: list[Issue] = []
        self._ctor = yaml.constructor.SafeConstructor()

    def where(self, path: PathKey) -> Pos:
        while path and path not in self.pos:
            path = path[:-1]
        return self.pos.get(path, (1, 1))

    def add(self, path: PathKey, field: str, message: str, hint: str = "") -> None:
        line, col = self.where(path)
        self.issues.append(Issue(self.file, line, col, field, message, hint))

    def build(self, node: yaml.Node, path: PathKey, active: frozenset[int] = frozenset()) -> Any:
        self.pos[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if id(node) in active:  # an alias that contains itself
            self.add(path, ".".join(map(str, path)) or "mapping", "a YAML alias refers to itself", "remove the alias")
            return None
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            active = active | {id(node)}
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node, (*path, "__key__"), active)
                if isinstance(key, list | dict):
                    self.add((*path, "__key__"), ".".join(map(str, path)) or "mapping", "a key must be plain text")
                    continue
                if key in out:
                    self.pos[(*path, key, "__dup__")] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                    self.add((*path, key, "__dup__"), str(key), f"key {key!r} is written twice here",
                             "YAML would silently keep only the last one; remove one")
                    continue
                self.pos[(*path, key, "__key__")] = self.pos.pop((*path, "__key__"))
                out[key] = self.build(value_node, (*path, key), active)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), active) for i, item in enumerate(node.value)]
        try:
            value = self._ctor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            self.add(path, ".".join(map(str, path)) or "value", f"cannot read this YAML value: {problem}",
                     "quote it to make it plain text; custom !tags are not supported")
            return None
        if isinstance(value, datetime | date):
            value = value.isoformat()
        return value


def _field_name(f: dict[str, Any], index: int) -> str:
    to = f.get("to")
    return str(to) if isinstance(to, str) and to else f"fields[{index}]"


def _parse_transforms(doc: _Doc, raw: Any, path: PathKey, name: str) -> list[tuple[str, Any, PathKey]] | None:
    if raw is None:
        return []
    if not isinstance(raw, list):
        doc.add(path, name, "transforms must be a list", "e.g. `transforms: [trim, lower]`")
        return None
    out: list[tuple[str, Any, PathKey]] = []
    for i, item in enumerate(raw):
        p = (*path, i)
        if isinstance(item, str):
            out.append((item, None, p))
        elif isinstance(item, dict) and len(item) == 1:
            (tname, arg), = item.items()
            out.append((str(tname), arg, p))
        else:
            doc.add(p, name, "a transform is a name or a one-key mapping name: argument",
                    "e.g. `- trim` or `- truncate: 50`")
            return None
    return out


def _check_kind_fits(doc: _Doc, plan: FieldPlan, out_kind: str, path: PathKey) -> None:
    name = plan.target
    if plan.kind == "custom":
        assert plan.custom_type is not None
        if out_kind not in _FITS[plan.custom_type]:
            doc.add(path, name, f"the {plan.custom_type} attribute cannot hold a {out_kind} value",
                    _FIT_HINT.get(plan.custom_type, "check the transforms"))
    elif out_kind == "bool":
        doc.add(path, name, f"{name} takes text, not true/false", "use a lookup to turn it into text")
    elif plan.std is not None and plan.std.kind == "date" and out_kind == "datetime":
        doc.add(path, name, f"{name} is a date (YYYY-MM-DD), not a date-time", "use the `date` transform")
    elif plan.kind in ("email", "phone") and out_kind in ("int", "float", "date", "datetime"):
        doc.add(path, name, f"{name} takes text", "remove the cast")


def _compile_field(doc: _Doc, f: Any, index: int, phone_region: str | None,
                   datetime_format: str = DEFAULT_DATETIME_FORMAT) -> FieldPlan | None:
    path: PathKey = ("fields", index)
    if not isinstance(f, dict):
        doc.add(path, f"fields[{index}]", "each field must be a mapping with `to:` and a source",
                "e.g. `- to: firstName` / `  from: $.first_name`")
        return None
    name = _field_name(f, index)
    bad = False
    for key in f:
        if key not in FIELD_KEYS:
            close = difflib.get_close_matches(str(key), FIELD_KEYS, 1)
            doc.add((*path, key, "__key__"), name, f"unknown option {key!r}",
                    f"did you mean {close[0]!r}?" if close else "options: " + ", ".join(sorted(FIELD_KEYS)))
            bad = True
    to = f.get("to")
    if not isinstance(to, str) or not to:
        doc.add(path, name, "missing `to:` (the People field this fills)", "e.g. `to: firstName`")
        return None
    std = TARGETS.get(to)
    custom_type = None
    if std is not None:
        kind = std.kind if std.kind in ("tags", "email", "phone") else "std"
        if "type" in f:
            doc.add((*path, "type"), name, "`type:` is only for customAttributes.<name>", "remove it")
            bad = True
    elif to.startswith(CUSTOM_PREFIX):
        kind = "custom"
        attr = to[len(CUSTOM_PREFIX):]
        if not attr or len(attr) > CUSTOM_NAME_MAX or not CUSTOM_NAME_FORBIDDEN.isdisjoint(attr):
            doc.add((*path, "to"), name, "invalid custom attribute name",
                    f"1..{CUSTOM_NAME_MAX} characters, none of {{}}[]")
            bad = True
        custom_type = f.get("type")
        if custom_type is None:
            doc.add((*path, "to"), name, "custom attribute has no type",
                    "add `type:` one of " + ", ".join(CUSTOM_ATTRIBUTE_TYPES))
            bad = True
        elif custom_type not in CUSTOM_ATTRIBUTE_TYPES:
            up = str(custom_type).upper()
            doc.add((*path, "type"), name, f"unknown People data type {custom_type!r}",
                    f"did you mean {up!r}?" if up in CUSTOM_ATTRIBUTE_TYPES else "one of " + ", ".join(CUSTOM_ATTRIBUTE_TYPES))
            bad = True
    else:
        close = difflib.get_close_matches(to, [*TARGETS, "customAttributes.NAME"], 1)
        doc.add((*path, "to"), name, f"unknown People field {to!r}",
                (f"did you mean {close[0]!r}? " if close else "") + "targets: " + ", ".join(TARGETS) + ", customAttributes.<name>")
        for n, expr in enumerate(f["from"] if isinstance(f.get("from"), list) else [f.get("from")]):
            if isinstance(expr, str):  # still report a broken JSONPath in the same pass
                try:
                    compile_path(expr)
                except PathSyntaxError as exc:
                    where = (*path, "from", n) if isinstance(f["from"], list) else (*path, "from")
                    doc.add(where, name, f"JSONPath {expr!r} does not parse: {exc}", "")
        return None

    sources = [k for k in ("from", "template", "value") if k in f]
    if len(sources) != 1:
        doc.add(path, name, "needs exactly one of `from:`, `template:` or `value:`" if not sources
                else f"has both {' and '.join(sources)}; keep one",
                "from: a JSONPath; template: 'text {$.path}'; value: a constant")
        return None
    source_kind = {"from": "path", "template": "template", "value": "value"}[sources[0]]
    plan = FieldPlan(label=to, target=to, kind=kind, std=std, custom_type=custom_type,
                     source_kind=source_kind,
                     source_text=" or ".join(map(str, f[sources[0]])) if isinstance(f[sources[0]], list) else str(f[sources[0]]))
    src_path = (*path, sources[0])
    if source_kind == "path":
        exprs = f["from"] if isinstance(f["from"], list) else [f["from"]]
        if not exprs:
            doc.add(src_path, name, "from: is an empty list", "give a JSONPath, or a list of them to try in order")
            bad = True
        compiled = []
        for n, expr in enumerate(exprs):
            where = (*src_path, n) if isinstance(f["from"], list) else src_path
            if not isinstance(expr, str):
                doc.add(where, name, f"from: {expr!r} is not a JSONPath", "write it as text, e.g. $.first_name")
                bad = True
                continue
            try:
                compiled.append(compile_path(expr))
            except PathSyntaxError as exc:
                doc.add(where, name, f"JSONPath {expr!r} does not parse: {exc}",
                        "e.g. $.first_name, $.addresses[0].city, $.form_fields[?(@.name=='x')].value")
                bad = True
        plan.paths = tuple(compiled)
        plan.reads = tuple(p.text for p in compiled)
    elif source_kind == "template":
        if not isinstance(f["template"], str):
            doc.add(src_path, name, "template must be text", "e.g. 'bc-{store_hash}-{$.id}'")
            bad = True
        else:
            try:
                plan.template = compile_template(f["template"], CONTEXT_NAMES)
                plan.reads = tuple(part[1].text for part in plan.template.parts if part[0] == "path")
            except TemplateSyntaxError as exc:
                doc.add(src_path, name, f"template {f['template']!r}: {exc}",
                        "placeholders are {store_hash} or {$.json.path}; write {{ and }} for braces")
                bad = True
    else:
        plan.const = f["value"]
        if isinstance(plan.const, list | dict) or plan.const is None:
            doc.add(src_path, name, "value must be a single text, number or true/false", "")
            bad = True

    take = f.get("take", "first")
    if take not in ("first", "all", "required"):
        doc.add((*path, "take"), name, f"unknown take {take!r}", "one of: first, all, required")
        bad = True
    elif take != "first" and source_kind != "path":
        doc.add((*path, "take"), name, "take applies only to `from:`", "remove it")
        bad = True
    plan.take = take if isinstance(take, str) else "first"

    for opt, allowed in (("on_invalid", ("reject", "drop")), ("on_empty", ("omit", "clear"))):
        val = f.get(opt, allowed[0])
        if val not in allowed:
            doc.add((*path, opt), name, f"unknown {opt} {val!r}", "one of: " + ", ".join(allowed))
            bad = True
        else:
            setattr(plan, opt, val)
    if plan.on_empty == "clear" and (kind in ("tags", "email", "phone") or to == "externalId"):
        doc.add((*path, "on_empty"), name, f"on_empty: clear is not possible for {to}", "remove it")
        bad = True
    primary = f.get("primary", False)
    if not isinstance(primary, bool):
        doc.add((*path, "primary"), name, f"primary must be true or false, not {primary!r}", "primary: true")
    elif primary and kind not in ("email", "phone"):
        doc.add((*path, "primary"), name, "primary: true is only for email and phone fields", "")
        bad = True
    plan.primary = primary is True

    if "when" in f:
        try:
            plan.when = make_when(f["when"])
            when_from = f["when"]["from"] if isinstance(f["when"], dict) else f["when"]
            plan.reads = (*plan.reads, when_from)
        except (ValueError, PathSyntaxError) as exc:
            doc.add((*path, "when"), name, f"bad when: {exc}",
                    "when: $.path (truthy), or {from: $.path, equals: X} / {from: $.path, in: [X, Y]}")
            bad = True

    max_len = std.max_len if std is not None else (CUSTOM_VALUE_MAX if custom_type == "STRING" else None)
    tctx = TransformContext(to, max_len, phone_region, datetime_format)
    specs = _parse_transforms(doc, f.get("transforms"), (*path, "transforms"), name)
    if specs is None:
        return None
    transforms: list[Transform] = []
    list_mode = plan.take == "all"
    for tname, arg, tpath in specs:
        try:
            t = build_transform(tname, arg, tctx)
        except ArgError as exc:
            doc.add(tpath, name, str(exc), exc.hint)
            bad = True
            continue
        if t.on_list and not list_mode:
            doc.add(tpath, name, f"{tname} works on a list of matches", "add `take: all`")
            bad = True
        if t.on_list:
            list_mode = False
        transforms.append(t)
    if list_mode and kind not in ("tags", "email", "phone"):
        doc.add((*path, "take"), name, f"take: all gives a list, but {to} holds one value",
                "add a list transform (join, sum, count), or use take: first")
        bad = True
    plan.transforms = tuple(transforms)
    if bad:
        return None

    if transforms:
        out_kind = transforms[-1].out
    elif source_kind == "value":
        out_kind = {bool: "bool", int: "int", float: "float"}.get(type(plan.const), "str")
    else:
        out_kind = "str" if source_kind == "template" else "any"
    _check_kind_fits(doc, plan, out_kind, (*path, "transforms") if transforms else src_path)

    if source_kind == "value":
        value: Any = plan.const
        try:
            for t in transforms:
                value = t.fn([value]) if t.on_list else t.fn(value)
            why = check_final(plan, value) if value is not None else "is empty after transforms"
        except TransformFailure as exc:
            why = str(exc)
        if why:
            doc.add(src_path, name, f"value {plan.const!r} {why}", "")
            return None
    if "default" in f:
        default = f["default"]
        why = "must be a single value" if isinstance(default, list | dict) else None
        if why is None and default is not None:
            try:
                why = check_final(plan, default)
            except TransformFailure as exc:
                why = str(exc)
        if why:
            doc.add((*path, "default"), name, f"default {default!r} {why}", "")
            return None
        plan.default = default if default is not None else MISSING
    return plan


def _on_deleted(doc: _Doc, raw: Any) -> dict[str, Any]:
    hint = "on_deleted: none | delete | {tag: NAME}"
    path: PathKey = ("on_deleted",)
    if raw is None or raw == "none":
        return {"action": "none", "tag": None}
    if raw == "delete":
        return {"action": "delete", "tag": None}
    if isinstance(raw, dict):
        action = raw.get("action", "tag" if "tag" in raw else None)
        tag = raw.get("tag")
        if set(raw) - {"action", "tag"}:
            doc.add(path, "on_deleted", "unknown option", hint)
        elif action == "tag" and isinstance(tag, str) and 0 < len(tag) <= 256:
            return {"action": "tag", "tag": tag}
        elif action in ("none", "delete") and tag is None:
            return {"action": action, "tag": None}
        else:
            doc.add(path, "on_deleted", "a tag action needs a tag name (1..256 characters)", hint)
        return {"action": "none", "tag": None}
    doc.add(path, "on_deleted", f"unknown action {raw!r}", hint)
    return {"action": "none", "tag": None}


def _traits(doc: _Doc, raw: Any) -> tuple[TraitsSpec | None, bytes]:
    """The `traits:` section: the SQL file (relative to the mapping file) read and checked."""
    hint = "traits: {sql: customer_traits.sql, key: customer_id}"
    path: PathKey = ("traits",)
    if raw is None:
        return None, b""
    if not isinstance(raw, dict):
        doc.add(path, "traits", "traits must be a mapping", hint)
        return None, b""
    for key in raw:
        if key not in TRAITS_KEYS:
            doc.add((*path, key, "__key__"), f"traits.{key}", f"unknown option {key!r}", "options: key, sql")
    key = raw.get("key", DEFAULT_KEY)
    if not isinstance(key, str) or not key.strip():
        doc.add((*path, "key"), "traits.key", f"key must be a column name, not {key!r}", "e.g. key: customer_id")
        key = None
    sql = raw.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        doc.add((*path, "sql") if "sql" in raw else path, "traits.sql",
                "missing `sql:` (the traits SQL file)" if sql is None else f"sql must be a file name, not {sql!r}", hint)
        return None, b""
    sql_path = Path(doc.file).parent / sql
    try:
        data = sql_path.read_bytes()
        text = data.decode("utf-8")
    except OSError as exc:
        doc.add((*path, "sql"), "traits.sql", f"cannot read {sql_path}: {exc.strerror or exc}",
                "the path is relative to the mapping file")
        return None, b""
    except UnicodeDecodeError as exc:
        doc.add((*path, "sql"), "traits.sql", f"{sql_path} is not UTF-8 text: {exc.reason}", "save it as UTF-8")
        return None, b""
    if key is None:
        return None, b""
    spec = TraitsSpec(str(sql_path), text, key, hashlib.sha256(data).hexdigest())
    try:
        check_traits(spec)
    except MappingError as exc:
        doc.issues.extend(exc.issues)
    return spec, data


def load_mapping(path: str | Path) -> Mapping:
    """Read, validate and compile a mapping file; MappingError lists every problem found."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MappingError([Issue(file, 0, 0, "file", f"cannot read: {exc.strerror or exc}", "check the path")]) from None
    return load_mapping_bytes(data, file)


def load_mapping_bytes(data: bytes, file: str = "<mapping>") -> Mapping:
    """Like :func:`load_mapping` for bytes already in memory (``file`` names them in errors)."""
    doc = _Doc(file)
    try:
        text = data.decode("utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except UnicodeDecodeError as exc:
        raise MappingError([Issue(file, 1, 1, "file", f"not UTF-8 text: {exc.reason}", "save the file as UTF-8")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        msg = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
        raise MappingError([Issue(file, line, col, "yaml", msg, "check indentation, colons and quotes")]) from None
    if node is None:
        raise MappingError([Issue(file, 1, 1, "file", "the mapping file is empty", "start with `version: 1`")])
    try:
        raw = doc.build(node, ())
    except RecursionError:
        raise MappingError([Issue(file, 1, 1, "file", "the YAML is nested too deeply", "flatten it")]) from None
    if not isinstance(raw, dict):
        raise MappingError([Issue(file, 1, 1, "file", "a mapping file is a YAML mapping",
                                  "start with `version: 1` and `fields:`")])
    for key in raw:
        if key not in TOP_KEYS:
            doc.add((key, "__key__"), str(key), f"unknown top-level key {key!r}", "keys: " + ", ".join(sorted(TOP_KEYS)))
    version = raw.get("version")
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        doc.add(("version",), "version", f"unsupported version {version!r}" if version is not None else "missing version",
                "write `version: 1`")
    defaults = raw.get("defaults") or {}
    phone_region = None
    datetime_format = DEFAULT_DATETIME_FORMAT
    if not isinstance(defaults, dict):
        doc.add(("defaults",), "defaults", "defaults must be a mapping", "e.g. `defaults: {phone_region: US}`")
    else:
        for key in defaults:
            if key not in DEFAULT_KEYS:
                doc.add(("defaults", key, "__key__"), f"defaults.{key}", f"unknown default {key!r}",
                        "known: " + ", ".join(DEFAULT_KEYS))
        phone_region = defaults.get("phone_region")
        if phone_region is not None and not isinstance(phone_region, str):
            doc.add(("defaults", "phone_region"), "defaults.phone_region", "must be a region code", "e.g. US")
            phone_region = None
        fmt = defaults.get("datetime_format", DEFAULT_DATETIME_FORMAT)
        if not isinstance(fmt, str) or fmt not in DATETIME_FORMATS:
            doc.add(("defaults", "datetime_format"), "defaults.datetime_format", f"unknown datetime format {fmt!r}",
                    "utc_z (2020-02-06T17:46:33Z, the default) or utc_naive (2020-02-06T17:46:33)")
        else:
            datetime_format = fmt
    on_deleted = _on_deleted(doc, raw.get("on_deleted"))
    removed_attributes = raw.get("removed_attributes", "leave")
    if removed_attributes not in REMOVED_ATTRIBUTES:
        doc.add(("removed_attributes",), "removed_attributes", f"unknown choice {removed_attributes!r}",
                "leave (People keeps attributes the mapping no longer sends) or clear (they are set to null)")
        removed_attributes = "leave"
    traits, traits_sql = _traits(doc, raw.get("traits"))
    events = parse_events(doc, raw.get("events"))

    fields = raw.get("fields")
    plans: list[FieldPlan] = []
    if not isinstance(fields, list) or not fields:
        doc.add(("fields",), "fields", "missing or empty `fields:` list", "add `fields:` with at least externalId")
        fields = []
    seen: dict[str, int] = {}
    primaries: set[str] = set()
    for i, f in enumerate(fields):
        plan = _compile_field(doc, f, i, phone_region, datetime_format)
        if plan is None:
            continue
        key = plan.target.lower() if plan.kind == "custom" else plan.target
        count = seen.get(key, 0)
        if count and plan.kind not in ("tags", "email", "phone"):
            doc.add(("fields", i, "to"), plan.target, f"{plan.target} is mapped more than once",
                    "a single-valued People field takes one source; merge them with a template or default"
                    + (" (custom attribute names are case-insensitive)" if plan.kind == "custom" else ""))
            continue
        seen[key] = count + 1
        if count:
            plan.label = f"{plan.target}#{count + 1}"
        if plan.primary:
            if plan.kind in primaries:
                doc.add(("fields", i, "primary"), plan.target, f"more than one {plan.kind} field is primary", "keep one")
            primaries.add(plan.kind)
        plans.append(plan)
    if isinstance(raw.get("fields"), list) and "externalId" not in seen and not any(
        isinstance(f, dict) and f.get("to") == "externalId" for f in fields
    ):
        doc.add(("fields",), "externalId", "no field maps externalId",
                "every person needs one, e.g. `- to: externalId` / `  template: 'bc-{store_hash}-{$.id}'`")
    if doc.issues:
        raise MappingError(sorted(doc.issues, key=lambda i: (i.file != file, i.line, i.column)))
    digest = hashlib.sha256(data)
    if traits is not None:  # editing the traits SQL is a change of the mapping
        digest.update(b"\0traits\0" + traits_sql)
    return Mapping(
        path=file,
        sha256=digest.hexdigest(),
        version=int(version),  # type: ignore[arg-type]
        plans=plans,
        on_deleted=on_deleted,
        phone_region=phone_region,
        removed_attributes=str(removed_attributes),
        traits=traits,
        events=events,
        source=data,
    )


__all__ = ["load_mapping", "load_mapping_bytes", "MappingError", "Issue"]
