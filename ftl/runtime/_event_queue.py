"""Timeline events on their way to the backplane, batched.

Any thread may add an event; the runner's event loop sends them in `events` frames, the first
event of a batch waiting about `FLUSH_DELAY_S` so that a burst of logs costs one frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable

from ftl.runtime.protocol import EventRecord

FLUSH_DELAY_S = 0.02
MAX_EVENTS_PER_FRAME = 1000


class EventQueue:
    """Events waiting to go to the backplane; safe to add to from any thread."""

    def __init__(self) -> None:
        self._events: deque[EventRecord] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._flush_scheduled = False
        self._send: Callable[[list[EventRecord]], None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop, send: Callable[[list[EventRecord]], None]) -> None:
        """Begin sending through `send` on `loop` (called on it); events added before wait until now."""
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._send = send
        self.flush()

    def add(self, event: EventRecord) -> None:
        self._events.append(event)
        if self._flush_scheduled or self._loop is None:
            return
        self._flush_scheduled = True
        if threading.get_ident() == self._loop_thread:
            self._loop.call_later(FLUSH_DELAY_S, self.flush)
        else:
            with contextlib.suppress(RuntimeError):  # a closed loop: the runner is exiting
                self._loop.call_soon_threadsafe(self._loop.call_later, FLUSH_DELAY_S, self.flush)

    def flush(self) -> None:
        """Send everything queued now, in frames of at most `MAX_EVENTS_PER_FRAME` events."""
        # Cleared before draining: an event added meanwhile schedules another flush, never gets lost.
        self._flush_scheduled = False
        if self._send is None:
            return
        batch: list[EventRecord] = []
        while self._events:
            batch.append(self._events.popleft())
            if len(batch) == MAX_EVENTS_PER_FRAME:
                self._send(batch)
                batch = []
        if batch:
            self._send(batch)
