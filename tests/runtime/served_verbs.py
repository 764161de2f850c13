"""Hand-made verbs for in-process tests of serving and outgoing calls (no module import)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from ftl.runtime._event_queue import EventQueue
from ftl.runtime._serving import CallServer
from ftl.runtime._verb_binding import BoundVerb
from ftl.runtime.loader import VerbHandle
from ftl.runtime.protocol import EventRecord, join_endpoint


@dataclass
class Msg:
    text: str


class Collected(EventQueue):
    """An event queue that keeps what is added, for the test to look at."""

    def __init__(self) -> None:
        super().__init__()
        self.added: list[EventRecord] = []

    def add(self, event: EventRecord) -> None:
        self.added.append(event)


def bound(func: Callable[..., Any], name: str = "", *, problem: str = "", response: Any = Msg) -> BoundVerb:
    handle = VerbHandle(
        name or func.__name__, func.__name__, func, asyncio.iscoroutinefunction(func), Msg, response, {}
    )
    return BoundVerb(handle, True, {}, problem)


@contextlib.asynccontextmanager
async def serving(module: str, verbs: dict[str, BoundVerb], events: EventQueue) -> AsyncIterator[str]:
    """A CallServer listening on a free port; yields its endpoint."""
    server = CallServer(module, verbs, events)
    listener = await asyncio.get_running_loop().create_server(server.connection, "127.0.0.1", 0)
    try:
        yield join_endpoint("127.0.0.1", listener.sockets[0].getsockname()[1])
    finally:
        listener.close()
