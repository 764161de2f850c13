"""The timeline: a bounded, queryable, streamable record of what happened in the backplane.

Events are kept in one ring per kind, so a flood of logs never evicts the last deployments. The
whole store is bounded by count (the fullest kind gives way first) and by age (every kind). Each
kind also keeps per-module, per-verb and per-request-id indexes in id order; since a kind evicts
strictly oldest-first, an evicted event is always at the front of each of its index rings, which
keeps `add` O(1) while making a trace lookup touch only that request's events.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

K = TypeVar("K")

KINDS = ("deployment", "changeset", "call", "ingress", "log", "cron")

STREAM_QUEUE_SIZE = 10_000


# gc=False: events cannot form cycles, and 100k tracked events made each full GC pass ~0.1 s.
class TimelineEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One thing that happened. `id` is assigned by the timeline when the event is added."""

    kind: str
    time: float
    module: str = ""
    verb: str = ""
    request_id: str = ""
    parent_request_id: str = ""
    duration_ms: float | None = None
    level: str = ""
    message: str = ""
    data: dict[str, Any] = {}
    id: int = 0


def event_to_json(event: TimelineEvent) -> dict[str, Any]:
    """The event as plain JSON-able builtins (the admin API's and SSE's wire shape)."""
    result: dict[str, Any] = msgspec.to_builtins(event)
    return result


def event_from_json(value: Any) -> TimelineEvent:
    return msgspec.convert(value, TimelineEvent)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a query or stream wants; None means any. `with_errors`: error events of every
    kind match too, not only those of `kind` (what `ftl logs` shows by default)."""

    kind: str | None = None
    module: str | None = None
    verb: str | None = None
    request_id: str | None = None
    since: float | None = None
    until: float | None = None
    level: str | None = None
    with_errors: bool = False

    def matches(self, event: TimelineEvent) -> bool:
        return (
            (self.kind is None or event.kind == self.kind or (self.with_errors and event.level == "error"))
            and (self.level is None or event.level == self.level)
            and (self.module is None or event.module == self.module)
            and (self.verb is None or event.verb == self.verb)
            and (self.request_id is None or event.request_id == self.request_id)
            and (self.since is None or event.time >= self.since)
            and (self.until is None or event.time <= self.until)
        )


@dataclass(slots=True)
class _KindStore:
    """All live events of one kind, in id order, with their index rings."""

    events: deque[TimelineEvent] = field(default_factory=deque)
    by_module: dict[str, _Ring] = field(default_factory=dict)
    by_verb: dict[tuple[str, str], _Ring] = field(default_factory=dict)
    by_request: dict[str, _Ring] = field(default_factory=dict)

    def append(self, event: TimelineEvent) -> None:
        self.events.append(event)
        if event.module:
            _push(self.by_module, event.module, event)
            if event.verb:
                _push(self.by_verb, (event.module, event.verb), event)
        if event.request_id:
            _push(self.by_request, event.request_id, event)

    def evict_oldest(self) -> None:
        event = self.events.popleft()
        if event.module:
            _pop_front(self.by_module, event.module)
            if event.verb:
                _pop_front(self.by_verb, (event.module, event.verb))
        if event.request_id:
            _pop_front(self.by_request, event.request_id)

    def candidates(self, wanted: EventFilter) -> _Ring:
        """The narrowest ring that holds every event of this kind `wanted` could match."""
        empty: _Ring = ()
        if wanted.request_id is not None:
            return self.by_request.get(wanted.request_id, empty)
        if wanted.module is not None and wanted.verb is not None:
            return self.by_verb.get((wanted.module, wanted.verb), empty)
        if wanted.module is not None:
            return self.by_module.get(wanted.module, empty)
        return self.events


# Most index keys (a request id) hold a handful of events. Those rings are tuples: small, and
# (holding only untracked events) ignored by the cyclic GC, whose full passes would otherwise walk
# every ring of a 100k-event timeline. A key that grows past SMALL_RING switches to a deque, so
# appending and evicting stay O(1).
_Ring = tuple[TimelineEvent, ...] | deque[TimelineEvent]
SMALL_RING = 16


def _push(index: dict[K, _Ring], key: K, event: TimelineEvent) -> None:
    ring = index.get(key)
    if ring is None:
        index[key] = (event,)
    elif isinstance(ring, deque):
        ring.append(event)
    elif len(ring) < SMALL_RING:
        index[key] = (*ring, event)
    else:
        index[key] = grown = deque(ring)
        grown.append(event)


def _pop_front(index: dict[K, _Ring], key: K) -> None:
    ring = index[key]
    if isinstance(ring, deque):
        ring.popleft()
        if not ring:
            del index[key]
    elif len(ring) > 1:
        index[key] = ring[1:]
    else:
        del index[key]


def _newest_first(ring: _Ring, before_id: int | None) -> Iterator[TimelineEvent]:
    if before_id is None:
        return reversed(ring)
    end = bisect_left(ring, before_id, key=lambda event: event.id)
    return (ring[i] for i in range(end - 1, -1, -1))


@dataclass(frozen=True, slots=True)
class Skipped:
    """`count` matching events, ids `first_id` to `last_id`, were lost at this point of a stream: its
    reader fell more than the stream's queue size behind. The timeline still has them."""

    count: int
    first_id: int
    last_id: int


