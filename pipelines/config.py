"""Settings of the sync job, resolved the dlt way, with fail-fast messages.

dlt looks a setting up in environment variables first, then in ``.dlt/secrets.toml`` and
``.dlt/config.toml`` (in the working directory, or ``$DLT_PROJECT_DIR``, merged with
``~/.dlt/``). This module asks dlt for the settings the job needs *before* any request is
sent, so a missing one stops the run with exit code 2 and a message naming both the
environment variable and the TOML key to set -- never the value of a secret. The values are
resolved once, here, and checked by their owners (`sources.bigcommerce.check_settings`,
`destinations.people.destination.people_config`); the run hands them down explicitly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

EXIT_CONFIG = 2


class ConfigError(Exception):
    """A setting is missing or malformed; the CLI exits with code 2."""

    exit_code = EXIT_CONFIG


@dataclass(frozen=True)
class Setting:
    """One setting: its dlt key (``section.section.name``), whether it is secret, its default."""

    key: str
    label: str
    secret: bool = False
    default: str | None = None

    @property
    def env_var(self) -> str:
        """The environment variable dlt reads for this key."""
        return self.key.replace(".", "__").upper()

    @property
    def toml_file(self) -> str:
        return ".dlt/secrets.toml" if self.secret else ".dlt/config.toml"

    @property
    def toml_section(self) -> str:
        return self.key.rsplit(".", 1)[0]

    @property
    def toml_name(self) -> str:
        return self.key.rsplit(".", 1)[1]

    def how_to_set(self) -> str:
        """Where a user sets it: the env var and the TOML key."""
        return (
            f"set the environment variable {self.env_var} or `{self.toml_name} = \"...\"` "
            f"under [{self.toml_section}] in {self.toml_file}"
        )


STORE_HASH = Setting("sources.bigcommerce.store_hash", "BigCommerce store hash")
ACCESS_TOKEN = Setting("sources.bigcommerce.access_token", "BigCommerce API access token", secret=True)
API_BASE_URL = Setting(
    "sources.bigcommerce.api_base_url", "BigCommerce API base URL", default="https://api.bigcommerce.com"
)
PEOPLE_BASE_URL = Setting("destination.people.base_url", "Infobip base URL (https://xxxxx.api.infobip.com)")
PEOPLE_API_KEY = Setting("destination.people.api_key", "Infobip API key", secret=True)
PEOPLE_TIMEOUT = Setting("destination.people.timeout", "seconds per People request", default="30")
PEOPLE_RATE = Setting("destination.people.rate_limit", "requests per second per People operation the account "
                      "allows (People documents 5; raise it only for an account Infobip raised)", default="5")

ORDERS = Setting("sources.bigcommerce.orders", "stage orders (needs the Orders read-only scope)", default="true")
ORDER_PRODUCTS = Setting(
    "sources.bigcommerce.order_products", "also stage each read order's line items (one request per order)",
    default="false",
)
OVERLAP = Setting("sync.overlap", "overlap a first sync's phases: push staged segments while the rest is read",
                  default="true")
SEGMENT_ROWS = Setting("sync.segment_rows", "customers per segment of an overlapped first sync "
                       "(default: a tenth of the store, at least 25,000)")
MAP_WORKER = Setting("sync.map_worker", "map selections of 10,000 customers or more in a worker process "
                     "(a second core)", default="true")
SLACK_HOOK = Setting("runtime.slack_incoming_hook", "Slack incoming webhook for alerts (dlt's own setting)", secret=True)
ALERT_WEBHOOK = Setting("alerts.webhook_url", "generic webhook URL that receives alerts as JSON", secret=True)

SOURCE_SETTINGS: tuple[Setting, ...] = (STORE_HASH, ACCESS_TOKEN, API_BASE_URL)
DESTINATION_SETTINGS: tuple[Setting, ...] = (PEOPLE_BASE_URL, PEOPLE_API_KEY, PEOPLE_TIMEOUT, PEOPLE_RATE)
ALERT_SETTINGS: tuple[Setting, ...] = (SLACK_HOOK, ALERT_WEBHOOK)
# Every setting the job reads, in the order `sync --help` lists them.
ALL_SETTINGS: tuple[Setting, ...] = (
    *SOURCE_SETTINGS, ORDERS, ORDER_PRODUCTS, *DESTINATION_SETTINGS, OVERLAP, SEGMENT_ROWS, MAP_WORKER, *ALERT_SETTINGS,
)
SECRET_SETTINGS: tuple[Setting, ...] = (ACCESS_TOKEN, PEOPLE_API_KEY, SLACK_HOOK, ALERT_WEBHOOK)
# Every environment variable whose value output redaction masks: the job's two secrets and
# the key that guards `bc2people answers serve`.
SECRET_ENV_VARS: tuple[str, ...] = (*(s.env_var for s in SECRET_SETTINGS), "ANSWERS__API_KEY")


@dataclass(frozen=True)
class JobSettings:
    """The resolved settings of one run. Secrets are kept out of ``repr``."""

    store_hash: str
    api_base_url: str
    people_base_url: str | None
    access_token: str = field(repr=False)
    people_api_key: str | None = field(repr=False, default=None)
    people_timeout: float = 30.0
    people_rate: float = 5.0  # requests per second per People operation

    def source_settings(self) -> dict[str, Any]:
        """The settings the ``bigcommerce`` source takes as arguments (so it resolves nothing again)."""
        return {"store_hash": self.store_hash, "access_token": self.access_token, "api_base_url": self.api_base_url}

    def people_client(self) -> Any:
        """A People client for these settings (None without a destination: a dry run)."""
        if self.people_base_url is None or self.people_api_key is None:
            return None
        from bc2people.destinations.people.client import PeopleClient

        return PeopleClient(self.people_base_url, self.people_api_key, timeout=self.people_timeout,
                            rate=self.people_rate)


def enabled(setting: Setting) -> bool:
    """A yes/no setting: on unless set to false, 0, no or off."""
    return str(lookup(setting) or "true").strip().lower() not in ("false", "0", "no", "off")


def lookup(setting: Setting) -> str | None:
    """The value of a setting from dlt's providers (env, secrets.toml, config.toml), or its default."""
    import dlt

    accessor = dlt.secrets if setting.secret else dlt.config
    value: object
    try:
        value = accessor.get(setting.key)
    except Exception:  # noqa: BLE001 - a provider that cannot be read counts as "not set"
        value = None
    if value is None or (isinstance(value, str) and not value.strip()):
        return setting.default
    return str(value).strip()


