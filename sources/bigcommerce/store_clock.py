"""The store's own clock, which every incremental window is planned against."""

from __future__ import annotations

from typing import Any

from .client import BigCommerceClient
from .helpers import MalformedResponse
from .settings import TIME_PATH


def store_time(client: BigCommerceClient) -> int:
    """The store's clock (``GET /v2/time``), Unix seconds."""

    def validate(body: Any) -> None:
        t = body.get("time") if isinstance(body, dict) else None
        if not isinstance(t, int) or isinstance(t, bool) or t <= 0:
            raise MalformedResponse("expected {\"time\": <unix seconds>}")

    return int(client.get_json(client.store_path(TIME_PATH), validate=validate)["time"])
