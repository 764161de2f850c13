"""Pub/sub in the backplane: an in-memory log per topic, and a cursor per subscription.

    pubsub = PubSub(call, timeline)
    pubsub.update(live_modules)                    # after every commit: topics and subscriptions
    pubsub.publish("shop", "orders", b'{"id": 1}', request_id="req-1", caller="shop.place")

A runner sends what user code publishes (`topic.publish(event)`) in a `publish` frame; it is
appended to the topic's log, which keeps the newest `RETAINED_EVENTS`. Every `+subscribe` verb of
a live module is a subscription with a cursor of its own: it starts at the log's first retained
event (`from_="beginning"`) or at its end (`"latest"`) when the subscription first appears, and a
redeploy of the subscriber keeps it. Each subscription is delivered to one event at a time, in
order, by calling its verb through the router with the publisher's request id and the caller
`topic:<module>.<topic>` (so the runner's "call" event says which topic; the backplane adds
`data["topic"]`). A verb that fails is retried as its `+retry` says (count, backoff doubling from
min to max), then the event goes to the catch verb or the dead-letter topic, if any, and a "log"
line records that the subscription gave up on it. Without `+retry`, the event is logged and
skipped. A subscriber that is not live (its runner restarting) is waited for, not given up on.

Nothing is persisted, and there is no broker: logs and cursors live as long as the backplane.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import msgspec

from ftl.devserver.cron import CallVerb
from ftl.devserver.routes import CallError
from ftl.devserver.timeline import Timeline, TimelineEvent
from ftl.runtime.context import new_request_id
from ftl.schema import ast
from ftl.schema.duration import DurationError, parse_duration
from ftl.schema.printer import print_type
from ftl.schema.validate.retry import DEFAULT_RETRY_COUNT

__all__ = [
    "RETAINED_EVENTS",
    "TOPIC_CALLER_PREFIX",
    "PubSub",
    "PublishedEvent",
    "RetryPolicy",
    "Subscription",
    "TopicLog",
    "subscriptions",
    "topic_of_caller",
]

RETAINED_EVENTS = 10_000
TOPIC_CALLER_PREFIX = "topic:"
DEFAULT_MAX_BACKOFF_S = 3_600.0
NOT_LIVE_PAUSE_S = 0.5  # how long a delivery waits for a subscriber that is down, between tries

Sleep = Callable[[float], Awaitable[None]]
TopicKey = tuple[str, str]  # (module, topic)
SubscriptionKey = tuple[str, str, str, str]  # (module, verb, topic module, topic)


def topic_of_caller(caller: str) -> str:
    """`shop.orders` for the caller of a delivery (`topic:shop.orders`); "" for any other caller."""
    return caller[len(TOPIC_CALLER_PREFIX) :] if caller.startswith(TOPIC_CALLER_PREFIX) else ""


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    offset: int
    body: bytes  # FTL-JSON
    request_id: str  # of the call that published it ("" when none)
    caller: str  # `module.verb` that published it
    time: float


class TopicLog:
    """One topic's events in publishing order, the newest `retained` of them; offsets never repeat."""

    def __init__(self, retained: int = RETAINED_EVENTS) -> None:
        self._events: deque[PublishedEvent] = deque(maxlen=retained)
        self.end = 0  # the offset the next event gets

    @property
    def start(self) -> int:
        """The offset of the oldest event still retained (== `end` when there is none)."""
        return self._events[0].offset if self._events else self.end

    def append(self, body: bytes, request_id: str, caller: str) -> PublishedEvent:
        event = PublishedEvent(self.end, body, request_id, caller, time.time())
        self._events.append(event)
        self.end += 1
        return event

    def get(self, offset: int) -> PublishedEvent | None:
        start = self.start
        return self._events[offset - start] if start <= offset < self.end else None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`+retry`: `count` more attempts after the first, waiting `min_backoff_s` doubling up to
    `max_backoff_s`; then the `catch` verb (module, verb), if any."""

    count: int
    min_backoff_s: float
    max_backoff_s: float
    catch: tuple[str, str] | None = None

    def backoff(self, retry: int) -> float:
        """The wait before retry number `retry` (1 for the first)."""
        return min(self.min_backoff_s * 2.0 ** (retry - 1), self.max_backoff_s)

    @classmethod
    def of(cls, metadata: ast.MetadataRetry, module: str) -> RetryPolicy:
        count = DEFAULT_RETRY_COUNT if metadata.count is None else metadata.count
        minimum = _seconds(metadata.min_backoff, 1.0)
        maximum = _seconds(metadata.max_backoff, max(minimum, DEFAULT_MAX_BACKOFF_S))
        catch = (metadata.catch.module or module, metadata.catch.name) if metadata.catch else None
        return cls(count, minimum, max(minimum, maximum), catch)


NO_RETRY = RetryPolicy(0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A `+subscribe` verb: `module.verb` receives the events of `topic`."""

    module: str
    verb: str
    topic: TopicKey
    from_beginning: bool = False
    retry: RetryPolicy = NO_RETRY
    dead_letter: bool = False
    request_type: str = ""  # the event type as the schema prints it, for a catch verb's request

    @property
    def key(self) -> SubscriptionKey:
        return (self.module, self.verb, *self.topic)

    @property
    def name(self) -> str:
        return f"{self.module}.{self.verb}"


