"""Exceptions raised by the People client and destination.

Every message is built from status codes, People error codes and People's own error
text; none of them ever carries the API key. Exceptions that end the run carry an integer
``exit_code`` the CLI turns into the process exit code (2 = configuration, 1 = failure).

Which of them dlt retries follows dlt's rule: subclasses of
``DestinationTerminalException`` fail the load job for good; any other exception makes dlt
retry the job (resending from the last committed batch).
"""

from __future__ import annotations

from dlt.common.destination.exceptions import DestinationTerminalException


class PeopleError(Exception):
    """Base of every People error; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class PeopleConfigError(PeopleError):
    """Base URL or API key missing or unusable: nothing was sent."""

    exit_code = 2


class PeopleTerminalError(PeopleError, DestinationTerminalException):
    """A request People will never accept as sent: retrying cannot help."""

    def __init__(self, message: str, *, status: int | None = None, code: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class PeopleAuthError(PeopleTerminalError):
    """401/403: the key is wrong, revoked or lacks the people:manage scope."""

    exit_code = 2


class PeopleRequestError(PeopleTerminalError):
    """A whole-request 400 (e.g. 400103 malformed JSON, 400104 missing ``persons``)."""

    exit_code = 1


class PeopleTransientError(PeopleError):
    """429/5xx/timeout/reset that outlived the client's own retries; dlt retries the job."""

    exit_code = 1


class ProvisioningError(PeopleError):
    """A custom attribute exists with another data type (types can never change)."""

    exit_code = 2
