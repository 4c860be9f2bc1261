"""The ``people`` dlt destination: each batch of ≤1000 rows is one People upsert request.

Rows reaching the destination carry the person to send as a JSON string in ``payload``
(People v3 upsert shape, keyed by its ``externalId``; ``person`` in load packages written by
release 0.1) plus any pass-through columns the caller wants back. After each request the ``sink`` receives the batch's rows and one
`RecordOutcome` per row (same order), so per-record results can be recorded before dlt
commits the batch offset. A crash between the request and that commit re-sends the batch
on the next run: the upsert is idempotent by externalId, so that is harmless.

Configuration follows dlt: ``[destination.people] base_url`` (``DESTINATION__PEOPLE__BASE_URL``)
and ``api_key`` (``DESTINATION__PEOPLE__API_KEY``, a secret).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dlt

from bc2people.destinations.people.client import MAX_BATCH, PeopleClient, RecordOutcome
from bc2people.destinations.people.errors import PeopleConfigError, PeopleRequestError

PERSON_COLUMN = "payload"
LEGACY_PERSON_COLUMN = "person"  # load packages written by release 0.1
OutcomeSink = Callable[[Sequence[dict[str, Any]], Sequence[RecordOutcome]], None]


DEFAULT_TIMEOUT_S = 30.0  # per HTTP request to People
DEFAULT_RATE = 5.0  # requests per second per operation: People's documented per-account limit


@dataclass(frozen=True)
class PeopleConfig:
    """Resolved People settings; the key is kept out of the repr."""

    base_url: str
    api_key: str
    timeout: float = DEFAULT_TIMEOUT_S
    rate: float = DEFAULT_RATE

    def __repr__(self) -> str:
        return (f"PeopleConfig(base_url={self.base_url!r}, api_key=<redacted>, timeout={self.timeout!r}, "
                f"rate={self.rate!r})")

    def client(self) -> PeopleClient:
        """A client with these settings."""
        return PeopleClient(self.base_url, self.api_key, timeout=self.timeout, rate=self.rate)


def load_people_config(base_url: str | None = None, api_key: str | None = None) -> PeopleConfig:
    """Resolve base URL, API key, timeout and rate from arguments, then dlt config/secrets (env or TOML).

    Raises `PeopleConfigError` (exit_code 2) naming the env var and TOML key when missing.
    """
    base_url = base_url or dlt.config.get("destination.people.base_url", str)
    api_key = api_key or dlt.secrets.get("destination.people.api_key", str)
    return people_config(base_url, api_key, dlt.config.get("destination.people.timeout"),
                         dlt.config.get("destination.people.rate_limit"))


def _positive(value: Any, default: float) -> float:
    try:
        number = default if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return -1.0
    return number if number == number else -1.0  # NaN is not a number of anything


def people_config(base_url: str | None, api_key: str | None, timeout: Any = None, rate: Any = None) -> PeopleConfig:
    """Check People settings however they were resolved: the one place they are validated."""
    missing = []
    if not base_url:
        missing.append("base URL: set DESTINATION__PEOPLE__BASE_URL or [destination.people] base_url in .dlt/config.toml")
    if not api_key:
        missing.append("API key: set DESTINATION__PEOPLE__API_KEY or [destination.people] api_key in .dlt/secrets.toml")
    if missing:
        raise PeopleConfigError("People is not configured; missing " + "; ".join(missing))
    assert base_url is not None and api_key is not None
    if not str(base_url).startswith(("http://", "https://")):
        raise PeopleConfigError(
            "DESTINATION__PEOPLE__BASE_URL ([destination.people] base_url) must be a full URL such as "
            "https://xxxxx.api.infobip.com"
        )
    timeout_s = _positive(timeout, DEFAULT_TIMEOUT_S)
    if not timeout_s > 0:
        raise PeopleConfigError(
            "DESTINATION__PEOPLE__TIMEOUT ([destination.people] timeout) must be a number of seconds above 0"
        )
    per_s = _positive(rate, DEFAULT_RATE)
    if not 0 < per_s < float("inf"):
        raise PeopleConfigError(
            "DESTINATION__PEOPLE__RATE_LIMIT ([destination.people] rate_limit) must be a number of requests per "
            f"second above 0 (People documents {DEFAULT_RATE:g} per operation per account)"
        )
    return PeopleConfig(str(base_url).rstrip("/"), str(api_key), timeout_s, per_s)


def rows_of(items: Any) -> list[dict[str, Any]]:
    """The batch as a list of dicts (dlt passes lists for jsonl, record batches for parquet)."""
    if hasattr(items, "to_pylist"):
        return list(items.to_pylist())
    return list(items)


def deliver_batch(client: PeopleClient, rows: Sequence[dict[str, Any]], sink: OutcomeSink | None) -> None:
    """Upsert one batch of rows and hand the per-record outcomes to ``sink``."""
    column = PERSON_COLUMN if not rows or PERSON_COLUMN in rows[0] else LEGACY_PERSON_COLUMN
    values = [r[column] for r in rows]
    if all(isinstance(v, str) for v in values):
        for v in values:  # refuse anything but one JSON object per row, before sending
            if not v.lstrip().startswith("{"):
                raise PeopleRequestError(f"column {PERSON_COLUMN!r} must hold one JSON object per row")
        outcomes = client.upsert_json(values)
    else:
        outcomes = client.upsert([v if isinstance(v, dict) else json.loads(v) for v in values])
    if sink is not None:
        sink(rows, outcomes)


def people_destination(
    client: PeopleClient,
    sink: OutcomeSink | None = None,
    *,
    batch_size: int = MAX_BATCH,
    workers: int = 4,
    file_format: Literal["parquet", "typed-jsonl"] = "parquet",
) -> Any:
    """A ``people`` destination instance bound to a client and an outcome sink.

    ``workers`` caps the parallel load jobs (one per load file); all of them share the
    client's per-operation rate limiter. ``file_format`` is the load-file format: parquet
    (fast for Arrow input; batches arrive as record batches) or typed-jsonl.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")

    def people(items: Any, table: Any) -> None:
        deliver_batch(client, rows_of(items), sink)

    factory = dlt.destination(
        people,
        name="people",
        batch_size=batch_size,
        loader_file_format=file_format,
        naming_convention="direct",
        max_table_nesting=0,
        skip_dlt_columns_and_tables=True,
        max_parallel_load_jobs=workers,
    )
    return factory()


@dlt.destination(name="people", batch_size=MAX_BATCH, loader_file_format="typed-jsonl", max_table_nesting=0)
def people(items: Any, table: Any, base_url: str = dlt.config.value, api_key: str = dlt.secrets.value) -> None:
    """Stand-alone form configured purely by dlt (no outcome recording): upserts each batch."""
    deliver_batch(PeopleClient(base_url, api_key), rows_of(items), None)


# The name dlt records for the ``people`` destination in a pipeline's state (its factory's
# type). Defined here so the dlt CLI (`dlt pipeline --pipelines-dir ... bc2people_people info`)
# can attach the pipeline: it resolves that name to this configurable stand-alone form.
PeopleDestinationPeopleDestination = people
