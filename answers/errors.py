"""The exceptions of the Answers module; none of them ever carries a credential."""

from __future__ import annotations

from typing import Any


class AnswersError(Exception):
    """Base class: an HTTP-like `status`, a one-line `title` and per-field `errors`."""

    exit_code = 1

    def __init__(self, status: int, title: str, errors: dict[str, Any] | None = None) -> None:
        self.status = int(status)
        self.title = title
        self.errors: dict[str, Any] = dict(errors or {})
        super().__init__(self._message())

    def _message(self) -> str:
        text = f"{self.status} {self.title}"
        if self.errors:
            text += " (" + "; ".join(f"{k}: {v}" for k, v in self.errors.items()) + ")"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A flat JSON-able body for chatbots: `error`, `status`, `title`, `errors`."""
        return {"error": True, "status": self.status, "title": self.title, "errors": dict(self.errors)}


class BigCommerceError(AnswersError):
    """BigCommerce answered with an error (any of its V2/V3 shapes), or did not answer in time.

    `status` is BigCommerce's HTTP status; 504 means no answer within the timeout and 502 a
    connection failure.
    """


class InvalidParameter(AnswersError):
    """A function was called with a parameter it cannot use (nothing was sent)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(422, f"Invalid parameter '{name}'", {name: message})


class ConfigError(AnswersError):
    """The Answers configuration is missing or unusable."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(500, message)

    def _message(self) -> str:
        return self.title
