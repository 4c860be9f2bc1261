"""Quota-aware HTTP client for the BigCommerce REST API.

Every response carries ``X-Rate-Limit-Requests-Left`` / ``-Requests-Quota`` /
``-Time-Reset-Ms`` / ``-Time-Window-Ms``; one `QuotaBudget` turns them into permission to
send, shared by all threads reading a window. The budget never lets more requests be in
flight than the store says are left, pauses until the window refills once the quota is
spent, and after each refill sends a single probe request until fresh headers arrive, so
a window sees at most one 429 even when other apps share the quota.

Failures: 429 with quota headers waits ``Time-Reset-Ms``; 429 without them (platform under
load), 5xx, timeouts, connection resets and malformed bodies are retried with bounded
exponential backoff and full jitter; 401/403 stop at once with a configuration error.
"""

from __future__ import annotations

import copy
import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

try:  # a dlt dependency; 2-3x faster than json for the page bodies
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]

from .helpers import (
    BigCommerceAuthError,
    BigCommerceError,
    MalformedResponse,
    auth_error_message,
)
from .settings import (
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RATE_LIMIT_WAITS,
    DEFAULT_READ_TIMEOUT,
    USER_AGENT,
)

H_LEFT = "X-Rate-Limit-Requests-Left"
H_QUOTA = "X-Rate-Limit-Requests-Quota"
H_RESET = "X-Rate-Limit-Time-Reset-Ms"
H_WINDOW = "X-Rate-Limit-Time-Window-Ms"

# After the reset deadline we wait this much longer before probing (clock granularity).
RESET_MARGIN_S = 0.05
# With this few requests left in a window, send them one at a time: if another app spends
# the rest meanwhile, only one of ours meets a 429.
SINGLE_FILE_BELOW = 8


class QuotaCancelled(Exception):
    """The run stopped while this thread waited for quota."""


class QuotaBudget:
    """One store's request quota, shared by every thread of a run (thread-safe).

    `acquire()` before each request, `release(headers)` after it (``None`` headers when no
    response arrived). Within a window ``Requests-Left`` only goes down in the order the
    store counted requests, so the lowest reading seen is the freshest; every request of
    ours that was not yet counted in it is still in flight. Hence at most
    ``lowest reading - requests in flight`` more may be sent: exact once the in-flight
    requests have answered, and never more than the store allows. Until a response has
    shown rate-limit headers the budget lets one request out at a time; a response without
    them switches the budget off (an unmetered store).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._metered: bool | None = None  # None: not yet known
        self._lowest: int | None = None  # lowest Requests-Left seen in the current window
        self._reset_at: float | None = None  # monotonic time the current window refills
        self._expired_at: float | None = None  # refill time of the window before (to spot late answers)
        self._window_s = 30.0
        self._inflight = 0
        self._probing = False
        self._cancelled = False
        self.quota: int | None = None
        self.waited_s = 0.0
        self.rate_limited = 0  # 429 responses that carried quota headers

    def acquire(self) -> None:
        """Block until one more request may be sent within the quota."""
        with self._cond:
            while True:
                if self._cancelled:
                    raise QuotaCancelled("the run stopped")
                now = self._clock()
                if self._metered is False:
                    break
                if self._reset_at is not None and now >= self._reset_at:
                    # The window refilled: unknown until a probe answers.
                    self._expired_at, self._reset_at, self._lowest = self._reset_at, None, None
                wait: float | None = None
                if self._lowest is None:
                    if not self._probing and self._inflight == 0:
                        self._probing = True
                        break
                elif self._inflight < self._lowest and (self._lowest > SINGLE_FILE_BELOW or self._inflight == 0):
                    break
                elif self._inflight == 0:
                    wait = max(0.0, (self._reset_at or now) - now)
                started = self._clock()
                self._cond.wait(timeout=wait)
                self.waited_s += self._clock() - started
            self._inflight += 1

    def cancel(self) -> None:
        """Wake every waiting thread with `QuotaCancelled` (the run is over)."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def release(self, headers: Mapping[str, str] | None, *, status: int | None = None) -> None:
        """Account for a finished request and learn from its rate-limit headers."""
        with self._cond:
            self._inflight -= 1
            self._probing = False
            reading = _quota_reading(headers) if headers is not None else None
            if reading is None:
                if headers is not None and status is not None and status != 429 and self._metered is None:
                    self._metered = False  # the store sends no quota headers at all
                self._cond.notify_all()
                return
            left, quota, reset_ms, window_ms = reading
            self._metered = True
            self.quota = quota
            if window_ms:
                self._window_s = window_ms / 1000.0
            reset_at = self._clock() + reset_ms / 1000.0 + RESET_MARGIN_S
            tolerance = self._window_s / 2
            if status == 429:
                # A 429 speaks for the store's window as it is now: spent until its reset.
                # Only a refusal clearly older than the window we know of is stale.
                self.rate_limited += 1
                if self._reset_at is None or reset_at >= self._reset_at - tolerance:
                    self._lowest = 0
                    self._reset_at = reset_at if self._reset_at is None else max(self._reset_at, reset_at)
                self._cond.notify_all()
                return
            if self._reset_at is not None and abs(reset_at - self._reset_at) <= tolerance:
                self._lowest = left if self._lowest is None else min(self._lowest, left)
                self._reset_at = max(self._reset_at, reset_at)
            elif self._reset_at is not None and reset_at < self._reset_at:
                pass  # a late answer counted in an earlier window
            elif self._reset_at is None and self._expired_at is not None and reset_at <= self._expired_at + tolerance:
                pass  # counted in the window that just ended
            else:  # the first reading of a new window
                self._lowest, self._reset_at = left, reset_at
            self._cond.notify_all()


