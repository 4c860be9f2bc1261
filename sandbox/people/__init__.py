"""Local simulator of the Infobip People API (see ``server.py`` for the control API)."""

from bc2people.sandbox.people.server import PeopleSandbox

__all__ = ["PeopleSandbox"]