def resolve_settings(*, need_destination: bool = True) -> JobSettings:
    """Resolve every setting a run needs, or raise ``ConfigError`` listing each missing one."""
    wanted = SOURCE_SETTINGS + (DESTINATION_SETTINGS if need_destination else ())
    values = {s.key: lookup(s) for s in wanted}
    missing = [s for s in wanted if values[s.key] is None]
    if missing:
        lines = [f"  - {s.label}: {s.how_to_set()}" for s in missing]
        raise ConfigError("missing configuration:\n" + "\n".join(lines))
    from bc2people.destinations.people.destination import people_config
    from bc2people.sources.bigcommerce import check_settings

    store_hash, token, api_base_url = values[STORE_HASH.key], values[ACCESS_TOKEN.key], values[API_BASE_URL.key]
    try:
        check_settings(store_hash, token, api_base_url)
        people = (people_config(values[PEOPLE_BASE_URL.key], values[PEOPLE_API_KEY.key], values[PEOPLE_TIMEOUT.key],
                                values[PEOPLE_RATE.key]) if need_destination else None)
    except Exception as exc:  # the owners' configuration errors (exit code 2)
        if getattr(exc, "exit_code", None) != EXIT_CONFIG:
            raise
        raise ConfigError(str(exc)) from None
    return JobSettings(
        store_hash=(store_hash or "").strip(),
        access_token=(token or "").strip(),
        api_base_url=(api_base_url or "").rstrip("/"),
        people_base_url=people.base_url if people else None,
        people_api_key=people.api_key if people else None,
        people_timeout=people.timeout if people else 30.0,
        people_rate=people.rate if people else 5.0,
    )


def secret_values() -> list[str]:
    """Every secret value currently configured (env or dlt secrets), for output redaction."""
    found: set[str] = set()
    for s in SECRET_SETTINGS:
        env = os.environ.get(s.env_var)
        if env and env.strip():
            found.add(env.strip())
        value = lookup(s)
        if value:
            found.add(value)
    return sorted(found, key=len, reverse=True)
