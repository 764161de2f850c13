"""The runner's end of its control connection to the backplane, and its lifeline.

In: `routes` (a new route table for outgoing calls) and `stop`. Out: `routes_applied`, the
timeline's `events` and the events user code `publish`es (`sender_for_any_thread`). When the
connection closes, the runner exits, so a backplane that dies never leaves runners behind.

The event loop only notices a closed connection when it gets to run, which user code can hold
off for good: an import that never returns, an async verb that blocks. So a runner started by
the supervisor also watches its lifeline (`exit_with_backplane`) on a thread of its own: a pipe
whose only write end the backplane holds and never writes to. The kernel closes that end however
the backplane ends, SIGKILL included, and the end of file makes the runner exit at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from ftl.runtime._event_queue import EventQueue
from ftl.runtime._outgoing import OutgoingCalls
from ftl.runtime._serving import CallServer
from ftl.runtime.protocol import Connection, EventRecord, Events, Message, Routes, RoutesApplied, Stop


class Control:
    """Handles what the backplane sends; `stopped` resolves to the exit code when the runner is done."""

    def __init__(
        self, connection: Connection, server: CallServer, outgoing: OutgoingCalls, events: EventQueue
    ) -> None:
        self._connection = connection
        self._server = server
        self._outgoing = outgoing
        self._events = events
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self.stopped: asyncio.Future[int] = self._loop.create_future()

    def on_message(self, connection: Connection, message: Message) -> None:
        if isinstance(message, Routes):
            self._apply_routes(message)
        elif isinstance(message, Stop):
            self._spawn(self.stop())

    def on_lost(self) -> None:
        if not self.stopped.done():
            self.stopped.set_result(0)

    def send_events(self, batch: list[EventRecord]) -> None:
        self._connection.send(Events(batch))

    async def stop(self) -> None:
        """Finish the calls being served, send the last events, close the connection."""
        await self._server.drain()
        self._events.flush()
        self._connection.close()
        await self._connection.wait_closed()
        if not self.stopped.done():
            self.stopped.set_result(0)

    def _apply_routes(self, routes: Routes) -> None:
        dropped = self._outgoing.use_routes(routes)
        if dropped is None:
            self._connection.send(RoutesApplied(routes.version))  # overtaken by a newer table already
            return
        self._spawn(self._acknowledge(routes.version, dropped))

    async def _acknowledge(self, version: int, dropped: set[str]) -> None:
        # Only once nothing we sent is still waiting on a dropped endpoint may it be stopped.
        await self._outgoing.settle(dropped)
        self._connection.send(RoutesApplied(version))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)  # the loop only keeps a weak reference to a task
        task.add_done_callback(self._tasks.discard)


def sender_for_any_thread(connection: Connection) -> Callable[[Message], None]:
    """A `send` on `connection` that any thread may call (a sync verb runs on a worker thread);
    frames sent from one thread keep their order. Call it on the connection's event loop."""
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()

    def send(message: Message) -> None:
        if threading.get_ident() == loop_thread:
            connection.send(message)
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: the runner is exiting
            loop.call_soon_threadsafe(connection.send, message)

    return send


def exit_with_backplane(lifeline: int) -> None:
    """Exit the process at once when `lifeline`, the read end of the backplane's pipe, closes."""
    threading.Thread(target=_watch, args=(lifeline,), name="ftl-lifeline", daemon=True).start()


def _watch(lifeline: int) -> None:
    try:
        while os.read(lifeline, 512):
            pass  # nobody writes to it; data would be a stray write, not the end
    except OSError:
        return  # not a pipe we can watch (closed by user code): the control connection still is
    # Straight to the descriptor, and no clean-up: another thread may hold any lock, stderr's too,
    # and the calls in flight have no one left to answer to.
    with contextlib.suppress(OSError):
        os.write(2, b"ftl runner: the backplane is gone; exiting\n")
    os._exit(0)
