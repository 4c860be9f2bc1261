"""HTTP client for the parts of the Infobip People API that bc2people uses.

- ``PATCH /people/3/persons/upsert`` (≤1000 persons, always 207 with ``results[]`` and
  ``errors[]`` attributed by ``index``),
- custom attribute definitions (``/people/2/customAttributes``), tags (``/people/2/tags``),
  batch tag assignment (``PATCH /people/2/tags/{name}/persons``), single-person delete
  (``DELETE /people/2/persons?identifier=..&type=EXTERNAL_ID``), removal of old contacts
  (``DELETE /people/2/persons/contactInformation``) and identity matching
  (``POST /people/2/persons/match``, 15 requests/s).

Every request first takes a slot from the process-wide limiter of its operation. 429 is
retried with exponential jittered backoff; 5xx, timeouts and connection resets are retried
a few times and then raised as `PeopleTransientError` (dlt then retries the job — safe,
because the upsert is idempotent by externalId); 401/403 and whole-request 400 raise
terminal errors. The API key goes only into the ``Authorization`` header: never into a
message, a repr or a log line.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from bc2people.destinations.people.errors import (
    PeopleAuthError,
    PeopleRequestError,
    PeopleTransientError,
)
from bc2people.destinations.people.limiter import RateLimiter, shared_limiter

MAX_BATCH = 1000
ACCEPTED = ("CREATED", "UPDATED", "NOT_MODIFIED")
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
DUPLICATE_CODES = frozenset({"40002", "40006", "DUPLICATE", "DUPLICATE_NAME"})
OPERATION_RATES = {"match": 15.0}  # documented requests/s where People allows more than 5
MATCH_BATCH = 1000  # identities per match request (the spec gives no limit; the batches' 1000)


@dataclass(frozen=True)
class RecordOutcome:
    """What People said about one person of an upsert batch (by its index in the batch).

    ``status`` is CREATED, UPDATED or NOT_MODIFIED when accepted, REJECTED when People
    returned an ``errors[]`` item for it, MISSING when the 207 mentioned it nowhere.
    """

    index: int
    status: str
    people_id: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_property: str | None = None  # the person's property People named (``firstName``, ``customAttributes.x``)

    @property
    def accepted(self) -> bool:
        return self.status in ACCEPTED


def error_text(body: Any, limit: int = 500) -> tuple[str | None, str]:
    """(code, message) from any People error envelope (V3, requestError, E429, legacy)."""
    code: Any = None
    message = ""
    if isinstance(body, dict):
        exc = (body.get("requestError") or {}).get("serviceException") if isinstance(
            body.get("requestError"), dict
        ) else None
        if isinstance(exc, dict):
            code = exc.get("messageId")
            message = str(exc.get("text") or "")
            if exc.get("validationErrors"):
                message += f" {json.dumps(exc['validationErrors'], ensure_ascii=False)}"
        else:
            code = body.get("code", body.get("errorCode", body.get("value")))
            message = str(body.get("message") or body.get("errorMessage") or body.get("description") or "")
            details = body.get("details") or body.get("validationErrors")
            if details:
                message += f" {json.dumps(details, ensure_ascii=False)}"
    elif body:
        message = str(body)
    return (None if code is None else str(code)), message.strip()[:limit]


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text[:500] if resp.text else None


# (custom attributes as sorted (name, TYPE) pairs, sorted tags): one provisioning's request
ProvisionKey = tuple[tuple[tuple[str, str], ...], tuple[str, ...]]


class PeopleClient:
    """A thread-safe People API client; all instances for one base URL share limiters."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        rate: float = 5.0,
        max_429_retries: int = 8,
        max_transient_retries: int = 3,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.__api_key = api_key
        self.timeout = timeout
        self.rate = rate
        self.max_429_retries = max_429_retries
        self.max_transient_retries = max_transient_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._local = threading.local()
        self.stats_lock = threading.Lock()
        self.throttled = 0
        self.retried = 0
        self.match_requests = 0
        # (attributes, tags) -> when `provisioning.provision` made sure of them through this
        # client: an overlapped first sync pushes each segment with one client, provisioning once
        self.provisioned: dict[ProvisionKey, float] = {}

    def provisioned_recently(self, key: ProvisionKey) -> bool:
        """Whether ``provision`` made sure of ``key`` through this client (for its whole life: one
        run; a long-lived client narrows this to a time to live)."""
        return key in self.provisioned

    def __repr__(self) -> str:
        return f"PeopleClient(base_url={self.base_url!r}, api_key=<redacted>)"

    # -- plumbing ------------------------------------------------------------------------
    def limiter(self, operation: str) -> RateLimiter:
        """The shared limiter of one operation (upsert, tags, ...) for this account; operations
        People documents faster than 5/s (match: 15/s) get that multiple of ``rate``."""
        return shared_limiter(self.base_url, operation, self.rate * OPERATION_RATES.get(operation, 5.0) / 5.0)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(
                {"Authorization": f"App {self.__api_key}", "Accept": "application/json"}
            )
            self._local.session = session
        return session

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_cap, self.backoff_base * (2**attempt)) * (0.5 + random.random())

    def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        raw: bytes | None = None,
    ) -> requests.Response:
        """Send one request through the operation's limiter, retrying 429/5xx/network errors.

        ``body`` is sent as JSON, or ``raw`` as already-encoded JSON bytes. Returns the
        response for any other status; raises `PeopleAuthError` on 401/403 and
        `PeopleTransientError` once retries are exhausted.
        """
        limiter = self.limiter(operation)
        data = raw if raw is not None else (
            None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        )
        headers = {"Content-Type": "application/json"} if data is not None else None
        throttled = transient = 0
        while True:
            limiter.acquire()
            try:
                resp = self._session().request(
                    method, self.base_url + path, params=params, data=data, headers=headers, timeout=self.timeout
                )
                status = resp.status_code
                if status not in RETRYABLE_STATUS and status != 429:
                    resp.content  # noqa: B018 - read the whole body now: a cut body is transient
            except requests.RequestException as exc:
                transient += 1
                if transient > self.max_transient_retries:
                    raise PeopleTransientError(
                        f"People {operation}: {type(exc).__name__} on {method} {path} "
                        f"after {transient} attempts"
                    ) from None
                self._count_retry()
                time.sleep(self._backoff(transient - 1))
                continue
            if status == 429:
                throttled += 1
                with self.stats_lock:
                    self.throttled += 1
                if throttled > self.max_429_retries:
                    raise PeopleTransientError(
                        f"People {operation}: still 429 Too Many Requests after {throttled} attempts"
                    )
                pause = self._backoff(throttled - 1)
                retry_after = resp.headers.get("Retry-After")
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    pause = max(pause, float(retry_after))
                time.sleep(pause)
                continue
            if status in RETRYABLE_STATUS:
                transient += 1
                if transient > self.max_transient_retries:
                    code, message = error_text(_json(resp))
                    raise PeopleTransientError(
                        f"People {operation}: HTTP {status} {code or ''} {message} after {transient} attempts".strip()
                    )
                self._count_retry()
                time.sleep(self._backoff(transient - 1))
                continue
            if status in (401, 403):
                code, message = error_text(_json(resp))
                raise PeopleAuthError(
                    f"People refused the API key: HTTP {status} {code or ''} {message}. Check "
                    "DESTINATION__PEOPLE__API_KEY ([destination.people] api_key in .dlt/secrets.toml) "
                    "and that the key has the people:manage scope.",
                    status=status,
                    code=code,
                )
            return resp

    def _count_retry(self) -> None:
        with self.stats_lock:
            self.retried += 1

    # -- persons ---------------------------------------------------------------------------
    def upsert(self, persons: Sequence[dict[str, Any]]) -> list[RecordOutcome]:
        """PATCH-upsert ≤1000 persons; returns one outcome per person, in input order."""
        if not persons:
            return []
        if len(persons) > MAX_BATCH:
            raise ValueError(f"an upsert batch holds at most {MAX_BATCH} persons, got {len(persons)}")
        return self.send_upsert({"persons": list(persons)}, len(persons))

    def upsert_json(self, persons_json: Sequence[str]) -> list[RecordOutcome]:
        """Like `upsert`, for persons already encoded as JSON objects (no re-encoding)."""
        if not persons_json:
            return []
        if len(persons_json) > MAX_BATCH:
            raise ValueError(f"an upsert batch holds at most {MAX_BATCH} persons, got {len(persons_json)}")
        raw = ('{"persons":[' + ",".join(persons_json) + "]}").encode("utf-8")
        return self.send_upsert(None, len(persons_json), raw=raw)

    def send_upsert(self, request_body: Any, size: int, *, raw: bytes | None = None) -> list[RecordOutcome]:
        """Send an upsert body as given (tooling and tests); ``size`` persons are expected back."""
        resp = self.request("upsert", "PATCH", "/people/3/persons/upsert", body=request_body, raw=raw)
        body = _json(resp)
        if resp.status_code not in (200, 207):
            code, message = error_text(body)
            raise PeopleRequestError(
                f"People rejected the whole upsert request: HTTP {resp.status_code} {code or ''} {message}".strip(),
                status=resp.status_code,
                code=code,
            )
        if not isinstance(body, dict):
            raise PeopleTransientError(f"People upsert: unreadable {resp.status_code} body")
        return parse_upsert_response(body, size)

    def delete_person(self, external_id: str) -> bool:
        """Delete one person by externalId; False when People has no such person (404)."""
        resp = self.request(
            "delete_person",
            "DELETE",
            "/people/2/persons",
            params={"identifier": external_id, "type": "EXTERNAL_ID"},
        )
        if resp.status_code == 404:
            return False
        self._raise_for_status(resp, "delete person")
        return True

    def remove_contacts(self, external_id: str, emails: Sequence[str] = (), phones: Sequence[str] = ()) -> bool:
        """Remove emails/phones from one person (``DELETE /people/2/persons/contactInformation``,
        body ``PersonDestinationRequest``); False when People has no such person (404)."""
        contacts: dict[str, list[dict[str, str]]] = {}
        if emails:
            contacts["email"] = [{"address": e} for e in emails]
        if phones:
            contacts["phone"] = [{"number": p} for p in phones]
        resp = self.request(
            "contact_information",
            "DELETE",
            "/people/2/persons/contactInformation",
            params={"identifier": external_id, "type": "EXTERNAL_ID"},
            body={"contactInformation": contacts},
        )
        if resp.status_code == 404:
            return False
        self._raise_for_status(resp, "remove old contact information")
        return True

    def match_persons(self, identities: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """``POST /people/2/persons/match``: `identity_key` -> People's person id, for the
        identities that match someone (≤`MATCH_BATCH` per request). A 404 (documented, body
        unspecified) is read as "nothing matched"."""
        found: dict[tuple[str, str], int] = {}
        unique = list(dict.fromkeys(identities))
        for start in range(0, len(unique), MATCH_BATCH):
            chunk = unique[start : start + MATCH_BATCH]
            body = {"identities": [{"type": t, "identifier": i} for t, i in chunk]}
            resp = self.request("match", "POST", "/people/2/persons/match", body=body)
            with self.stats_lock:
                self.match_requests += 1
            if resp.status_code == 404:
                continue
            self._raise_for_status(resp, "match identities")
            data = _json(resp)
            for m in (data.get("matches") if isinstance(data, dict) else None) or []:
                pid = m.get("personId") if isinstance(m, dict) else None
                if isinstance(pid, int) and isinstance(m.get("type"), str) and isinstance(m.get("identifier"), str):
                    found[identity_key(m["type"], m["identifier"])] = pid
        return found

    def tag_persons_isolating(self, tag: str, external_ids: Iterable[str]) -> TagBatchResult:
        """Add ``tag`` to persons by externalId so that persons People does not have never fail
        the others: a per-item 409/404 result names them; a whole-request 404 (documented for
        this operation) splits the batch in halves until each missing person stands alone (a
        vanished tag is re-created once first). See `TagBatchResult`."""
        out = TagBatchResult()
        ids = list(dict.fromkeys(external_ids))
        for start in range(0, len(ids), MAX_BATCH):
            self._tag_isolating(tag, ids[start : start + MAX_BATCH], out)
        return out

    def _tag_isolating(self, tag: str, ids: list[str], out: TagBatchResult) -> None:
        body = {"people": [{"query": {"type": "EXTERNAL_ID", "identifier": i}} for i in ids]}
        resp = self.request("tag_persons", "PATCH", f"/people/2/tags/{quote(tag, safe='')}/persons", body=body)
        out.requests += 1
        if resp.status_code < 300:
            failed = _tag_item_failures(_json(resp), ids)
            for ext, (status, message) in failed.items():
                if status in (404, 409):
                    out.missing[ext] = f"HTTP {status} {message}".strip()
                else:
                    out.failed[ext] = f"HTTP {status} {message}".strip()
            out.tagged.extend(i for i in ids if i not in failed)
            return
        if resp.status_code != 404:
            self._raise_for_status(resp, f"tag persons with {tag!r}")
        if not out.tag_checked:
            out.tag_checked = True
            if self.get_tag(tag) is None:  # the tag itself is gone: create it and try again
                self.create_tag(tag)
                self._tag_isolating(tag, ids, out)
                return
        if len(ids) == 1:
            code, message = error_text(_json(resp))
            out.missing[ids[0]] = f"HTTP 404 {code or ''} {message}".replace("  ", " ").strip()
            return
        half = len(ids) // 2
        self._tag_isolating(tag, ids[:half], out)
        self._tag_isolating(tag, ids[half:], out)

    def tag_persons(self, tag: str, external_ids: Iterable[str]) -> int:
        """Add ``tag`` to persons by externalId (≤1000 per request); returns requests sent."""
        ids = list(external_ids)
        sent = 0
        for start in range(0, len(ids), MAX_BATCH):
            chunk = ids[start : start + MAX_BATCH]
            body = {"people": [{"query": {"type": "EXTERNAL_ID", "identifier": i}} for i in chunk]}
            resp = self.request("tag_persons", "PATCH", f"/people/2/tags/{quote(tag, safe='')}/persons", body=body)
            self._raise_for_status(resp, f"tag persons with {tag!r}")
            sent += 1
        return sent

    # -- definitions -----------------------------------------------------------------------
    def list_custom_attributes(self) -> dict[str, str]:
        """Every custom attribute definition: name -> dataType."""
        found: dict[str, str] = {}
        page = 1
        while True:
            resp = self.request(
                "custom_attributes", "GET", "/people/2/customAttributes", params={"limit": "1000", "page": str(page)}
            )
            self._raise_for_status(resp, "list custom attributes")
            body = _json(resp)
            items = body.get("customAttributes", []) if isinstance(body, dict) else body
            for item in items or []:
                found[str(item["name"])] = str(item.get("dataType"))
            if not items or len(items) < 1000:
                return found
            page += 1

    def get_custom_attribute(self, name: str) -> dict[str, Any] | None:
        """One custom attribute definition, or None when it does not exist."""
        resp = self.request("custom_attributes", "GET", f"/people/2/customAttributes/{quote(name, safe='')}")
        if resp.status_code == 404:
            return None
        self._raise_for_status(resp, f"read custom attribute {name!r}")
        body = _json(resp)
        return body if isinstance(body, dict) else None

    def create_custom_attribute(self, name: str, data_type: str) -> bool:
        """Define a custom attribute; False when it already existed (duplicate)."""
        resp = self.request(
            "custom_attributes", "POST", "/people/2/customAttributes", body={"name": name, "dataType": data_type}
        )
        if self._is_duplicate(resp):
            return False
        self._raise_for_status(resp, f"create custom attribute {name!r}")
        return True

    def get_tag(self, name: str) -> dict[str, Any] | None:
        """One tag, or None when it does not exist."""
        resp = self.request("tags", "GET", f"/people/2/tags/{quote(name, safe='')}")
        if resp.status_code == 404:
            return None
        self._raise_for_status(resp, f"read tag {name!r}")
        body = _json(resp)
        return body if isinstance(body, dict) else None

    def create_tag(self, name: str) -> bool:
        """Create a tag; False when it already existed (duplicate)."""
        resp = self.request("tags", "POST", "/people/2/tags", body={"name": name})
        if self._is_duplicate(resp):
            return False
        self._raise_for_status(resp, f"create tag {name!r}")
        return True

    @staticmethod
    def _is_duplicate(resp: requests.Response) -> bool:
        if resp.status_code not in (400, 409):
            return False
        code, message = error_text(_json(resp))
        return code in DUPLICATE_CODES or "already exists" in message.lower() or message.lower() == "duplicate"

    @staticmethod
    def _raise_for_status(resp: requests.Response, what: str) -> None:
        if resp.status_code < 300:
            return
        code, message = error_text(_json(resp))
        raise PeopleRequestError(
            f"People could not {what}: HTTP {resp.status_code} {code or ''} {message}".strip(),
            status=resp.status_code,
            code=code,
        )


def identity_key(kind: str, identifier: str) -> tuple[str, str]:
    """How People compares identities: emails case-insensitively, phones without a ``+``."""
    if kind == "EMAIL":
        return kind, identifier.strip().lower()
    if kind == "PHONE":
        return kind, identifier.strip().lstrip("+")
    return kind, identifier


@dataclass
class TagBatchResult:
    """What a tag batch did: ``tagged`` externalIds, ``missing`` (People has no such person:
    externalId -> People's answer), ``failed`` (another per-item error: try again later) and
    the number of ``requests`` it took."""

    tagged: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    tag_checked: bool = False


def _tag_item_failures(body: Any, ids: list[str]) -> dict[str, tuple[int, str]]:
    """externalId -> (status, message) of the per-item results a v2 batch answer lists (only
    unsuccessful entries are listed, by ``query`` or by ``index``)."""
    out: dict[str, tuple[int, str]] = {}
    items = body.get("results") if isinstance(body, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        status = item.get("status")
        status = int(status) if isinstance(status, int | str) and str(status).isdigit() else 0
        if 200 <= status < 300:
            continue
        query = item.get("query")
        ext = query.get("identifier") if isinstance(query, dict) else None
        idx = item.get("index")
        if ext not in ids and isinstance(idx, int) and 0 <= idx < len(ids):
            ext = ids[idx]
        if ext in ids:
            errors = item.get("errors") or []
            message = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message"))
            out[ext] = (status, message)
    return out


_PERSON_PREFIX = re.compile(r"^persons\[\d+\]\.?")


def person_error(item: dict[str, Any], limit: int = 500) -> tuple[str | None, str | None, str]:
    """(code, property, message) of one ``errors[]`` item of an upsert: the property without the
    batch position (``persons[3].firstName`` -> ``firstName``), the message readable
    (``Invalid person: firstName: Must not contain ...``), never raw JSON."""
    code = item.get("code", item.get("errorCode"))
    message = str(item.get("message") or "").strip()
    props: list[str] = []
    parts: list[str] = []
    for d in item.get("details") or item.get("validationErrors") or []:
        if not isinstance(d, dict):
            continue
        prop = _PERSON_PREFIX.sub("", str(d.get("property") or d.get("field") or "")) or None
        if prop:
            props.append(prop)
        text = str(d.get("message") or "").strip()
        parts.append(f"{prop}: {text}" if prop else text)
    if parts:
        message = f"{message}: {'; '.join(parts)}" if message else "; ".join(parts)
    return (None if code is None else str(code)), (props[0] if props else None), message[:limit]


def parse_upsert_response(body: dict[str, Any], size: int) -> list[RecordOutcome]:
    """Attribute each ``results[i]``/``errors[i]`` of a 207 to its person by ``index``.

    An index People did not mention becomes MISSING (retried on a later run, never
    counted as accepted); an index outside the batch is ignored.
    """
    outcomes: list[RecordOutcome | None] = [None] * size
    for item in body.get("results") or []:
        idx = item.get("index")
        if isinstance(idx, int) and 0 <= idx < size:
            pid = item.get("id")
            status = str(item.get("status") or "")
            if status not in ACCEPTED:
                status = "UPDATED"  # merge-style result without status: accepted
            outcomes[idx] = RecordOutcome(idx, status, pid if isinstance(pid, int) else None)
    for item in body.get("errors") or []:
        idx = item.get("index")
        if isinstance(idx, int) and 0 <= idx < size:
            code, prop, message = person_error(item)
            outcomes[idx] = RecordOutcome(idx, "REJECTED", None, code, message or "rejected by People", prop)
    return [
        o if o is not None else RecordOutcome(i, "MISSING", None, None, "People returned no result for this person")
        for i, o in enumerate(outcomes)
    ]
