"""Timeline events are batched into frames, from any thread, and none is lost."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ftl.runtime._event_queue import MAX_EVENTS_PER_FRAME, EventQueue
from ftl.runtime.protocol import EventRecord

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Sink:
    """Collects the frames a queue sends; `until(n)` waits for n events in all."""

    def __init__(self) -> None:
        self.frames: list[list[EventRecord]] = []
        self._arrived = asyncio.Event()

    def send(self, batch: list[EventRecord]) -> None:
        self.frames.append(list(batch))
        self._arrived.set()

    @property
    def events(self) -> list[EventRecord]:
        return [event for frame in self.frames for event in frame]

    async def until(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.events) < count:
                self._arrived.clear()
                await self._arrived.wait()


def event(n: int) -> EventRecord:
    return EventRecord("log", float(n), message=str(n))


async def test_events_added_before_start_are_sent_when_it_starts() -> None:
    queue, sink = EventQueue(), Sink()
    queue.add(event(1))
    queue.add(event(2))
    assert sink.frames == []
    queue.start(asyncio.get_running_loop(), sink.send)
    assert sink.frames == [[event(1), event(2)]]


async def test_a_burst_is_one_frame_and_a_big_one_is_split() -> None:
    queue, sink = EventQueue(), Sink()
    queue.start(asyncio.get_running_loop(), sink.send)
    for n in range(3):
        queue.add(event(n))
    await sink.until(3)
    assert sink.frames == [[event(0), event(1), event(2)]]

    total = 2 * MAX_EVENTS_PER_FRAME + 5
    for n in range(total):
        queue.add(event(n))
    await sink.until(3 + total)
    assert [len(frame) for frame in sink.frames[1:]] == [MAX_EVENTS_PER_FRAME, MAX_EVENTS_PER_FRAME, 5]
    assert sink.events[3:] == [event(n) for n in range(total)]


async def test_events_from_other_threads_arrive_in_order_per_thread() -> None:
    queue, sink = EventQueue(), Sink()
    queue.start(asyncio.get_running_loop(), sink.send)

    def produce(offset: int) -> None:
        for n in range(offset, offset + 200):
            queue.add(event(n))

    threads = [threading.Thread(target=produce, args=(offset,)) for offset in (0, 1000, 2000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    await sink.until(600)
    times = [int(e.time) for e in sink.events]
    assert sorted(times) == sorted(n for offset in (0, 1000, 2000) for n in range(offset, offset + 200))
    for offset in (0, 1000, 2000):
        assert [t for t in times if offset <= t < offset + 200] == list(range(offset, offset + 200))
