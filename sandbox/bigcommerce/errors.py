"""BigCommerce error bodies: the V3 object shape and the V2 array shape."""

from __future__ import annotations

from typing import Any

from bc2people.sandbox.http import Response

ERROR_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
UNAUTHORIZED_TITLE = (
    "Unauthorized - the v3 Auth client ID or token in the request are not a valid combination for this store."
)


def v3_error(status: int, title: str, errors: dict[str, Any] | None = None, **headers: str) -> Response:
    """``{"status", "title", "type", "errors"?}`` (the customers spec's ``Error``/``ErrorResponse``)."""
    body: dict[str, Any] = {"status": status, "title": title, "type": ERROR_TYPE}
    if errors is not None:
        body["errors"] = errors
    return Response(status, body, dict(headers))


def v2_error(status: int, message: str, details: dict[str, Any] | None = None, **headers: str) -> Response:
    """``[{"status", "message", "details"?}]`` (the V2 array shape)."""
    item: dict[str, Any] = {"status": status, "message": message}
    if details is not None:
        item["details"] = details
    return Response(status, [item], dict(headers))


def error_for(path: str, status: int, title: str, errors: dict[str, Any] | None = None) -> Response:
    """The error in the shape of the API family ``path`` belongs to (``/v2/`` or V3)."""
    if "/v2/" in path or path.endswith("/v2"):
        return v2_error(status, title)
    return v3_error(status, title, errors)


def fault_error(kind: str) -> Response:
    """Body of an injected fault (429 without rate-limit headers, or a 5xx)."""
    titles = {
        "429": "Too many requests. The platform is under load; retry later.",
        "500": "Internal Server Error",
        "502": "Bad Gateway",
        "503": "Service Unavailable. The store is down for maintenance.",
    }
    status = int(kind)
    return v3_error(status, titles.get(kind, "Error"))