_END = TimelineEvent(kind="", time=0.0)  # queued to end a stream


@dataclass(slots=True)
class _Subscriber:
    wanted: EventFilter
    queue: asyncio.Queue[TimelineEvent]
    loop: asyncio.AbstractEventLoop
    thread_id: int
    dropped: int = 0
    gap: Skipped | None = None  # lost since the reader last heard of a loss

    def offer(self, event: TimelineEvent) -> None:
        if threading.get_ident() == self.thread_id:
            self._put(event)
        else:
            self.loop.call_soon_threadsafe(self._put, event)

    def _put(self, event: TimelineEvent) -> None:
        # A stalled reader loses its oldest unread events rather than growing without bound or
        # blocking the producer: what it reads next is what is happening now.
        if self.queue.full():
            self._lose(self.queue.get_nowait())
        self.queue.put_nowait(event)

    def end(self) -> None:
        """No more events: the reader's `next()` returns None once it has read what came before."""
        if threading.get_ident() == self.thread_id:
            self._put(_END)
        else:
            self.loop.call_soon_threadsafe(self._put, _END)

    def _lose(self, event: TimelineEvent) -> None:
        self.dropped += 1
        gap = self.gap
        if gap is None:
            self.gap = Skipped(1, event.id, event.id)
        else:
            self.gap = Skipped(gap.count + 1, min(gap.first_id, event.id), max(gap.last_id, event.id))

    def take_gap(self) -> Skipped | None:
        gap, self.gap = self.gap, None
        return gap


