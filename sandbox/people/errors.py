"""The error bodies People answers with.

Two envelopes exist (see the reference notes §10):

- the classic ``requestError.serviceException`` envelope, used by every v2 operation and by
  401/403/404/429/5xx everywhere (``ApiException`` in the spec);
- the V3 body ``{"code", "message", "details"}`` used by the v3 upsert for whole-request 400s
  and for per-person error items (``ErrorResponseV3``). Codes are sent as JSON numbers, as the
  spec's examples do (the schema declares a string enum; the examples win).

Sandbox choice: the duplicate-name 400 (tags, custom attributes) uses the classic envelope with
``messageId`` ``DUPLICATE_NAME`` *and* carries ``errorCode: 40006`` / ``errorMessage`` at the top
level, the numeric shape practitioners see, so a client parsing either form finds the code.
"""

from __future__ import annotations

from typing import Any

from bc2people.sandbox.http import Response

# V3 codes (ErrorCodeV3). Meanings beyond 400100/400103/400104 are undocumented: sandbox choices.
INVALID_PERSON = 400100  # one or more properties of the person are invalid
BATCH_SIZE = 400101  # sandbox: `persons` empty or longer than 1000
INVALID_PERSONS = 400102  # sandbox: `persons` is not an array
MALFORMED_JSON = 400103
MISSING_PERSONS = 400104
CONFLICT = 409100  # sandbox: identifiers of one item match different existing persons
INTERNAL = 500100

DUPLICATE_NAME = 40006

_TEXTS = {
    400: ("BAD_REQUEST", "Bad request"),
    401: ("UNAUTHORIZED", "Unauthorized"),
    403: ("FORBIDDEN", "Forbidden"),
    404: ("NOT_FOUND", "Not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    429: ("TOO_MANY_REQUESTS", "Too many requests"),
    500: ("GENERAL_ERROR", "Something went wrong. Please contact support."),
    502: ("BAD_GATEWAY", "Bad gateway"),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable"),
}


def service_exception(
    status: int,
    text: str | None = None,
    *,
    message_id: str | None = None,
    validation_errors: dict[str, list[str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """A response in the classic ``requestError.serviceException`` envelope."""
    default_id, default_text = _TEXTS.get(status, ("GENERAL_ERROR", "Error"))
    exc: dict[str, Any] = {"messageId": message_id or default_id, "text": text or default_text}
    if validation_errors:
        exc["validationErrors"] = validation_errors
    body: dict[str, Any] = {"requestError": {"serviceException": exc}}
    if extra:
        body.update(extra)
    return Response(status, body)


def bad_request(text: str, field: str | None = None) -> Response:
    """400 BAD_REQUEST with an optional one-field validation error."""
    return service_exception(400, text, validation_errors={field: [text]} if field else None)


def not_found(text: str = "Not found") -> Response:
    """404 NOT_FOUND."""
    return service_exception(404, text)


def duplicate_name(kind: str, name: str) -> Response:
    """400 for a tag or custom attribute whose name (case-insensitive) already exists."""
    text = f"Object ({kind}) with this name already exists: {name}"
    return service_exception(
        400,
        text,
        message_id="DUPLICATE_NAME",
        extra={"errorCode": DUPLICATE_NAME, "errorMessage": text},
    )


def fault_response(kind: str) -> Response:
    """What an injected 429/5xx fault answers with, in People's envelope."""
    return service_exception(int(kind))


def v3_error(status: int, code: int, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    """A whole-request error in the V3 body (upsert)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return Response(status, body)


def detail(prop: str, message: str) -> dict[str, str]:
    """One ``ErrorDetail`` item."""
    return {"property": prop, "message": message}
