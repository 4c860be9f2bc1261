"""One Python function per mapping: the field loop of :meth:`Mapping.map` unrolled.

The engine's generic loop pays, for every field of every customer, a tuple unpacking, the
``when``/template/sink dispatch and a call through the path reader. The generated function does
the same steps in the same order with those decisions taken once, at load time: plain paths of
keys and indices are read inline (shared prefixes such as ``$.addresses[0]`` once per customer),
each field writes straight into its sink, constants are put in place as computed once.
Results, drop reasons and rejection messages are the loop's, character for character (the
mapping tests run through this function).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bc2people.destinations.people.rules import FORBIDDEN_NAME_CHARS

from .compiler import INDEX, KEY, parse_steps
from .finalize import chain_keeps, keeps_expr
from .model import MISSING

Step = tuple[Any, ...]  # (label, when, read, render, run, sink, key, primary, clear, plan)


def _inline_steps(plan: Any) -> tuple[tuple[int, Any], ...] | None:
    """The key/index steps of a field's single path read with ``take: first``, else None."""
    if plan.source_kind != "path" or len(plan.paths) != 1 or plan.take == "all":
        return None
    path = plan.paths[0]
    if path.mode != "fast-single":
        return None
    steps = parse_steps(path.text)
    if not steps or steps[0][0] != KEY or any(s[0] not in (KEY, INDEX) for s in steps):
        return None
    return tuple((s[0], s[1]) for s in steps)


class _Prefixes:
    """Locals holding shared path prefixes, each computed once from the one before it."""

    def __init__(self) -> None:
        self.names: dict[tuple[tuple[int, Any], ...], str] = {}
        self.lines: list[str] = []

    def expr(self, steps: tuple[tuple[int, Any], ...]) -> str:
        """A local name (or ``customer``) holding the value at ``steps`` (None when absent)."""
        if not steps:
            return "customer"
        if steps in self.names:
            return self.names[steps]
        parent = self.expr(steps[:-1])
        name = f"_p{len(self.names)}"
        self.names[steps] = name
        self.lines.append(f"    {name} = {_step(parent, steps[-1], first=len(steps) == 1)}")
        return name


def _step(parent: str, step: tuple[int, Any], first: bool) -> str:
    kind, arg = step
    if kind == KEY:
        if first:  # the customer is a dict: map() checks before calling
            return f"{parent}.get({arg!r})"
        return f"({parent}.get({arg!r}) if type({parent}) is dict else None)"
    if arg >= 0:
        return f"({parent}[{arg}] if type({parent}) is list and len({parent}) > {arg} else None)"
    return f"({parent}[{arg}] if type({parent}) is list and len({parent}) >= {-arg} else None)"