class Timeline:
    """Bounded event store. `add` is cheap enough for the ingress and call hot paths."""

    def __init__(
        self,
        max_events: int = 100_000,
        max_age_s: float = 3600,
        *,
        clock: Callable[[], float] = time.time,
        stream_queue_size: int = STREAM_QUEUE_SIZE,
    ) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        if stream_queue_size < 1:
            raise ValueError("stream_queue_size must be at least 1")
        self.max_events = max_events
        self.max_age_s = max_age_s
        self.stream_queue_size = stream_queue_size
        self._clock = clock
        self._stores: dict[str, _KindStore] = {}
        self._streams_ended = False
        self._size = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._subscribers: list[_Subscriber] = []
        self._next_age_check = 0.0

    def __len__(self) -> int:
        return self._size

    def add(self, event: TimelineEvent) -> TimelineEvent:
        """Store the event under a fresh id (and the current time when it has none); returns it."""
        with self._lock:
            now = self._clock()
            stamped = msgspec.structs.replace(event, id=next(self._ids), time=event.time or now)
            store = self._stores.get(stamped.kind)
            if store is None:
                self._stores[stamped.kind] = store = _KindStore()
            store.append(stamped)
            self._size += 1
            self._evict(now)
        for subscriber in self._subscribers:
            if subscriber.wanted.matches(stamped):
                subscriber.offer(stamped)
        return stamped

    def add_many(self, events: Iterable[TimelineEvent]) -> list[TimelineEvent]:
        return [self.add(event) for event in events]

    def _evict(self, now: float) -> None:
        if now >= self._next_age_check:
            self._evict_older_than(now - self.max_age_s)
            # Age is checked a few times a second at most: cheap on the hot path, precise enough.
            self._next_age_check = now + min(0.25, self.max_age_s / 10)
        while self._size > self.max_events:
            fullest = max(self._stores.values(), key=lambda store: len(store.events))
            fullest.evict_oldest()
            self._size -= 1

    def _evict_older_than(self, horizon: float) -> None:
        for store in self._stores.values():
            # Reported times can be slightly out of order; arrival order decides, the head's time triggers.
            while store.events and store.events[0].time < horizon:
                store.evict_oldest()
                self._size -= 1

    def query(
        self,
        kind: str | None = None,
        module: str | None = None,
        verb: str | None = None,
        request_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        before_id: int | None = None,
        limit: int = 100,
        with_errors: bool = False,
    ) -> list[TimelineEvent]:
        """Matching events, newest first; page on with `before_id` = the last id of the previous page."""
        wanted = EventFilter(kind, module, verb, request_id, since, until, with_errors=with_errors)
        with self._lock:
            if kind is not None and not with_errors:
                store = self._stores.get(kind)
                rings = [store.candidates(wanted)] if store else []
            else:
                rings = [store.candidates(wanted) for store in self._stores.values()]
            # Consumed under the lock: a deque must not change while it is iterated.
            streams = [_newest_first(ring, before_id) for ring in rings if ring]
            if len(streams) == 1:
                merged: Iterable[TimelineEvent] = streams[0]
            else:
                merged = heapq.merge(*streams, key=lambda event: -event.id)
            return list(itertools.islice((e for e in merged if wanted.matches(e)), max(limit, 0)))

    def get(self, event_id: int) -> TimelineEvent | None:
        with self._lock:
            for store in self._stores.values():
                ring = store.events
                i = bisect_left(ring, event_id, key=lambda event: event.id)
                if i < len(ring) and ring[i].id == event_id:
                    return ring[i]
        return None

    def subscribe(
        self,
        kind: str | None = None,
        module: str | None = None,
        verb: str | None = None,
        request_id: str | None = None,
        *,
        level: str | None = None,
        with_errors: bool = False,
        backlog: int = 0,
    ) -> Subscription:
        """Start receiving matching events now (call from the event loop that will read them).

        A reader more than `stream_queue_size` events behind loses the oldest it has not read; its
        `next()` then says so with a `Skipped` before the events that came after them."""
        subscriber = _Subscriber(
            EventFilter(kind, module, verb, request_id, level=level, with_errors=with_errors),
            asyncio.Queue(self.stream_queue_size),
            asyncio.get_running_loop(),
            threading.get_ident(),
        )
        self._subscribers = [*self._subscribers, subscriber]
        if self._streams_ended:
            subscriber.end()
        past = (
            self.query(kind, module, verb, request_id, limit=backlog, with_errors=with_errors)
            if backlog > 0
            else []
        )
        if level is not None:
            past = [event for event in past if event.level == level]
        return Subscription(self, subscriber, past[::-1])

    def _unsubscribe(self, subscriber: _Subscriber) -> None:
        self._subscribers = [s for s in self._subscribers if s is not subscriber]

    async def stream(
        self,
        kind: str | None = None,
        module: str | None = None,
        verb: str | None = None,
        request_id: str | None = None,
        *,
        level: str | None = None,
        backlog: int = 0,
    ) -> AsyncGenerator[TimelineEvent, None]:
        """The last `backlog` matching events (oldest first), then every new one as it is added
        (less those lost while the reader was more than `stream_queue_size` events behind)."""
        with self.subscribe(kind, module, verb, request_id, level=level, backlog=backlog) as subscription:
            while True:
                item = await subscription.next()
                if item is None:
                    return
                if isinstance(item, TimelineEvent):
                    yield item

    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def end_streams(self) -> None:
        """End every open stream (the server stops): readers get None after what they have queued;
        a stream opened after this ends at once."""
        self._streams_ended = True
        for subscriber in self._subscribers:
            subscriber.end()


class Subscription:
    """Matching events from the moment of subscribing (after an optional backlog); `close()` to stop."""

    def __init__(self, timeline: Timeline, subscriber: _Subscriber, backlog: list[TimelineEvent]) -> None:
        self._timeline = timeline
        self._subscriber = subscriber
        self._backlog = deque(backlog)
        # An event added while the backlog was read may be both in it and queued: skip repeats.
        self._last_id = backlog[-1].id if backlog else 0
        self._held: TimelineEvent | None = None  # taken from the queue, due after a `Skipped`

    async def next(self) -> TimelineEvent | Skipped | None:
        """The next event, or a `Skipped` where events were lost (then the event that followed them);
        None once the timeline ended its streams (the server stops)."""
        if self._backlog:
            return self._backlog.popleft()
        while True:
            event = self._held if self._held is not None else await self._subscriber.queue.get()
            self._held = None
            if event is _END:
                return None
            # Only the queue's oldest events are dropped, so every loss so far came before `event`.
            gap = self._subscriber.take_gap()
            if gap is not None:
                self._held = event
                return gap
            if event.id > self._last_id:
                return event

    @property
    def dropped(self) -> int:
        """Events lost because this reader fell more than the stream queue size behind."""
        return self._subscriber.dropped

    def close(self) -> None:
        self._timeline._unsubscribe(self._subscriber)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
