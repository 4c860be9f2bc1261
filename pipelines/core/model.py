"""The typed objects the sync core works with: what it reads, what a mapper gives back,
and what it selected to send. None of them names an API: the wiring fills them in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .offload import Offload

ProgressFn = Callable[..., None]


@dataclass(frozen=True)
class Mapped:
    """One staged record after mapping: a ``payload`` under ``key``, or a ``rejection``."""

    entity_id: int | None
    key: str | None
    payload: dict[str, Any] | None
    rejection: str | None = None
    rejection_field: str | None = None
    dropped: tuple[tuple[str, str], ...] = ()  # (field, why): values the mapper left out of the payload
    text: str | None = None  # the payload's canonical text, when mapped in a worker (payload is then None)
    hash: str | None = None  # ... and its hash

    @property
    def mapped(self) -> bool:
        """Whether the mapper produced a payload (as an object or as its text)."""
        return self.payload is not None or self.text is not None


@dataclass(frozen=True)
class Derived:
    """Values computed in SQL per staged record (e.g. traits), already in a table
    ``(key BIGINT, <attach_as> JSON, <hash_column> VARCHAR)``; a changed hash re-maps the record."""

    table: str
    attach_as: str
    hash_column: str
    read: Callable[[Any, list[int]], dict[int, dict[str, Any]]]


@dataclass(frozen=True)
class StagedEntity:
    """Where the records of one entity are staged and how to read them back."""

    table: str  # "dataset.table"
    read: Callable[[Any, list[int]], Iterator[dict[str, Any]]]  # (connection, ids) -> the records, sorted by id
    id_column: str = "id"
    version_column: str = "_dlt_load_id"  # changes whenever the staged row changes
    deleted_column: str = "_deleted_at"  # set when the source no longer has the record
    derived: Derived | None = None


@dataclass(frozen=True)
class SyncSpec:
    """One (entity → target) flow: the core plans, diffs and records it."""

    dataset: str  # where the ledger lives
    target: str  # the ledger's name for the target kind
    entity: StagedEntity
    map_record: Callable[[dict[str, Any]], Mapped]
    mapping_hash: str
    deleted_record: str  # recorded as deleted_action once the deletion action is done ("none", ...)
    flatten: Callable[[dict[str, Any] | None], dict[str, Any]] = lambda p: dict(p or {})
    offload: Offload | None = None  # map large selections in a worker process (`core.offload`)


@dataclass
class Selected:
    """The work a run found: payloads to send, ledger entries to write, deletions to act on."""

    to_send: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    deletions: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    sample_diffs: list[dict[str, Any]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)  # values left out, per field
    drops: list[dict[str, Any]] = field(default_factory=list)  # {key, entity_id, field, reason} per value
