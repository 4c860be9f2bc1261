"""Plain data the mapping engine hands around: issues, errors, field plans, mapped records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bc2people.destinations.people.rules import Target

from .compiler import CompiledPath, CompiledTemplate
from .transforms import Transform


@dataclass(frozen=True)
class Issue:
    """One problem in a mapping file, located for the person who has to fix it."""

    file: str
    line: int
    column: int
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.file}:{self.line}:{self.column}: {self.field}: {self.message}{hint}"


class MappingError(Exception):
    """A mapping file that cannot be used; ``issues`` lists every problem found at once."""

    exit_code = 2  # the CLI's "configuration or mapping error"

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = list(issues)


@dataclass
class MappedRecord:
    """One customer after mapping: a People v3 person ``payload``, or a ``rejection`` reason.

    ``sources`` holds, per mapped field (target name, ``#2``... for repeats), the raw value
    read from the customer before transforms; ``dropped`` the values ``on_invalid: drop`` left
    out, as (People field, reason).
    """

    customer_id: Any
    external_id: str | None
    payload: dict[str, Any] | None
    rejection: str | None
    rejection_field: str | None
    sources: dict[str, Any] = field(default_factory=dict)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (People field, why) under on_invalid: drop


MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()


@dataclass
class FieldPlan:
    """One compiled field of a mapping: where its value comes from and how it is shaped."""

    label: str
    target: str
    kind: str  # "std", "custom", "tags", "email", "phone"
    std: Target | None
    custom_type: str | None
    source_kind: str  # "path", "template", "value"
    source_text: str
    paths: tuple[CompiledPath, ...] = ()  # several = the first that has a value
    template: CompiledTemplate | None = None
    const: Any = None
    take: str = "first"  # "first", "all", "required"
    default: Any = MISSING
    when: Callable[[Any], bool] | None = None
    transforms: tuple[Transform, ...] = ()
    on_invalid: str = "reject"  # "reject" or "drop"
    on_empty: str = "omit"  # "omit" or "clear"
    primary: bool = False
    reads: tuple[str, ...] = ()  # every JSONPath the field reads (from, template, when)
