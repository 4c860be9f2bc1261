"""The BigCommerce HTTP client the Answers functions use.

It sends `X-Auth-Token` (never logged or echoed), JSON headers and a timeout on every
request; builds every URL from the configured base, the store hash and path segments it
percent-encodes itself (a parameter can never point a request at another host or path);
turns 204 into None; and turns every BigCommerce error shape into one `BigCommerceError`
(a 403 names the OAuth scope the request needed, see `answers.scopes`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests

from bc2people.answers.config import AnswersConfig
from bc2people.answers.errors import BigCommerceError
from bc2people.answers.scopes import describe, required_scope

USER_AGENT = "bc2people-answers/0.1"
MAX_LIMIT = 250
RETRY_429_MAX_WAIT_S = 2.0


def segment(value: object) -> str:
    """One path segment, percent-encoded (`/`, `?`, `#` and `..` cannot escape it)."""
    text = str(value)
    if text in ("", ".", ".."):
        raise ValueError("empty or dot path segment")
    return quote(text, safe="")


class BigCommerceClient:
    """V2/V3 requests against one store; `request()` returns parsed JSON (None for 204)."""

    def __init__(self, config: AnswersConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.session = session or requests.Session()
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"BigCommerceClient(store_hash={self.config.store_hash!r}, api_base_url={self.config.api_base_url!r})"

    def close(self) -> None:
        self.session.close()

    def url(self, version: str, *segments: object) -> str:
        """`<store_url>/<version>/<segments...>`, each segment percent-encoded."""
        if version not in ("v2", "v3"):
            raise ValueError("version must be v2 or v3")
        return "/".join([self.config.store_url, version, *(segment(s) for s in segments)])

    def request(self, method: str, version: str, *segments: object, params: dict[str, Any] | None = None,
                json: Any = None, send_body: bool = False) -> Any:
        """One request; raises `BigCommerceError` on any non-2xx answer, timeout or connection failure."""
        url = self.url(version, *segments)
        headers = {"X-Auth-Token": self.config.access_token, "Accept": "application/json", "User-Agent": USER_AGENT}
        if json is not None or send_body:
            headers["Content-Type"] = "application/json"
        where = f"{method} /{version}/" + "/".join(str(s) for s in segments[:1])
        for attempt in (1, 2):
            try:
                self.requests_sent += 1
                resp = self.session.request(method, url, params=params, json=json, headers=headers,
                                            timeout=self.config.timeout, allow_redirects=False)
            except requests.Timeout:
                raise BigCommerceError(504, f"BigCommerce did not answer within {self.config.timeout:g} s",
                                       {"request": where}) from None
            except requests.RequestException as exc:
                raise BigCommerceError(502, "Could not reach BigCommerce",
                                       {"request": where, "reason": type(exc).__name__}) from None
            if resp.status_code == 429 and attempt == 1:
                wait = retry_after_seconds(resp)
                if wait is not None and wait <= RETRY_429_MAX_WAIT_S:
                    time.sleep(wait)
                    continue
            break
        if resp.status_code == 204 or (200 <= resp.status_code < 300 and not resp.content):
            return None
        if 200 <= resp.status_code < 300:
            try:
                return resp.json()
            except ValueError:
                raise BigCommerceError(502, "BigCommerce sent a response that is not JSON", {"request": where}) from None
        raise self._error(resp, where, required_scope(method, version, segments))

    def _error(self, resp: requests.Response, where: str, scope: str | None = None) -> BigCommerceError:
        try:
            body = resp.json()
        except ValueError:
            body = None
        status, title, errors = parse_error(resp.status_code, body, resp.reason or "Error")
        errors.setdefault("request", where)
        if status == 403:  # BigCommerce: "Missing scope"; it does not say which one, so we do
            errors["bigcommerce_title"] = title
            if scope is not None:
                errors["missing_scope"] = scope
                title = (f"The BigCommerce access token lacks the OAuth scope {scope} ({describe(scope)}); "
                         "add it to the API account or use a token that has it")
            else:
                title = "The BigCommerce access token lacks a scope this request needs"
        token = self.config.access_token
        clean = {k: str(v).replace(token, "***") for k, v in errors.items()}
        return BigCommerceError(status, title.replace(token, "***"), clean)

    def get(self, version: str, *segments: object, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", version, *segments, params=params)

    def paged_v3(self, *segments: object, params: dict[str, Any] | None = None,
                 limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a V3 collection, page by page (stops after `limit` items when given)."""
        page, yielded = 1, 0
        per_page = MAX_LIMIT if limit is None else max(1, min(limit, MAX_LIMIT))
        while True:
            body = self.get("v3", *segments, params={**(params or {}), "page": page, "limit": per_page})
            data = (body or {}).get("data") or []
            for item in data:
                yield item
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            pagination = ((body or {}).get("meta") or {}).get("pagination") or {}
            if not data or page >= int(pagination.get("total_pages") or 0):
                return
            page += 1


def retry_after_seconds(resp: requests.Response) -> float | None:
    """Seconds to wait after a 429, or None when the response names no time.

    BigCommerce documents `X-Rate-Limit-Time-Reset-Ms` in milliseconds and `X-Retry-After` in
    seconds; both name the moment the window refills. The later of the two readings is used,
    so the retry is never early whichever header a response carries.
    """
    waits = []
    for name, scale in (("X-Rate-Limit-Time-Reset-Ms", 1000.0), ("X-Retry-After", 1.0)):
        raw = resp.headers.get(name)
        try:
            value = float(raw) / scale if raw is not None else None
        except ValueError:
            value = None
        if value is not None and value >= 0 and value == value:  # not NaN
            waits.append(value)
    return max(waits) if waits else None


def parse_error(status: int, body: Any, reason: str) -> tuple[int, str, dict[str, Any]]:
    """(status, title, field errors) from any BigCommerce error body.

    Shapes: V3 `{status,title,type,errors{}}`; catalog 404 `{status,title,type,instance}`;
    category-tree `{errors:{status,title,errors{}},meta}`; checkouts `{errors:[{status,title,detail}]}`;
    V2 `[{status,message,details?}]`.
    """
    errors: dict[str, Any] = {}
    title = reason
    if isinstance(body, list) and body and isinstance(body[0], dict):  # V2
        first = body[0]
        title = str(first.get("message") or reason)
        for i, item in enumerate(body[1:], start=1):
            if isinstance(item, dict) and item.get("message"):
                errors[str(i)] = str(item["message"])
        details = first.get("details")
        if isinstance(details, dict):
            errors.update({str(k): _text(v) for k, v in details.items()})
    elif isinstance(body, dict):
        inner = body.get("errors")
        if isinstance(inner, list) and inner:  # checkouts
            first = inner[0] if isinstance(inner[0], dict) else {"title": str(inner[0])}
            title = str(first.get("title") or reason)
            if first.get("detail"):
                errors["detail"] = str(first["detail"])
            for i, item in enumerate(inner[1:], start=1):
                errors[str(i)] = str(item.get("title") if isinstance(item, dict) else item)
        elif isinstance(inner, dict) and "title" in inner and isinstance(inner.get("errors"), dict | None):
            title = str(inner.get("title") or reason)  # category trees
            errors.update({str(k): _text(v) for k, v in (inner.get("errors") or {}).items()})
        else:
            title = str(body.get("title") or body.get("message") or reason)
            if isinstance(inner, dict):
                errors.update({str(k): _text(v) for k, v in inner.items()})
            if body.get("detail"):
                errors["detail"] = str(body["detail"])
    return status, title, errors


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
