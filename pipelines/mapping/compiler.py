"""Compile JSONPath expressions and templates once, into fast callables.

Plain dotted/indexed paths (``first_name``, ``$.addresses[0].city``, ``$.channel_ids[*]``)
and simple equality filters (``$.form_fields[?(@.name=='newsletter')].value``) become tuples
of steps walked with direct ``dict``/``list`` access; anything else (functions, arithmetic,
other filters, slices) is parsed once by ``jsonpath_ng.ext`` and evaluated with ``.find``.
Both give the same matches as jsonpath-ng (a property test holds them equal).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonpath_ng.ext import parse as jp_parse

KEY, INDEX, WILD, FILTER = 0, 1, 2, 3

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_STEP_RE = re.compile(
    r"\.(?P<key>" + _NAME + r")"
    r"|\[(?P<index>-?\d+)\]"
    r"|\[(?P<qkey>'[^'\\]*'|\"[^\"\\]*\")\]"
    r"|(?P<wild>\[\*\]|\.\*)"
    r"|\[\?\(?\s*@\.(?P<fkey>" + _NAME + r")\s*==\s*"
    r"(?P<flit>'[^'\\]*'|\"[^\"\\]*\"|-?\d+(?:\.\d+)?|true|false)\s*\)?\]"
)


class PathSyntaxError(ValueError):
    """A JSONPath that neither the fast compiler nor jsonpath-ng can parse."""


def _literal(text: str) -> Any:
    if text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    return float(text) if "." in text else int(text)


def _equal(value: Any, lit: Any) -> bool:
    """jsonpath-ng's (RFC 9535) equality: bools by identity, strings never equal numbers."""
    if isinstance(value, bool) or isinstance(lit, bool):
        return value is lit
    if isinstance(lit, str):
        return isinstance(value, str) and value == lit
    return isinstance(value, int | float) and value == lit


def parse_steps(expr: str) -> tuple[tuple[Any, ...], ...] | None:
    """The fast-path steps of ``expr``, or None when it needs jsonpath-ng."""
    text = expr.strip()
    if text.startswith("$"):
        text = text[1:]
    elif text and text[0] not in ".[":
        text = "." + text
    steps: list[tuple[Any, ...]] = []
    pos = 0
    while pos < len(text):
        m = _STEP_RE.match(text, pos)
        if m is None:
            return None
        if m.group("key") is not None:
            steps.append((KEY, m.group("key")))
        elif m.group("index") is not None:
            steps.append((INDEX, int(m.group("index"))))
        elif m.group("qkey") is not None:
            steps.append((KEY, m.group("qkey")[1:-1]))
        elif m.group("wild") is not None:
            steps.append((WILD,))
        else:
            steps.append((FILTER, m.group("fkey"), _literal(m.group("flit"))))
        pos = m.end()
    return tuple(steps)


def keys_read_under(expr: str, root: str) -> frozenset[str] | None:
    """The keys of the document's top-level object ``root`` that ``expr`` can read: empty when it
    cannot reach ``root``, None when it may read any of them (``$.root``, ``$.root.*``, ``$..x``,
    or a path only jsonpath-ng understands)."""
    steps = parse_steps(expr)
    if not steps:
        return None  # "$" itself, or a path the fast compiler does not know
    if steps[0][0] == INDEX or (steps[0][0] == KEY and steps[0][1] != root):
        return frozenset()
    if steps[0][0] == KEY and len(steps) > 1 and steps[1][0] == KEY:
        return frozenset({steps[1][1]})
    return None