def build_field_mapper(steps: tuple[Step, ...], rejected: type[Exception], dropped_type: type,
                       short: Callable[[Any], str]) -> Callable[..., tuple[str | None, str | None]]:
    """``fields(customer, context, sources, std, custom, tags, emails, phones, dropped)`` filling
    the buckets as the engine's loop does and returning (rejection, rejection field)."""
    ns: dict[str, Any] = {"_Rejected": rejected, "_Dropped": dropped_type, "_short": short, "MISSING": MISSING,
                          "_EMPTY": frozenset({str, list, dict}), "_FORBIDDEN": FORBIDDEN_NAME_CHARS}
    prefixes = _Prefixes()
    body: list[str] = []
    for i, (label, when, read, render, run, sink, key, primary, clear, plan) in enumerate(steps):
        ns.update({f"W{i}": when, f"R{i}": read, f"T{i}": render, f"F{i}": run, f"C{i}": clear,
                   f"P{i}": plan.target, f"S{i}": plan.source_text})
        lines: list[str] = []
        constant = plan.source_kind == "value"
        if constant:
            ns[f"K{i}"] = plan.const
            ns[f"V{i}"] = run(None)  # _constant: the transformed, checked constant
            lines.append(f"sources[{label!r}] = K{i}")
            lines.append("if rejection is None:")
            lines.append(f"    value = V{i}")
            lines.extend("    " + s for s in _sink_lines(i, label, sink, key, primary, clear, ns))
        else:
            inline = _inline_steps(plan) if render is None else None
            if render is not None:
                read_line = f"raw, sources[{label!r}] = T{i}(customer, context)"
            elif inline is not None:
                parent = prefixes.expr(inline[:-1])
                read_line = f"raw = sources[{label!r}] = {_step(parent, inline[-1], first=len(inline) == 1)}"
            else:
                read_line = f"raw = sources[{label!r}] = R{i}(customer)"
            # a field without default or `required` maps an empty value to MISSING before any
            # transform (the runner's first line): skip the call for the many empty ones
            plain = plan.take == "first" and plan.default is MISSING
            run_lines = _run_lines(i, plan) if plain else [f"        value = F{i}(raw)"]
            lines += [
                "try:",
                f"    {read_line}",
                "    if rejection is None:",
                *run_lines,
                "except _Rejected as exc:",
                "    if rejection is None:",
                f"        rejection = f\"{{P{i}}}: {{exc.why}} (source {{S{i}}} = {{_short(sources.get({label!r}))}})\"",
                f"        rejection_field = P{i}",
                "else:",
                "    if rejection is None:",
            ]
            lines.extend("        " + s for s in _sink_lines(i, label, sink, key, primary, clear, ns))
        if when is not None:
            lines = [f"if W{i}(customer):"] + ["    " + s for s in lines]
        body.extend("    " + s for s in lines)
    src = ["def fields(customer, context, sources, std, custom, tags, emails, phones, dropped):",
           "    rejection = None", "    rejection_field = None", *prefixes.lines, *body,
           "    return rejection, rejection_field"]
    exec(compile("\n".join(src), "<mapping fields>", "exec"), ns)  # noqa: S102 - our own generated code
    fields: Callable[..., tuple[str | None, str | None]] = ns["fields"]
    return fields


def _run_lines(i: int, plan: Any) -> list[str]:
    """``value = F{i}(raw)`` for a field without default or ``required``: MISSING for an empty
    value, and ``raw`` itself when its chain's ``keeps`` conditions say the chain would give it back."""
    lines = [f"        value = MISSING if raw is None or (not raw and type(raw) in _EMPTY) else F{i}(raw)"]
    keeps = chain_keeps(plan)
    if keeps is None:
        return lines
    return ["        v = raw",
            "        if v is None or (not v and type(v) in _EMPTY):",
            "            value = MISSING",
            f"        elif {keeps_expr(keeps)}:",
            "            value = v",
            "        else:",
            f"            value = F{i}(v)"]


def _sink_lines(i: int, label: str, sink: int, key: str, primary: bool, clear: Any, ns: dict[str, Any]) -> list[str]:
    """Put ``value`` where the engine's loop puts it (after taking a dropped value apart)."""
    out = [
        "if type(value) is _Dropped:",
        f"    dropped.append((P{i}, f\"{{value.why}} (source {{S{i}}} = {{_short(sources.get({label!r}))}})\"))",
        "    value = value.value",
    ]
    if sink in (0, 1):
        bucket = "std" if sink == 0 else "custom"
        if clear is MISSING:
            out += ["if value is not MISSING:", f"    {bucket}[{key!r}] = value"]
        else:
            out += ["if value is not MISSING:", f"    {bucket}[{key!r}] = value", "else:", f"    {bucket}[{key!r}] = C{i}"]
        return out
    # tags, email, phone: the engine writes a clear value of these (never allowed) to custom
    clear_lines = [] if clear is MISSING else ["else:", f"    custom[{key!r}] = C{i}"]
    if sink == 2:
        return out + ["if value is not MISSING:", "    if type(value) is list:", "        tags.extend(value)",
                      "    else:", "        tags.append(value)", *clear_lines]
    bucket = "emails" if sink == 3 else "phones"
    ns[f"Q{i}"] = primary
    return out + ["if value is not MISSING:", "    if type(value) is list:",
                  f"        {bucket}.extend((v, Q{i} and n == 0) for n, v in enumerate(value))",
                  "    else:", f"        {bucket}.append((value, Q{i}))", *clear_lines]
