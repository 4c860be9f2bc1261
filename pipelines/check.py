"""Pre-flight: everything a run needs, checked in seconds before a 20-minute extract.

`preflight` checks, in order, and stops at the first failure of a kind the later checks need:

1. the mapping loads (exit 2 with file:line:col);
2. the settings resolve (exit 2 naming the env var and TOML key);
3. each API's host name resolves (exit 2 naming the host: no retries on a name that does not
   exist) and answers (exit 1 when it cannot be reached: that may pass);
4. BigCommerce: one ``GET /v3/customers?limit=1`` -- 404 means a wrong store hash (exit 2),
   401 a wrong token, 403 a missing scope; with orders staged, one ``GET /v2/orders?limit=1``
   for the Orders scope;
5. People: the custom attribute definitions -- 401/403 a wrong key or a key without the
   People scope (exit 2); each custom attribute the mapping declares must have the same type
   in People as in the mapping, since a type can never change (exit 2).

One request per check, no retries, short timeouts: a check fails fast, a run retries.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bc2people.pipelines.cli_common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK

TIMEOUT = (5.0, 15.0)  # connect, read


@dataclass
class Check:
    """One check: its name, whether it passed, what it found, the exit code a failure means."""

    name: str
    ok: bool
    detail: str
    exit_code: int = EXIT_OK


@dataclass
class Preflight:
    """Every check that ran; ``exit_code`` is the worst one's."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        codes = [c.exit_code for c in self.checks if not c.ok]
        return EXIT_CONFIG if EXIT_CONFIG in codes else (max(codes) if codes else EXIT_OK)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str, exit_code: int = EXIT_CONFIG) -> bool:
        self.checks.append(Check(name, ok, detail, EXIT_OK if ok else exit_code))
        return ok

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "exit_code": self.exit_code,
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks]}