def _walk_all(steps: tuple[tuple[Any, ...], ...], doc: Any) -> list[Any]:
    current = [doc]
    for step in steps:
        nxt: list[Any] = []
        kind = step[0]
        for node in current:
            if kind == KEY:
                if type(node) is dict and step[1] in node:
                    nxt.append(node[step[1]])
            elif kind == INDEX:
                if type(node) is list and -len(node) <= step[1] < len(node):
                    nxt.append(node[step[1]])
            elif kind == WILD:
                if type(node) is list:
                    nxt.extend(node)
                elif type(node) is dict:
                    nxt.extend(node.values())
            else:
                key, lit = step[1], step[2]
                items = node if type(node) is list else node.values() if type(node) is dict else ()
                for item in items:
                    if type(item) is dict and key in item and _equal(item[key], lit):
                        nxt.append(item)
        current = nxt
        if not current:
            break
    return current


def _make_single(steps: tuple[tuple[Any, ...], ...]) -> Callable[[Any], Any]:
    """A walker for paths of keys and indices only: at most one match, None when absent."""
    if len(steps) == 1 and steps[0][0] == KEY:
        k = steps[0][1]

        def one_key(doc: Any) -> Any:
            return doc.get(k) if type(doc) is dict else None

        return one_key
    plan = tuple((s[0] == KEY, s[1]) for s in steps)

    def walk(doc: Any) -> Any:
        cur = doc
        for is_key, k in plan:
            if is_key:
                if type(cur) is not dict:
                    return None
                cur = cur.get(k)
            else:
                if type(cur) is not list or not -len(cur) <= k < len(cur):
                    return None
                cur = cur[k]
        return cur

    return walk


def _special_multi(steps: tuple[tuple[Any, ...], ...]) -> Callable[[Any], list[Any]] | None:
    """Hand-specialised walkers for the common shapes ``$.list[*]``, ``$.list[*].key`` and
    ``$.list[?(@.k==v)].key`` (same results as :func:`_walk_all`, fewer steps)."""
    shape = tuple(s[0] for s in steps)
    if shape[:2] not in ((KEY, WILD), (KEY, FILTER)) or len(shape) > 3 or (len(shape) == 3 and shape[2] != KEY):
        return None
    k1 = steps[0][1]
    k3 = steps[2][1] if len(steps) == 3 else None
    if shape[1] == WILD:
        if k3 is None:

            def key_wild(doc: Any) -> list[Any]:
                v = doc.get(k1) if type(doc) is dict else None
                return list(v) if type(v) is list else list(v.values()) if type(v) is dict else []

            return key_wild

        def key_wild_key(doc: Any) -> list[Any]:
            v = doc.get(k1) if type(doc) is dict else None
            items = v if type(v) is list else v.values() if type(v) is dict else ()
            return [x[k3] for x in items if type(x) is dict and k3 in x]

        return key_wild_key
    fkey, lit = steps[1][1], steps[1][2]
    lit_type = type(lit)

    def key_filter(doc: Any) -> list[Any]:
        v = doc.get(k1) if type(doc) is dict else None
        items = v if type(v) is list else v.values() if type(v) is dict else ()
        if lit_type is str:  # the usual `@.name=='newsletter'`: same result as _equal, inlined
            hits = [x for x in items if type(x) is dict and type(x.get(fkey)) is str and x[fkey] == lit]
        else:
            hits = [x for x in items if type(x) is dict and fkey in x and _equal(x[fkey], lit)]
        if k3 is None:
            return hits
        return [x[k3] for x in hits if k3 in x]

    return key_filter


@dataclass(frozen=True)
class CompiledPath:
    """A JSONPath compiled once: ``all(doc)`` lists matches, ``first(doc)`` gives one or None."""

    text: str
    mode: str  # "fast-single", "fast-multi" or "jsonpath"
    all: Callable[[Any], list[Any]]
    first: Callable[[Any], Any]


def _first_present(values: list[Any]) -> Any:
    for v in values:
        if v is not None and v != "" and v != [] and v != {}:
            return v
    return None


