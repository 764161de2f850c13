"""What each Python module declared while it was imported: verbs and topics, in order.

Decorators and `ftl.topic` record here; extraction reads it back per module of a package. The
loader forgets a package's entries before (re)importing it, so a rebuild never sees stale objects.
"""

from __future__ import annotations

from collections.abc import Iterable

_declared: dict[str, list[object]] = {}


def record(python_module: str, declaration: object) -> None:
    entries = _declared.setdefault(python_module, [])
    if not any(entry is declaration for entry in entries):
        entries.append(declaration)


def declared_in(python_module: str) -> list[object]:
    return list(_declared.get(python_module, ()))


def forget(python_modules: Iterable[str]) -> None:
    for name in python_modules:
        _declared.pop(name, None)
