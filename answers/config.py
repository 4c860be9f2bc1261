"""`AnswersConfig`: which store to talk to, read from the same variables as the sync job.

Answers gets its own token, `ANSWERS__ACCESS_TOKEN` (the `[answers] access_token` setting in
dlt's naming), since its functions need far more scopes than the sync's read-only customers
token; without it the sync's `SOURCES__BIGCOMMERCE__ACCESS_TOKEN` is used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bc2people.answers.errors import ConfigError

ENV_STORE_HASH = "SOURCES__BIGCOMMERCE__STORE_HASH"
ENV_ACCESS_TOKEN = "SOURCES__BIGCOMMERCE__ACCESS_TOKEN"
ENV_ANSWERS_ACCESS_TOKEN = "ANSWERS__ACCESS_TOKEN"
ENV_API_BASE_URL = "SOURCES__BIGCOMMERCE__API_BASE_URL"
ENV_TIMEOUT = "ANSWERS__TIMEOUT"
DEFAULT_API_BASE_URL = "https://api.bigcommerce.com"
STORE_HASH_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class AnswersConfig:
    """BigCommerce store hash, API token (never shown in a repr), API base URL and timeout in seconds.

    The timeout bounds each BigCommerce request; keep it under Answers' 10 s default.
    """

    store_hash: str
    access_token: str = field(repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    timeout: float = 8.0

    def __post_init__(self) -> None:
        if not isinstance(self.store_hash, str) or not STORE_HASH_RE.match(self.store_hash):
            raise ConfigError("store_hash must be 1-64 letters, digits, '-' or '_'")
        if not isinstance(self.access_token, str) or not self.access_token.strip():
            raise ConfigError("access_token is required")
        parts = urlsplit(self.api_base_url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ConfigError("api_base_url must be an http(s) URL without query or fragment")
        if not 0 < float(self.timeout) <= 60:
            raise ConfigError("timeout must be between 0 and 60 seconds")

    @property
    def store_url(self) -> str:
        """`<api_base_url>/stores/<store_hash>` (V2 and V3 paths hang below it)."""
        return f"{self.api_base_url.rstrip('/')}/stores/{self.store_hash}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AnswersConfig:
        """Read SOURCES__BIGCOMMERCE__{STORE_HASH,API_BASE_URL}, ANSWERS__TIMEOUT and the token.

        The token is ANSWERS__ACCESS_TOKEN when set, else SOURCES__BIGCOMMERCE__ACCESS_TOKEN.
        """
        env = os.environ if env is None else env
        token = env.get(ENV_ANSWERS_ACCESS_TOKEN) or env.get(ENV_ACCESS_TOKEN)
        missing = [n for n in (ENV_STORE_HASH,) if not env.get(n)]
        if not token:
            missing.append(f"{ENV_ANSWERS_ACCESS_TOKEN} (or {ENV_ACCESS_TOKEN})")
        if missing:
            raise ConfigError("missing configuration: set " + " and ".join(missing))
        try:
            timeout = float(env.get(ENV_TIMEOUT) or 8.0)
        except ValueError as exc:
            raise ConfigError(f"{ENV_TIMEOUT} must be a number of seconds") from exc
        return cls(store_hash=env[ENV_STORE_HASH], access_token=str(token),
                   api_base_url=env.get(ENV_API_BASE_URL) or DEFAULT_API_BASE_URL, timeout=timeout)
