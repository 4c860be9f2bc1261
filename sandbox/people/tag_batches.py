"""How ``PATCH|DELETE /people/2/tags/{name}/persons`` answers when a query matches nobody
(``PeopleSandbox.tag_missing_person``).

The spec documents a 404 for the operation (``ApiException404``) and, for People's other v2
batch operations, per-item results ``{"query", "status": 409, "errors": [{"message": "There is
no person matching the query"}]}`` in a 200/207. Which one the tag batch gives is not stated,
so the sandbox can play each:

- ``skip`` (the default): the query is ignored, the others are tagged, 200 with no body;
- ``404``: the whole request fails with 404 NOT_FOUND and nobody is tagged;
- ``409``: the others are tagged and the answer is 200 (the only success status the spec lists
  for this operation) with a body of one 409 result per missing query.
"""

from __future__ import annotations

from typing import Any

from bc2people.sandbox.http import Response
from bc2people.sandbox.people import errors as E

MODES = ("skip", "404", "409")
NO_PERSON = "There is no person matching the query"


def check_mode(mode: Any) -> str:
    """``mode`` as text when it is one of `MODES`, else ValueError."""
    if str(mode) not in MODES or isinstance(mode, bool):
        raise ValueError(f"tag missing-person mode must be one of {', '.join(MODES)}")
    return str(mode)


def refuse_whole(mode: str, missing: list[int]) -> Response | None:
    """The whole-request 404 of mode ``404`` when some query matched nobody, else None."""
    if mode == "404" and missing:
        return E.not_found(NO_PERSON)
    return None


def answer(mode: str, queries: list[tuple[str, str]], missing: list[int]) -> Response:
    """The answer after tagging: 200 with per-item 409 results in mode ``409``, else 200 with no body."""
    if mode != "409" or not missing:
        return Response(200)
    results = [
        {"query": {"type": queries[i][0], "identifier": queries[i][1]}, "status": 409,
         "errors": [{"message": NO_PERSON}]}
        for i in missing
    ]
    return Response(200, {"results": results})
