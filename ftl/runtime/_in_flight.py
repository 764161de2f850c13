"""Counting calls in flight, so the runner can wait until none is left under given keys.

Before it acknowledges a route table the runner waits until none of its own calls still waits on
an endpoint that left the table; before it exits it waits for the calls it is serving.
"""

from __future__ import annotations

import asyncio
import threading


class InFlight:
    """Calls in flight per key (a target endpoint, or "" for incoming calls), counted from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._counts: dict[str, int] = {}
        # Held while counting; callers also hold it to make "look up, then count" one step.
        self.lock = threading.Lock()
        self._changed = asyncio.Event()
        self._waiters = 0

    def begin(self, key: str) -> None:
        with self.lock:
            self.begin_locked(key)

    def begin_locked(self, key: str) -> None:
        """`begin` for a caller that already holds `lock`."""
        self._counts[key] = self._counts.get(key, 0) + 1

    def end(self, key: str) -> None:
        with self.lock:
            left = self._counts[key] - 1
            if left:
                self._counts[key] = left
            else:
                del self._counts[key]
        if not left and self._waiters:
            if threading.get_ident() == self._loop_thread:
                self._changed.set()
            else:
                self._loop.call_soon_threadsafe(self._changed.set)

    async def wait_idle(self, keys: set[str]) -> None:
        """Return once no call is in flight under any of `keys` (call it on the loop)."""
        self._waiters += 1
        try:
            while True:
                self._changed.clear()
                with self.lock:
                    busy = any(key in self._counts for key in keys)
                if not busy:
                    return
                await self._changed.wait()
        finally:
            self._waiters -= 1
