"""Pub/sub delivery with a fake router and a fake sleep; and the runner's side of `publish`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from ftl.devserver.pubsub import PubSub, RetryPolicy, Subscription, TopicLog, subscriptions, topic_of_caller
from ftl.devserver.routes import CallError, CallResult
from ftl.devserver.timeline import Timeline
from ftl.runtime._call_errors import CallFailed
from ftl.runtime._outgoing import OutgoingCalls
from ftl.runtime._realm_calls import RealmCalls
from ftl.runtime.context import CallContext, enter, leave
from ftl.runtime.protocol import Message, Publish
from ftl.schema import ast, parse_module

pytestmark = pytest.mark.anyio

SHOP = """module shop {
  export data Order { id Int }
  export topic orders shop.Order
  verb place(shop.Order) Unit
    +publish shop.orders
}"""

AUDIT = """module audit {
  verb record(shop.Order) Unit
    +subscribe shop.orders from=beginning
  verb latest(shop.Order) Unit
    +subscribe shop.orders from=latest
}"""

FLAKY = """module audit {
  verb record(shop.Order) Unit
    +subscribe shop.orders from=beginning
    +retry %s
  verb caught(builtin.CatchRequest<shop.Order>) Unit
}"""

DEAD_LETTER = """module audit {
  verb record(shop.Order) Unit
    +subscribe shop.orders from=beginning deadletter
  topic recordFailed builtin.FailedEvent<shop.Order>
}"""


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(50):
        await asyncio.sleep(0)


def order(number: int) -> bytes:
    return json.dumps({"id": number}).encode()


@dataclass
class FakeRouter:
    """Records calls; `failing` verbs fail (`verb_error`) or, with `down`, are not live."""

    calls: list[tuple[str, str, bytes, str, str]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    down: set[str] = field(default_factory=set)
    crashing: set[str] = field(default_factory=set)  # the runner dies during the call
    in_flight: int = 0
    most_in_flight: int = 0
    hold: asyncio.Event | None = None

    async def __call__(self, module: str, verb: str, body: bytes, request_id: str, caller: str) -> CallResult:
        self.calls.append((module, verb, body, request_id, caller))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold.wait()
        finally:
            self.in_flight -= 1
        name = f"{module}.{verb}"
        if name in self.down:
            return CallResult(
                None, CallError("not_live", f"module {module} is not live right now"), request_id
            )
        if name in self.crashing:
            return CallResult(
                None, CallError("crashed", f"module {module} stopped during the call"), request_id
            )
        if name in self.failing:
            return CallResult(None, CallError("verb_error", f"{verb} refused"), request_id)
        return CallResult(b"{}", None, request_id)

    def bodies(self, name: str) -> list[bytes]:
        return [c[2] for c in self.calls if f"{c[0]}.{c[1]}" == name]


@dataclass
class Harness:
    pubsub: PubSub
    router: FakeRouter
    timeline: Timeline
    slept: list[float]


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    router, timeline, slept = FakeRouter(), Timeline(), []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    pubsub = PubSub(router, timeline, sleep=sleep, retained=5)
    yield Harness(pubsub, router, timeline, slept)
    await pubsub.stop()


def modules(*texts: str) -> list[ast.Module]:
    return [parse_module(text) for text in texts]


def test_subscriptions_are_read_from_subscribe_and_retry() -> None:
    found = subscriptions(modules(SHOP, FLAKY % "3 1s 4s catch audit.caught"))
    assert found == [
        Subscription(
            "audit",
            "record",
            ("shop", "orders"),
            from_beginning=True,
            retry=RetryPolicy(3, 1.0, 4.0, ("audit", "caught")),
            request_type="shop.Order",
        )
    ]
    assert [RetryPolicy(3, 1.0, 4.0).backoff(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]


def test_a_topic_log_keeps_the_newest_events_and_never_reuses_an_offset() -> None:
    log = TopicLog(retained=2)
    for number in range(3):
        log.append(order(number), "", "")
    assert (log.start, log.end) == (1, 3)
    assert log.get(0) is None
    event = log.get(2)
    assert event is not None and event.body == order(2)


def test_a_delivery_caller_names_its_topic() -> None:
    assert topic_of_caller("topic:shop.orders") == "shop.orders"
    assert topic_of_caller("cron") == ""


async def test_events_reach_every_subscription_in_order(harness: Harness) -> None:
    harness.pubsub.update(modules(SHOP, AUDIT))
    for number in range(3):
        assert harness.pubsub.publish("shop", "orders", order(number), request_id=f"req-{number}")
    await settle()
    assert harness.router.bodies("audit.record") == [order(0), order(1), order(2)]
    assert harness.router.bodies("audit.latest") == [order(0), order(1), order(2)]
    record_calls = [c for c in harness.router.calls if c[1] == "record"]
    assert [c[3] for c in record_calls] == ["req-0", "req-1", "req-2"]  # the publisher's request ids
    assert {c[4] for c in record_calls} == {"topic:shop.orders"}
    assert harness.pubsub.cursors() == {"audit.record shop.orders": 3, "audit.latest shop.orders": 3}


async def test_one_event_at_a_time_per_subscription(harness: Harness) -> None:
    harness.router.hold = asyncio.Event()
    harness.pubsub.update(modules(SHOP, AUDIT))
    for number in range(3):
        harness.pubsub.publish("shop", "orders", order(number))
    await settle()
    assert harness.router.in_flight == 2  # one per subscription
    harness.router.hold.set()
    await settle()
    assert harness.router.most_in_flight == 2
    assert len(harness.router.calls) == 6


async def test_beginning_starts_at_the_log_start_and_latest_at_its_end(harness: Harness) -> None:
    harness.pubsub.update(modules(SHOP))
    harness.pubsub.publish("shop", "orders", order(1))
    harness.pubsub.update(modules(SHOP, AUDIT))
    harness.pubsub.publish("shop", "orders", order(2))
    await settle()
    assert harness.router.bodies("audit.record") == [order(1), order(2)]
    assert harness.router.bodies("audit.latest") == [order(2)]


async def test_a_redeployed_subscriber_keeps_its_cursor(harness: Harness) -> None:
    harness.pubsub.update(modules(SHOP, AUDIT))
    harness.pubsub.publish("shop", "orders", order(1))
    await settle()
    harness.pubsub.update(modules(SHOP, AUDIT))  # a new version of audit went live
    harness.pubsub.publish("shop", "orders", order(2))
    await settle()
    assert harness.router.bodies("audit.record") == [order(1), order(2)]


async def test_a_removed_subscription_stops_and_comes_back_at_its_start(harness: Harness) -> None:
    harness.pubsub.update(modules(SHOP, AUDIT))
    harness.pubsub.publish("shop", "orders", order(1))
    await settle()
    harness.pubsub.update(modules(SHOP))
    harness.pubsub.publish("shop", "orders", order(2))
    await settle()
    assert harness.router.bodies("audit.latest") == [order(1)]
    harness.pubsub.update(modules(SHOP, AUDIT))
    harness.pubsub.publish("shop", "orders", order(3))
    await settle()
    assert harness.router.bodies("audit.latest") == [order(1), order(3)]
    assert harness.router.bodies("audit.record") == [order(1), order(1), order(2), order(3)]


async def test_a_failing_subscriber_is_retried_with_backoff_then_caught(harness: Harness) -> None:
    harness.router.failing.add("audit.record")
    harness.pubsub.update(modules(SHOP, FLAKY % "3 1s 3s catch audit.caught"))
    harness.pubsub.publish("shop", "orders", order(7), request_id="req-7")
    harness.pubsub.publish("shop", "orders", order(8), request_id="req-8")
    await settle()
    assert harness.router.bodies("audit.record") == [order(7)] * 4 + [order(8)] * 4
    assert harness.slept == [1.0, 2.0, 3.0] * 2
    caught = [json.loads(body) for body in harness.router.bodies("audit.caught")]
    assert caught[0] == {
        "verb": {"module": "audit", "name": "record"},
        "request": {"id": 7},
        "requestType": "shop.Order",
        "error": "record refused",
    }
    gave_up = [e for e in harness.timeline.query(kind="log") if e.level == "error"]
    assert len(gave_up) == 2
    assert all(e.module == "audit" and e.verb == "record" and e.data["attempts"] == 4 for e in gave_up)
    assert {e.request_id for e in gave_up} == {"req-7", "req-8"}
    assert "audit.caught" in gave_up[0].message


async def test_without_retry_a_failed_event_is_logged_and_skipped(harness: Harness) -> None:
    harness.router.failing.add("audit.record")
    harness.pubsub.update(modules(SHOP, AUDIT))
    harness.pubsub.publish("shop", "orders", order(1))
    harness.pubsub.publish("shop", "orders", order(2))
    await settle()
    assert harness.router.bodies("audit.record") == [order(1), order(2)]
    assert harness.slept == []
    gave_up = [e for e in harness.timeline.query(kind="log") if e.level == "error"]
    assert len(gave_up) == 2 and "skipped" in gave_up[0].message


async def test_dead_letter_gets_the_event_a_subscriber_gave_up_on(harness: Harness) -> None:
    harness.router.failing.add("audit.record")
    harness.pubsub.update(modules(SHOP, DEAD_LETTER))
    harness.pubsub.publish("shop", "orders", order(1))
    await settle()
    log = harness.pubsub.log("audit", "recordFailed")
    assert log is not None
    event = log.get(0)
    assert event is not None
    assert json.loads(event.body) == {"event": {"id": 1}, "error": "record refused"}


async def test_a_subscriber_that_is_down_is_waited_for_without_using_up_retries(harness: Harness) -> None:
    harness.router.down.add("audit.record")
    harness.pubsub.update(modules(SHOP, FLAKY % "1 1s"))
    harness.pubsub.publish("shop", "orders", order(1))
    await settle()
    assert len(harness.router.bodies("audit.record")) == 1  # then waits (for a commit or a pause)
    harness.router.down.clear()
    harness.pubsub.update(modules(SHOP, FLAKY % "1 1s"))  # its runner is back: routes changed
    await settle()
    assert harness.router.bodies("audit.record") == [order(1), order(1)]
    assert harness.slept == []
    assert not [e for e in harness.timeline.query(kind="log") if e.level == "error"]


async def test_an_event_that_kills_its_subscriber_uses_up_retries_like_any_failure(harness: Harness) -> None:
    # Waiting it out like a subscriber that is down would redeliver it (and kill the runner) forever.
    harness.router.crashing.add("audit.record")
    harness.pubsub.update(modules(SHOP, FLAKY % "2 1s 1s"))
    harness.pubsub.publish("shop", "orders", order(1))
    await settle()
    assert harness.router.bodies("audit.record") == [order(1)] * 3
    [gave_up] = [e for e in harness.timeline.query(kind="log") if e.level == "error"]
    assert "stopped during the call" in gave_up.message and gave_up.data["attempts"] == 3


async def test_a_subscriber_that_falls_behind_the_retained_events_skips_them(harness: Harness) -> None:
    harness.router.hold = asyncio.Event()
    harness.pubsub.update(modules(SHOP, AUDIT))
    harness.pubsub.publish("shop", "orders", order(0))
    await settle()  # event 0 is being delivered
    for number in range(1, 8):  # the log keeps 5: 1 and 2 go
        harness.pubsub.publish("shop", "orders", order(number))
    harness.router.hold.set()
    await settle()
    assert harness.router.bodies("audit.record") == [order(n) for n in (0, 3, 4, 5, 6, 7)]
    warnings = [e for e in harness.timeline.query(kind="log", module="audit") if e.level == "warn"]
    assert [e.data["skipped"] for e in warnings] == [2, 2]  # one per subscription


async def test_publishing_to_a_topic_no_live_module_declares_is_dropped(harness: Harness) -> None:
    harness.pubsub.update(modules(SHOP, AUDIT))
    assert not harness.pubsub.publish("shop", "refunds", order(1), caller="shop.place")
    await settle()
    assert harness.router.calls == []
    (dropped,) = harness.timeline.query(kind="log")
    assert dropped.level == "error" and "shop.refunds" in dropped.message


# -- the runner's side ---------------------------------------------------------------------------


@dataclass
class Order:
    id: int


async def test_the_runner_sends_a_publish_frame_with_the_calling_verb() -> None:
    sent: list[Message] = []
    outgoing = OutgoingCalls("shop", RealmCalls("shop-realm", {}), sent.append)
    token = enter(CallContext("req-1", "shop", "place", ("shop.place",)))
    try:
        outgoing.publish("shop", "orders", Order(5), Order)
    finally:
        leave(token)
    assert sent == [Publish("shop", "orders", b'{"id":5}', "req-1", "shop.place")]


async def test_the_runner_refuses_another_modules_topic_and_a_bad_event() -> None:
    outgoing = OutgoingCalls("audit", RealmCalls("shop-realm", {}), lambda message: None)
    with pytest.raises(CallFailed, match="only to its own topics"):
        outgoing.publish("shop", "orders", Order(5), Order)
    with pytest.raises(CallFailed, match=r"event for audit\.orders") as failed:
        outgoing.publish("audit", "orders", "not an order", Order)
    assert failed.value.kind == "bad_request"
