"""What user code may take from a generated client stub, and what to say when it takes a name the
stub lacks.

A stub (`ftl_modules.<module>`, or `ftl_modules.<realm>.<module>`, rendered by `ftl.build.stubs`)
holds the module's exported declarations and lists the names of the others in
`UNEXPORTED_ATTRIBUTE`, so that calling a verb the module does not export reads differently from
calling one that does not exist.
"""

from __future__ import annotations

import difflib
import types

from ftl._sdk.calls import VerbClient
from ftl._sdk.topics import Topic
from ftl.names import STUBS_PACKAGE, snake_case

__all__ = ["UNEXPORTED_ATTRIBUTE", "is_stub_module", "missing_name_problem"]

UNEXPORTED_ATTRIBUTE = "_FTL_UNEXPORTED"  # {python name: declaration kind} of what the stub leaves out
_HOW_TO_EXPORT = {
    "verb": "mark it `@ftl.verb(export={level})`",
    "topic": "declare it with `ftl.topic(..., export={level})`",
}


def is_stub_module(value: object) -> bool:
    """Whether `value` is one module's generated stub (not the `ftl_modules` package of a realm)."""
    return (
        isinstance(value, types.ModuleType)
        and value.__name__.startswith(STUBS_PACKAGE + ".")
        and not hasattr(value, "__path__")
    )


def missing_name_problem(stub: types.ModuleType, name: str) -> str:
    """Why `stub` has no attribute `name`: a declaration it does not export, or no such name (with
    the names it has that come closest)."""
    module, realm = _module_and_realm(stub)
    where = f"module {module} of realm {realm}" if realm else f"module {module}"
    unexported: dict[str, str] = getattr(stub, UNEXPORTED_ATTRIBUTE, {})
    if name in unexported:
        return _not_exported(unexported[name], name, where, bool(realm))
    offered = _offered(stub)
    topics = sorted(n for n, value in offered.items() if isinstance(value, Topic))
    is_type = name[:1].isupper()
    problem = f"{where} has no {'type' if is_type else 'verb or topic' if topics else 'verb'} {name}"
    close = _closest(name, [*offered, *unexported])
    if close:
        shown = [f"{module}.{c} (not exported)" if c in unexported else f"{module}.{c}" for c in close]
        hint = f"{problem}; did you mean {' or '.join(shown)}?"
        if any(isinstance(offered.get(c), Topic) or unexported.get(c) == "topic" for c in close):
            hint += (
                " (a stub names each topic by its schema name, not by the variable its module assigned "
                f"it to: its topics are {', '.join(topics) or 'none exported'})"
            )
        return hint
    verbs = sorted(n for n, value in offered.items() if isinstance(value, VerbClient))
    listed = f"its exported verbs: {', '.join(verbs) or 'none'}"
    if topics and not is_type:
        listed += f"; its topics: {', '.join(topics)}"
    return f"{problem} ({listed})"


def _not_exported(kind: str, name: str, where: str, other_realm: bool) -> str:
    audience = "other realms" if other_realm else "other modules"
    how = _HOW_TO_EXPORT.get(kind)
    if how is None:  # a type is exported with the verbs and topics that use it
        return f"{kind} {name} of {where} is not exported to {audience}: it is when an exported verb uses it"
    level = '"realm"' if other_realm else "True"
    return f"{kind} {name} of {where} is not exported: {how.format(level=level)} to use it from {audience}"


def _module_and_realm(stub: types.ModuleType) -> tuple[str, str]:
    parts = stub.__name__.split(".")[1:]
    return (parts[1], parts[0]) if len(parts) == 2 else (parts[0], "")


def _offered(stub: types.ModuleType) -> dict[str, object]:
    """The stub's own declarations by Python name (not the modules it imports, nor its markers)."""
    offered: dict[str, object] = {}
    annotated = getattr(stub, "__annotations__", {})
    for name, value in vars(stub).items():
        if name.startswith("_"):
            continue
        is_own_class = isinstance(value, type) and value.__module__ == stub.__name__
        if is_own_class or isinstance(value, VerbClient | Topic) or name in annotated:
            offered[name] = value
    return offered


def _closest(name: str, candidates: list[str]) -> list[str]:
    """The candidates `name` was probably meant to be: its snake_case spelling, else close matches
    and longer names that start with it (`refund` -> `refund_order`). A type is not offered for a
    verb, nor a verb for a type."""
    candidates = [c for c in candidates if c[:1].isupper() == name[:1].isupper()]
    snake = snake_case(name)
    if snake != name and snake in candidates:
        return [snake]
    close = difflib.get_close_matches(name, candidates, n=2, cutoff=0.6)
    longer = sorted(c for c in candidates if c.startswith(name) and c not in close)
    return [*close, *longer][:2]