def host_resolves(url: str, setting: str, report: Preflight, name: str) -> bool:
    """Resolve the URL's host once; a name that does not exist fails at once, naming host and setting."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return report.add(name, False, f"cannot resolve host {host!r} ({setting}): {exc.__class__.__name__}: "
                                       f"{exc}")
    return True


def _get(url: str, headers: dict[str, str], params: dict[str, str] | None = None) -> Any:
    import requests

    return requests.get(url, headers=headers, params=params, timeout=TIMEOUT, allow_redirects=False)


def _unreachable(report: Preflight, name: str, url: str, exc: Exception, strict: bool) -> bool:
    host = urlsplit(url).hostname
    if not strict:  # the run's own retries decide; the check only stops what retrying cannot fix
        return report.add(name, True, f"could not reach {host} now ({type(exc).__name__}); the run retries")
    return report.add(name, False, f"cannot reach {host}: {type(exc).__name__}", EXIT_FAILED)


def _transient(report: Preflight, name: str, status: int, path: str, strict: bool) -> bool:
    if not strict:
        return report.add(name, True, f"HTTP {status} on {path} now; the run retries")
    return report.add(name, False, f"HTTP {status} on {path}", EXIT_FAILED)


def check_bigcommerce(settings: Any, report: Preflight, *, orders: bool, scopes: bool = True,
                      strict: bool = True) -> bool:
    """Store hash and token (the store's clock), then with ``scopes`` the Customers (and Orders)
    scope, one request each, no retries. Without ``strict`` only what retrying cannot fix fails."""
    import requests

    from bc2people.pipelines.config import ACCESS_TOKEN, API_BASE_URL, STORE_HASH

    name = "BigCommerce"
    if not host_resolves(settings.api_base_url, API_BASE_URL.env_var, report, name):
        return False
    base = f"{settings.api_base_url}/stores/{settings.store_hash}"
    headers = {"X-Auth-Token": settings.access_token, "Accept": "application/json"}
    probes = [("/v2/time", "")]
    if scopes:
        probes += [("/v3/customers", "Customers read-only")] + ([("/v2/orders", "Orders read-only")] if orders else [])
    for path, scope in probes:
        try:
            resp = _get(base + path, headers, {"limit": "1"} if scope else None)
        except requests.RequestException as exc:
            return _unreachable(report, name, base, exc, strict)
        status = resp.status_code
        if status == 404:
            return report.add(name, False, f"store {settings.store_hash!r} not found (HTTP 404): the store hash is "
                                           f"wrong; {STORE_HASH.how_to_set()}")
        if status == 401:
            return report.add(name, False, f"the access token was refused (HTTP 401); {ACCESS_TOKEN.how_to_set()}")
        if status == 403:
            return report.add(name, False, f"the access token lacks the {scope or 'needed'} scope (HTTP 403 on "
                                           f"{path}); give the API account that scope")
        if status == 429 or status >= 500:
            return _transient(report, name, status, path, strict)
        if status >= 400:
            return report.add(name, False, f"HTTP {status} on {path}", EXIT_FAILED)
    scopes_read = (" and reads customers" + (" and orders" if orders else "")) if scopes else ""
    return report.add(name, True, f"store {settings.store_hash} answers, the token is accepted{scopes_read}")


def check_people(settings: Any, mapping: Any, report: Preflight, *, strict: bool = True) -> bool:
    """Key, scope and the custom attributes' types (one request per page of definitions)."""
    import requests

    from bc2people.destinations.people.client import PeopleClient, error_text
    from bc2people.destinations.people.errors import PeopleError
    from bc2people.pipelines.config import PEOPLE_API_KEY, PEOPLE_BASE_URL

    name = "People"
    if not host_resolves(settings.people_base_url, PEOPLE_BASE_URL.env_var, report, name):
        return False
    client = PeopleClient(settings.people_base_url, settings.people_api_key, timeout=TIMEOUT[1], rate=settings.people_rate)
    url = f"{client.base_url}/people/2/customAttributes"
    try:
        resp = client._session().get(url, params={"limit": "1000", "page": "1"}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        return _unreachable(report, name, url, exc, strict)
    if resp.status_code in (401, 403):
        try:
            code, message = error_text(resp.json())
        except ValueError:
            code, message = None, ""
        what = "was refused" if resp.status_code == 401 else "lacks the People scope (people:manage)"
        return report.add(name, False, f"the API key {what} (HTTP {resp.status_code} {code or ''} {message}".strip()
                          + f"); {PEOPLE_API_KEY.how_to_set()}")
    if resp.status_code == 429 or resp.status_code >= 500:
        return _transient(report, name, resp.status_code, "/people/2/customAttributes", strict)
    if resp.status_code >= 400:
        return report.add(name, False, f"HTTP {resp.status_code} listing custom attributes", EXIT_FAILED)
    report.add(name, True, f"{client.base_url} accepts the key")
    if mapping is None:
        return True
    try:
        body = resp.json()
        items = body.get("customAttributes") if isinstance(body, dict) else None
        first_page = {str(i["name"]): str(i.get("dataType")) for i in items or [] if isinstance(i, dict)}
        return check_attribute_types(client, mapping, report,
                                     first_page if items is not None and len(items) < 1000 else None)
    except (PeopleError, requests.RequestException, ValueError) as exc:
        return report.add("custom attributes", not strict, f"could not list them: {type(exc).__name__}",
                          EXIT_FAILED)


def check_attribute_types(client: Any, mapping: Any, report: Preflight, known: dict[str, str] | None = None) -> bool:
    """Each custom attribute the mapping declares has the same data type in People (types never
    change). ``known``: the definitions already read (every page), else they are listed."""
    wanted = dict(getattr(mapping, "custom_attributes", {}) or {})
    listed = known if known is not None else client.list_custom_attributes()
    defined = {k.lower(): (k, v) for k, v in listed.items()}
    clashes = []
    for attr, dtype in sorted(wanted.items()):
        have = defined.get(attr.lower())
        if have is not None and str(have[1]).upper() != str(dtype).upper():
            clashes.append(f"{attr} is {have[1]} in People, {dtype} in the mapping")
    if clashes:
        return report.add("custom attributes", False, "; ".join(clashes) + " (a People data type cannot change: "
                          "rename the attribute in the mapping or change its type to People's)")
    new = [a for a in wanted if a.lower() not in defined]
    detail = f"{len(wanted) - len(new)} defined with the mapping's types" + (
        f", {len(new)} to be created: {', '.join(sorted(new))}" if new else "")
    return report.add("custom attributes", True, detail)


def preflight(mapping_path: str, *, need_destination: bool = True, orders: bool | None = None) -> Preflight:
    """Run every check (strict: an unreachable host fails, exit 1); never raises for a failed check."""
    from bc2people.pipelines.config import ORDERS, ConfigError, enabled, resolve_settings
    from bc2people.pipelines.mapping import MappingError, load_mapping

    report = Preflight()
    mapping = None
    try:
        mapping = load_mapping(mapping_path)
        report.add("mapping", True, f"{mapping_path}: {len(mapping.plans)} fields, sha256 {mapping.sha256[:12]}")
    except MappingError as exc:
        report.add("mapping", False, str(exc))
    except FileNotFoundError:
        report.add("mapping", False, f"mapping file not found: {mapping_path}")
    try:
        settings = resolve_settings(need_destination=need_destination)
    except ConfigError as exc:
        report.add("settings", False, str(exc))
        return report
    report.add("settings", True, "every setting is set")
    if orders is None:
        orders = enabled(ORDERS)
    check_bigcommerce(settings, report, orders=orders)
    if need_destination:
        check_people(settings, mapping, report)
    return report


def run_preflight(settings: Any, mapping: Any, *, need_destination: bool) -> Preflight:
    """The checks a run makes before extracting (mapping and settings are already loaded): the
    store hash and token, the People key and the attribute types. Lenient: a host that answers
    5xx or cannot be reached now passes (the run retries); a name that does not resolve, a
    wrong hash, key or token, or a type clash fails."""
    report = Preflight()
    check_bigcommerce(settings, report, orders=False, scopes=False, strict=False)
    if report.ok and need_destination:
        check_people(settings, mapping, report, strict=False)
    return report


def render_text(report: Preflight) -> str:
    """One line per check: ``ok``/``FAIL``, name, detail."""
    width = max((len(c.name) for c in report.checks), default=0)
    lines = [f"  {'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}" for c in report.checks]
    lines.append("all checks passed" if report.ok else f"check failed (exit {report.exit_code})")
    return "\n".join(lines)
