"""`ftl.topic`: a pub/sub topic declared at module level, published to by verbs.

orders = ftl.topic("orders", OrderPlaced, partitions=4)

@ftl.verb
def place(req: Order) -> None:
    orders.publish(OrderPlaced(...))       # extraction adds `+publish shop.orders`
"""

from __future__ import annotations

import sys
from typing import Any, Generic, TypeVar

from ftl._sdk import registry
from ftl._sdk.calls import publish_event
from ftl._sdk.decorators import Export, _check_export

Event = TypeVar("Event")


class Topic(Generic[Event]):
    """A topic of events of type `Event`. `module` is set by the loader (or by a generated stub)."""

    __slots__ = ("event", "export", "line", "module", "name", "partitions", "python_module", "realm")

    def __init__(
        self,
        name: str,
        event: type[Event] | Any,
        *,
        partitions: int = 1,
        export: Export = False,
        module: str = "",
        realm: str | None = None,
        python_module: str = "",
        line: int = 0,
    ) -> None:
        self.name = name
        self.event = event
        self.partitions = partitions
        self.export: Export = _check_export(export)
        self.module = module
        self.realm = realm
        self.python_module = python_module
        self.line = line

    def __repr__(self) -> str:
        owner = f"{self.module}." if self.module else ""
        return f"<ftl topic {owner}{self.name}>"

    def publish(self, event: Event) -> None:
        """Publish one event: a runner sends it to the backplane, which delivers it to every
        subscriber; in tests, `ftl.testing` records it."""
        publish_event(self.module, self.name, event, self.event)


def topic(name: str, event: type[Event], *, partitions: int = 1, export: Export = False) -> Topic[Event]:
    """Declare a topic of this module: `orders = ftl.topic("orders", OrderPlaced, partitions=4)`."""
    caller = sys._getframe(1)
    python_module = str(caller.f_globals.get("__name__", ""))
    declared: Topic[Event] = Topic(
        name,
        event,
        partitions=partitions,
        export=export,
        python_module=python_module,
        line=caller.f_lineno,
    )
    registry.record(python_module, declared)
    return declared