def _quota_reading(headers: Mapping[str, str]) -> tuple[int, int, int, int] | None:
    try:
        left = headers.get(H_LEFT)
        reset = headers.get(H_RESET)
        if left is None or reset is None:
            return None
        quota = headers.get(H_QUOTA)
        window = headers.get(H_WINDOW)
        return (
            int(float(left)),
            int(float(quota)) if quota is not None else 0,
            max(0, int(float(reset))),
            int(float(window)) if window is not None else 0,
        )
    except ValueError:
        return None


class BigCommerceClient:
    """GET JSON from one store's API with quota pacing, retries and token-free errors."""

    def __init__(
        self,
        base_url: str,
        store_hash: str,
        access_token: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        max_rate_limit_waits: int = DEFAULT_MAX_RATE_LIMIT_WAITS,
        pool_size: int = 16,
        budget: QuotaBudget | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.store_hash = store_hash
        self._token = access_token
        self.timeout = (connect_timeout, read_timeout)
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_rate_limit_waits = max_rate_limit_waits
        self.budget = budget or QuotaBudget()
        self._pool_size = pool_size
        self._local = threading.local()
        self._count_lock = threading.Lock()
        self.requests = 0  # HTTP attempts sent (retries included)
        self.retries = 0
        self.rate_limited = 0  # 429s with quota headers met by this client's requests
        self.quota_wait_s = 0.0  # time this client's requests waited for the quota budget

    def scoped(self) -> BigCommerceClient:
        """This client (settings, connections, quota budget) with its own request counters:
        how each resource of a run tells its share of the requests."""
        twin = copy.copy(self)
        twin._count_lock = threading.Lock()
        twin.requests = twin.retries = twin.rate_limited = 0
        twin.quota_wait_s = 0.0
        return twin

    def __repr__(self) -> str:
        return f"BigCommerceClient(base_url={self.base_url!r}, store_hash={self.store_hash!r})"

    def store_path(self, template: str) -> str:
        """Fill ``{store_hash}`` in an API path."""
        return template.format(store_hash=self.store_hash)

    def url_for(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """The full, token-free URL of a request, exactly as it is sent (see `encode_query`)."""
        query = f"?{encode_query(params)}" if params else ""
        return f"{self.base_url}{path}{query}"

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(
                {"X-Auth-Token": self._token, "Accept": "application/json", "User-Agent": USER_AGENT}
            )
            self._local.session = session
        return session

    def _backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for the given 1-based attempt."""
        cap = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return random.uniform(cap / 2, cap)

    def get_json(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        validate: Callable[[Any], None] | None = None,
        empty_ok: bool = False,
    ) -> Any:
        """GET ``path`` and return the decoded JSON body.

        ``empty_ok``: a ``204 No Content`` (how V2 lists say "no more rows") returns None.

        ``validate`` may raise `MalformedResponse` for a body of the wrong shape; such bodies
        are retried like truncated ones. Raises `BigCommerceAuthError` on 401/403 and
        `BigCommerceError` once the retry limits are spent or on any other 4xx.
        """
        url = self.url_for(path, params)
        failures = 0
        rate_waits = 0
        last_reason = "no attempt made"
        while True:
            started = time.monotonic()
            self.budget.acquire()
            with self._count_lock:
                self.requests += 1
                self.quota_wait_s += time.monotonic() - started
            try:
                resp = self._session().get(url, timeout=self.timeout)
                body = resp.content  # reads the whole body: truncation surfaces here
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                self.budget.release(None)
                last_reason = _network_reason(exc)
                failures += 1
                if failures >= self.max_attempts:
                    raise self._give_up(url, last_reason, failures) from None
                self._sleep_retry(failures)
                continue
            self.budget.release(resp.headers, status=resp.status_code)
            status = resp.status_code
            if status in (401, 403):
                raise BigCommerceAuthError(auth_error_message(status, url), url=url, status=status)
            if status == 429:
                if _quota_reading(resp.headers) is not None:
                    with self._count_lock:
                        self.rate_limited += 1
                    rate_waits += 1
                    last_reason = "429 Too Many Requests (quota spent)"
                    if rate_waits > self.max_rate_limit_waits:
                        raise self._give_up(url, last_reason, rate_waits)
                    continue  # the budget now waits for the window to refill
                last_reason = "429 Too Many Requests without quota headers (platform under load)"
                failures += 1
                if failures >= self.max_attempts:
                    raise self._give_up(url, last_reason, failures)
                self._sleep_retry(failures)
                continue
            if status >= 500:
                last_reason = f"HTTP {status} {resp.reason or ''}".strip()
                failures += 1
                if failures >= self.max_attempts:
                    raise self._give_up(url, last_reason, failures, status=status)
                self._sleep_retry(failures)
                continue
            if status >= 400:
                detail = self._scrub(_error_title(body))
                raise BigCommerceError(
                    f"BigCommerce answered HTTP {status} for GET {url}: {detail}", url=url, status=status
                )
            if status == 204 and empty_ok:
                return None
            try:
                data = _decode(body)
                if validate is not None:
                    validate(data)
            except MalformedResponse as exc:
                last_reason = f"malformed response: {self._scrub(str(exc))}"
                failures += 1
                if failures >= self.max_attempts:
                    raise self._give_up(url, last_reason, failures, status=status) from None
                self._sleep_retry(failures)
                continue
            return data

    def _sleep_retry(self, failures: int) -> None:
        with self._count_lock:
            self.retries += 1
        time.sleep(self._backoff(failures))

    def _give_up(self, url: str, reason: str, attempts: int, *, status: int | None = None) -> BigCommerceError:
        return BigCommerceError(
            f"GET {url} failed after {attempts} attempt(s): {self._scrub(reason)}", url=url, status=status
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def encode_query(params: Mapping[str, Any]) -> str:
    """A query string with ``:`` left as it is in names and values, everything else percent-encoded.

    BigCommerce's filters put a colon in the name (``date_modified:min``) and date values
    carry colons too; a docs issue reports that ``/v3/customers`` does not accept date
    values sent as ``%3A`` (what ``requests`` sends). RFC 3986 allows ``:`` in a query, so
    it goes out unencoded; ``+`` of a UTC offset still goes out as ``%2B`` (a bare ``+``
    would read as a space), and so do ``,``, spaces, ``&``, ``=`` and non-ASCII text.
    """
    return "&".join(f"{quote(str(k), safe=':')}={quote(_text(v), safe=':')}" for k, v in params.items())


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _network_reason(exc: Exception) -> str:
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "truncated response body (the connection closed before the whole body arrived)"
    if isinstance(exc, requests.Timeout):
        return "timed out waiting for the store"
    return "connection failed or was reset"


def _decode(body: bytes) -> Any:
    if not body:
        raise MalformedResponse("empty body")
    if orjson is not None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # let the standard parser say where and why
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise MalformedResponse("body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise MalformedResponse(f"invalid JSON ({exc.msg} at byte {exc.pos} of {len(body)})") from None


def _error_title(body: bytes) -> str:
    """A short reason from any of BigCommerce's error body shapes."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body[:200].decode("utf-8", "replace") or "no body"
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if isinstance(data, dict):
        if isinstance(data.get("errors"), list) and data["errors"] and isinstance(data["errors"][0], dict):
            data = data["errors"][0]
        parts = [str(data.get(k)) for k in ("title", "message", "detail") if data.get(k)]
        for key in ("errors", "details"):  # V3 `errors`, V2 `details` (e.g. {"invalid_reason": ...})
            extra = data.get(key)
            if isinstance(extra, dict) and extra:
                parts.append("; ".join(f"{k}: {v}" for k, v in list(extra.items())[:5]))
        if parts:
            return " - ".join(parts)[:500]
    return str(data)[:200]