def compile_path(expr: str) -> CompiledPath:
    """Compile ``expr`` (``$.a.b[0]``, ``a.b``, filters, jsonpath-ng extensions).

    Raises PathSyntaxError with jsonpath-ng's message when the expression does not parse.
    """
    if not isinstance(expr, str) or not expr.strip():
        raise PathSyntaxError("empty JSONPath")
    try:
        parsed = jp_parse(expr.strip())
    except Exception as exc:  # jsonpath-ng raises bare Exception/JsonPathParserError/LexerError
        raise PathSyntaxError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    steps = parse_steps(expr)
    if steps is not None and all(s[0] in (KEY, INDEX) for s in steps):
        single = _make_single(steps)

        def all_single(doc: Any) -> list[Any]:
            v = single(doc)
            if v is None:
                # distinguish "absent" from "present and null" the way jsonpath-ng does
                return _walk_all(steps, doc)
            return [v]

        return CompiledPath(expr, "fast-single", all_single, single)
    if steps is not None:
        frozen = steps
        all_multi = _special_multi(steps) or (lambda doc: _walk_all(frozen, doc))

        def first_multi(doc: Any) -> Any:
            return _first_present(all_multi(doc))

        return CompiledPath(expr, "fast-multi", all_multi, first_multi)

    def all_jp(doc: Any) -> list[Any]:
        try:
            return [m.value for m in parsed.find(doc)]
        except Exception:  # noqa: BLE001 - a function over a weird value must not crash the run
            return []

    def first_jp(doc: Any) -> Any:
        return _first_present(all_jp(doc))

    return CompiledPath(expr, "jsonpath", all_jp, first_jp)


def jsonpath_ng_baseline(expr: str) -> Callable[[Any], list[Any]]:
    """Parse-once jsonpath-ng evaluation of ``expr`` (the benchmark's and tests' reference)."""
    parsed = jp_parse(expr.strip())
    return lambda doc: [m.value for m in parsed.find(doc)]


_PLACEHOLDER_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


@dataclass(frozen=True)
class CompiledTemplate:
    """A template split into literal text and placeholders (context names or JSONPaths)."""

    text: str
    parts: tuple[tuple[str, Any], ...]  # ("lit", str) | ("ctx", name) | ("path", CompiledPath)
    placeholders: tuple[str, ...]


class TemplateSyntaxError(ValueError):
    """A template with an unbalanced brace or a placeholder that does not parse."""


def compile_template(text: str, context_names: frozenset[str]) -> CompiledTemplate:
    """Compile ``bc-{store_hash}-{$.id}``: ``{name}`` in ``context_names`` reads the run
    context, any other ``{...}`` is a JSONPath into the customer; ``{{``/``}}`` are braces."""
    parts: list[tuple[str, Any]] = []
    names: list[str] = []
    pos = 0
    for m in _PLACEHOLDER_RE.finditer(text):
        if m.start() > pos:
            parts.append(("lit", text[pos : m.start()]))
        tok = m.group(0)
        if tok == "{{":
            parts.append(("lit", "{"))
        elif tok == "}}":
            parts.append(("lit", "}"))
        elif m.group(1) is None:
            raise TemplateSyntaxError(f"unbalanced {tok!r} at position {m.start() + 1}")
        else:
            inner = m.group(1).strip()
            if not inner:
                raise TemplateSyntaxError("empty placeholder {}")
            names.append(inner)
            if inner in context_names:
                parts.append(("ctx", inner))
            else:
                try:
                    parts.append(("path", compile_path(inner)))
                except PathSyntaxError as exc:
                    raise TemplateSyntaxError(f"placeholder {{{inner}}}: {exc}") from None
        pos = m.end()
    if pos < len(text):
        parts.append(("lit", text[pos:]))
    if not names:
        raise TemplateSyntaxError("a template needs at least one {placeholder}; use value: for constants")
    merged: list[tuple[str, Any]] = []
    for part in parts:
        if part[0] == "lit" and merged and merged[-1][0] == "lit":
            merged[-1] = ("lit", merged[-1][1] + part[1])
        else:
            merged.append(part)
    return CompiledTemplate(text, tuple(merged), tuple(names))
