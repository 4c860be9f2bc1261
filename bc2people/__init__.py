"""bc2people: keep Infobip People in step with a BigCommerce store.

Installed, the project's top-level folders are this package's subpackages
(``bc2people.sources``, ``bc2people.destinations``, ``bc2people.pipelines``, ``bc2people.answers``,
``bc2people.sandbox``; the default mapping is package data in ``bc2people.mappings``), so no
generic top-level name is taken. In a source checkout the same names resolve to the folders
beside this one, so the repository runs without being installed.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
_CHECKOUT = _HERE.parent
if not (_HERE / "pipelines").is_dir() and (_CHECKOUT / "pipelines" / "cli.py").is_file():
    __path__.append(str(_CHECKOUT))  # noqa: F821  (a package's own search path)