def subscriptions(modules: Iterable[ast.Module]) -> list[Subscription]:
    """The subscriptions of `modules` (the live ones)."""
    found = []
    for module in modules:
        for verb in module.verbs():
            subscribe = next((m for m in verb.metadata if isinstance(m, ast.MetadataSubscriber)), None)
            if subscribe is None:
                continue
            retry = next((m for m in verb.metadata if isinstance(m, ast.MetadataRetry)), None)
            found.append(
                Subscription(
                    module.name,
                    verb.name,
                    (subscribe.topic.module or module.name, subscribe.topic.name),
                    subscribe.from_offset == ast.FromOffset.BEGINNING,
                    RetryPolicy.of(retry, module.name) if retry is not None else NO_RETRY,
                    subscribe.dead_letter,
                    print_type(verb.request),
                )
            )
    return found


def declared_topics(modules: Iterable[ast.Module]) -> set[TopicKey]:
    return {
        (module.name, decl.name) for module in modules for decl in module.decls if isinstance(decl, ast.Topic)
    }


@dataclass(eq=False)
class _Cursor:
    """A subscription's place in its topic's log, and the task delivering from it."""

    subscription: Subscription
    offset: int
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class PubSub:
    """Topic logs and subscription cursors; deliveries run as tasks on the running event loop."""

    def __init__(
        self,
        call: CallVerb,
        timeline: Timeline,
        *,
        sleep: Sleep = asyncio.sleep,
        retained: int = RETAINED_EVENTS,
    ) -> None:
        self._call = call
        self._timeline = timeline
        self._sleep = sleep
        self._retained = retained
        self._topics: set[TopicKey] = set()
        self._logs: dict[TopicKey, TopicLog] = {}
        self._cursors: dict[SubscriptionKey, _Cursor] = {}
        self._by_topic: dict[TopicKey, list[_Cursor]] = {}

    # -- the schema -----------------------------------------------------------------------------

    def update(self, modules: Iterable[ast.Module]) -> None:
        """Serve the topics and subscriptions of `modules`: new subscriptions start, kept ones keep
        their cursor (with the new retry policy), dropped ones stop, dropped topics lose their log."""
        modules = list(modules)
        self._topics = declared_topics(modules)
        for topic in [topic for topic in self._logs if topic not in self._topics]:
            del self._logs[topic]
        wanted = {s.key: s for s in subscriptions(modules)}
        # A dropped topic's cursors go with its log: offsets into a log declared again would be wrong.
        dropped = [
            key
            for key, cursor in self._cursors.items()
            if key not in wanted or cursor.subscription.topic not in self._topics
        ]
        for gone in dropped:
            task = self._cursors.pop(gone).task
            if task is not None:
                task.cancel()
        for key, subscription in wanted.items():
            cursor = self._cursors.get(key)
            if cursor is None:
                log = self._logs.get(subscription.topic)
                start = (log.start if subscription.from_beginning else log.end) if log else 0
                cursor = self._cursors[key] = _Cursor(subscription, start)
                cursor.task = asyncio.get_running_loop().create_task(self._deliver_all(cursor))
            else:
                cursor.subscription = subscription
            cursor.wake.set()  # a subscriber waiting to come back may be live now
        by_topic: dict[TopicKey, list[_Cursor]] = {}
        for cursor in self._cursors.values():
            by_topic.setdefault(cursor.subscription.topic, []).append(cursor)
        self._by_topic = by_topic

    # -- publishing -----------------------------------------------------------------------------

    def publish(
        self, module: str, topic: str, body: bytes, *, request_id: str = "", caller: str = ""
    ) -> bool:
        """Append an event to `module.topic` and wake its subscriptions; False (and a "log" line)
        when no live module declares that topic."""
        key = (module, topic)
        if key not in self._topics:
            self._note(
                module,
                "",
                request_id,
                "error",
                f"{caller or module} published to {module}.{topic}, which no live module declares: dropped",
                {"topic": f"{module}.{topic}"},
            )
            return False
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = TopicLog(self._retained)
        log.append(body, request_id, caller)
        for cursor in self._by_topic.get(key, ()):
            cursor.wake.set()
        return True

    def log(self, module: str, topic: str) -> TopicLog | None:
        return self._logs.get((module, topic))

    def cursors(self) -> dict[str, int]:
        """`module.verb topic-module.topic` -> the offset of the next event that subscription gets."""
        return {
            f"{c.subscription.name} {'.'.join(c.subscription.topic)}": c.offset
            for c in self._cursors.values()
        }

    async def stop(self) -> None:
        tasks = [c.task for c in self._cursors.values() if c.task is not None]
        self._cursors.clear()
        self._by_topic.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- delivering -----------------------------------------------------------------------------

    async def _deliver_all(self, cursor: _Cursor) -> None:
        while True:
            log = self._logs.get(cursor.subscription.topic)
            if log is None or cursor.offset >= log.end:
                cursor.wake.clear()
                await cursor.wake.wait()
                continue
            if cursor.offset < log.start:
                self._lost(cursor, log.start - cursor.offset)
                cursor.offset = log.start
            event = log.get(cursor.offset)
            if event is not None:
                await self._deliver(cursor, event)
            cursor.offset += 1

    async def _deliver(self, cursor: _Cursor, event: PublishedEvent) -> None:
        """Call the subscriber with `event` until it succeeds, or its retries run out."""
        request_id = event.request_id or new_request_id()
        retries = 0
        while True:
            subscription = cursor.subscription  # a redeploy may have changed its retry policy
            error = await self._call_live(
                cursor, subscription.module, subscription.verb, event.body, request_id
            )
            if error is None:
                return
            policy = subscription.retry
            if retries >= policy.count:
                await self._give_up(cursor, event, request_id, error, retries + 1)
                return
            retries += 1
            delay = policy.backoff(retries)
            self._note(
                subscription.module,
                subscription.verb,
                request_id,
                "warn",
                f"{subscription.name} failed on {_describe(subscription, event)}: {error.message}; "
                f"retry {retries} of {policy.count} in {delay:g} s",
                {"topic": ".".join(subscription.topic), "offset": event.offset, "retry": retries},
            )
            await self._sleep(delay)

    async def _call_live(
        self, cursor: _Cursor, module: str, verb: str, body: bytes, request_id: str
    ) -> CallError | None:
        """Call until the verb answers: a subscriber that is down (restarting) is waited for."""
        caller = TOPIC_CALLER_PREFIX + ".".join(cursor.subscription.topic)
        while True:
            try:
                result = await self._call(module, verb, body, request_id, caller)
            except Exception as exc:  # the subscription's task must outlive any one call
                return CallError("internal", f"the call to {module}.{verb} failed: {exc!r}")
            if result.error is None or result.error.kind not in ("not_live", "not_found"):
                return result.error
            cursor.wake.clear()
            with contextlib.suppress(TimeoutError):  # woken early by a commit that changed routes
                await asyncio.wait_for(cursor.wake.wait(), NOT_LIVE_PAUSE_S)

    async def _give_up(
        self, cursor: _Cursor, event: PublishedEvent, request_id: str, error: CallError, attempts: int
    ) -> None:
        subscription = cursor.subscription
        topic = ".".join(subscription.topic)
        where = "skipped"
        catch = subscription.retry.catch
        if catch is not None:
            where = f"sent to {catch[0]}.{catch[1]}"
            body = _catch_request(subscription, event, error)
            caught = await self._call_live(cursor, catch[0], catch[1], body, request_id)
            if caught is not None:
                where = f"skipped ({catch[0]}.{catch[1]} failed too: {caught.message})"
        elif subscription.dead_letter:
            dead_letter = f"{subscription.verb}Failed"
            body = msgspec.json.encode({"event": msgspec.Raw(event.body), "error": error.message})
            self.publish(
                subscription.module, dead_letter, body, request_id=request_id, caller=subscription.name
            )
            where = f"sent to {subscription.module}.{dead_letter}"
        times = "once" if attempts == 1 else f"{attempts} times"
        self._note(
            subscription.module,
            subscription.verb,
            request_id,
            "error",
            f"{subscription.name} gave up on {_describe(subscription, event)} after it failed {times}: "
            f"{error.message}; the event was {where}",
            {"topic": topic, "offset": event.offset, "attempts": attempts, "error": error.message},
        )

    def _lost(self, cursor: _Cursor, count: int) -> None:
        subscription = cursor.subscription
        self._note(
            subscription.module,
            subscription.verb,
            "",
            "warn",
            f"{subscription.name} fell {count} events behind {'.'.join(subscription.topic)}, "
            f"which keeps {self._retained}: they were skipped",
            {"topic": ".".join(subscription.topic), "skipped": count},
        )

    def _note(
        self, module: str, verb: str, request_id: str, level: str, message: str, data: dict[str, object]
    ) -> None:
        self._timeline.add(
            TimelineEvent(
                kind="log",
                time=time.time(),
                module=module,
                verb=verb,
                request_id=request_id,
                level=level,
                message=message,
                data=data,
            )
        )


def _describe(subscription: Subscription, event: PublishedEvent) -> str:
    return f"{'.'.join(subscription.topic)} event #{event.offset}"


def _catch_request(subscription: Subscription, event: PublishedEvent, error: CallError) -> bytes:
    """`builtin.CatchRequest` in FTL-JSON: which verb gave up, on what, and why."""
    return msgspec.json.encode(
        {
            "verb": {"module": subscription.module, "name": subscription.verb},
            "request": msgspec.Raw(event.body),
            "requestType": subscription.request_type,
            "error": error.message,
        }
    )


def _seconds(text: str, default: float) -> float:
    if not text:
        return default
    try:
        return float(parse_duration(text).total_seconds)
    except DurationError:
        return default  # a live schema was validated: never happens
