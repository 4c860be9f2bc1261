"""Settings of the near-real-time lane, resolved like the job's (`pipelines.config.Setting`).

``SOURCES__BIGCOMMERCE__CLIENT_SECRET``: the app's client secret, the key of the Standard
Webhooks signatures. ``LANE__SHARED_HEADER_NAME`` / ``LANE__SHARED_HEADER_VALUE``: a custom
header the hooks carry (registered with ``hooks ensure``), accepted instead of a signature.
``LANE__DESTINATION``: the public https URL (port 443) BigCommerce posts to; ``hooks ensure``
registers it. At least one of the secret and the shared header must be set to ``listen``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bc2people.pipelines.config import ConfigError, Setting, lookup

CLIENT_SECRET = Setting("sources.bigcommerce.client_secret", "BigCommerce app client secret", secret=True)
SHARED_HEADER_NAME = Setting("lane.shared_header_name", "custom header name on the hooks")
SHARED_HEADER_VALUE = Setting("lane.shared_header_value", "custom header value on the hooks", secret=True)
DESTINATION = Setting("lane.destination", "public https URL of `bc2people listen`")
LANE_SECRET_ENV_VARS = (CLIENT_SECRET.env_var, SHARED_HEADER_VALUE.env_var)


@dataclass(frozen=True)
class LaneSettings:
    """The lane's resolved settings (secrets out of ``repr``)."""

    client_secret: str | None = field(default=None, repr=False)
    shared_header_name: str | None = None
    shared_header_value: str | None = field(default=None, repr=False)
    destination: str | None = None

    def secrets(self) -> list[str]:
        return [s for s in (self.client_secret, self.shared_header_value) if s]


def resolve_lane_settings(*, need_auth: bool = True) -> LaneSettings:
    """Read the lane's settings; ``need_auth``: ConfigError (exit 2) when no way to authenticate
    deliveries is configured (a receiver that accepts anything is not offered)."""
    out = LaneSettings(lookup(CLIENT_SECRET), lookup(SHARED_HEADER_NAME), lookup(SHARED_HEADER_VALUE),
                       lookup(DESTINATION))
    if bool(out.shared_header_name) != bool(out.shared_header_value):
        raise ConfigError(f"set both {SHARED_HEADER_NAME.env_var} and {SHARED_HEADER_VALUE.env_var}, or neither")
    if need_auth and not out.client_secret and not out.shared_header_value:
        raise ConfigError("missing configuration: the receiver needs a way to authenticate deliveries:\n"
                          f"  - {CLIENT_SECRET.label}: {CLIENT_SECRET.how_to_set()}\n"
                          f"  - or a shared header: {SHARED_HEADER_NAME.env_var} and {SHARED_HEADER_VALUE.env_var}")
    return out
