"""The timeline: bounded by count and age for every kind, queryable, streamable."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ftl.devserver.timeline import Skipped, Timeline, TimelineEvent, event_from_json, event_to_json


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def event(kind: str = "log", **fields: object) -> TimelineEvent:
    return TimelineEvent(kind=kind, time=fields.pop("time", 0.0), **fields)  # type: ignore[arg-type]


def test_add_assigns_increasing_ids_and_the_current_time() -> None:
    clock = FakeClock(123.0)
    timeline = Timeline(clock=clock)
    first = timeline.add(event(message="a"))
    second = timeline.add(event(message="b", time=99.0))
    assert (first.id, second.id) == (1, 2)
    assert first.time == 123.0  # no time given: now
    assert second.time == 99.0  # a reported time is kept
    assert len(timeline) == 2


def test_query_is_newest_first_and_filters_by_every_field() -> None:
    clock = FakeClock()
    timeline = Timeline(clock=clock)
    timeline.add(event("call", module="users", verb="get", request_id="r1", time=clock.now + 1))
    timeline.add(event("log", module="users", verb="get", request_id="r1", message="hi", time=clock.now + 2))
    timeline.add(event("ingress", module="users", verb="get", request_id="r1", time=clock.now + 3))
    timeline.add(event("log", module="orders", verb="put", request_id="r2", time=clock.now + 4))
    timeline.add(event("deployment", module="users", time=clock.now + 5))

    assert [e.id for e in timeline.query()] == [5, 4, 3, 2, 1]
    assert [e.id for e in timeline.query(kind="log")] == [4, 2]
    assert [e.id for e in timeline.query(module="users")] == [5, 3, 2, 1]
    assert [e.id for e in timeline.query(module="users", verb="get")] == [3, 2, 1]
    assert [e.id for e in timeline.query(verb="put")] == [4]
    assert [e.id for e in timeline.query(request_id="r1")] == [3, 2, 1]
    assert [e.id for e in timeline.query(kind="log", request_id="r1")] == [2]
    assert [e.id for e in timeline.query(since=clock.now + 2, until=clock.now + 4)] == [4, 3, 2]
    assert timeline.query(module="nobody") == []
    assert timeline.query(kind="cron") == []
    assert [e.id for e in timeline.query(limit=2)] == [5, 4]
    assert timeline.query(limit=0) == []


def test_pages_with_before_id_cover_everything_once() -> None:
    timeline = Timeline()
    for i in range(25):
        timeline.add(event("log" if i % 2 else "call", module="m", message=str(i)))
    seen: list[int] = []
    before: int | None = None
    while page := timeline.query(module="m", before_id=before, limit=7):
        seen.extend(e.id for e in page)
        before = page[-1].id
    assert seen == list(range(25, 0, -1))
    assert [e.id for e in timeline.query(kind="call", before_id=5)] == [3, 1]


def test_count_bound_evicts_from_the_fullest_kind_so_rare_kinds_survive_floods() -> None:
    timeline = Timeline(max_events=10)
    deployment = timeline.add(event("deployment", module="users"))
    for i in range(100):
        timeline.add(event("log", module="users", request_id=f"r{i}"))
    assert len(timeline) == 10
    assert timeline.query(kind="deployment") == [deployment]
    logs = timeline.query(kind="log")
    assert len(logs) == 9
    assert [e.request_id for e in logs] == [f"r{i}" for i in range(99, 90, -1)]
    # Indexes forget evicted events too.
    assert timeline.query(request_id="r0") == []
    assert timeline.query(module="users", kind="log", limit=100) == logs


def test_age_bound_applies_to_every_kind() -> None:
    clock = FakeClock()
    timeline = Timeline(max_age_s=60, clock=clock)
    for kind in ("deployment", "changeset", "call", "ingress", "log", "cron"):
        timeline.add(event(kind, module="m", request_id="old"))
    clock.now += 61
    fresh = timeline.add(event("log", module="m", request_id="new"))
    assert timeline.query() == [fresh]
    assert len(timeline) == 1
    assert timeline.query(request_id="old") == []
    assert timeline.get(fresh.id) == fresh
    assert timeline.get(1) is None


def test_stays_bounded_and_queryable_at_a_hundred_thousand_events() -> None:
    timeline = Timeline(max_events=100_000)
    for i in range(120_000):
        timeline.add(event("log" if i % 4 else "call", module=f"m{i % 20}", request_id=f"r{i % 5000}"))
    assert len(timeline) == 100_000
    newest = timeline.query(limit=1)[0]
    assert newest.id == 120_000
    trace = timeline.query(request_id="r4999", limit=1000)
    assert trace and all(e.request_id == "r4999" for e in trace)
    # The flood kind (log) gave way; every call is still there.
    assert len(timeline.query(kind="call", limit=200_000)) == 30_000
    assert len(timeline.query(kind="log", limit=200_000)) == 70_000


def test_json_round_trip() -> None:
    original = Timeline().add(
        event("call", module="a", verb="b", request_id="r", duration_ms=1.5, data={"status": 200})
    )
    as_json = event_to_json(original)
    assert as_json["kind"] == "call" and as_json["data"] == {"status": 200} and as_json["id"] == 1
    assert event_from_json(as_json) == original


async def _take(stream: object, count: int) -> list[TimelineEvent]:
    taken: list[TimelineEvent] = []
    async for item in stream:  # type: ignore[attr-defined]
        taken.append(item)
        if len(taken) == count:
            break
    return taken


def test_stream_gives_the_backlog_then_live_events_matching_the_filter() -> None:
    async def scenario() -> None:
        timeline = Timeline()
        timeline.add(event("log", module="a", message="old-a"))
        timeline.add(event("log", module="b", message="old-b"))
        stream = timeline.stream(kind="log", module="a", backlog=5)
        reader = asyncio.create_task(_take(stream, 3))
        await asyncio.sleep(0)  # the reader subscribes
        while timeline.subscriber_count() == 0:
            await asyncio.sleep(0)
        timeline.add(event("log", module="b", message="skip"))
        timeline.add(event("call", module="a", message="skip"))
        timeline.add(event("log", module="a", message="new-1"))
        timeline.add(event("log", module="a", message="new-2"))
        got = await asyncio.wait_for(reader, 5)
        assert [e.message for e in got] == ["old-a", "new-1", "new-2"]
        await stream.aclose()
        assert timeline.subscriber_count() == 0

    asyncio.run(scenario())


def test_stream_receives_events_added_from_another_thread() -> None:
    async def scenario() -> None:
        timeline = Timeline()
        stream = timeline.stream(kind="log")
        reader = asyncio.create_task(_take(stream, 2))
        while timeline.subscriber_count() == 0:
            await asyncio.sleep(0)
        worker = threading.Thread(target=lambda: [timeline.add(event(message=str(i))) for i in range(2)])
        worker.start()
        got = await asyncio.wait_for(reader, 5)
        worker.join()
        assert [e.message for e in got] == ["0", "1"]
        await stream.aclose()

    asyncio.run(scenario())


def test_max_events_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Timeline(max_events=0)


def test_a_long_trace_keeps_its_newest_events_when_evicting() -> None:
    timeline = Timeline(max_events=20)
    for i in range(50):  # one request id with more events than a small index ring holds
        timeline.add(event("log", module="m", request_id="busy", message=str(i)))
    trace = timeline.query(request_id="busy", limit=100)
    assert [e.message for e in trace] == [str(i) for i in range(49, 29, -1)]
    assert [e.message for e in timeline.query(request_id="busy", before_id=trace[5].id, limit=3)] == [
        "43",
        "42",
        "41",
    ]


# -- a reader that falls behind --------------------------------------------------------------------


def test_a_reader_that_falls_behind_loses_the_oldest_events_and_is_told_where() -> None:
    async def scenario() -> None:
        timeline = Timeline(stream_queue_size=3)
        with timeline.subscribe(kind="log") as subscription:
            for i in range(1, 8):  # a burst while the reader is busy elsewhere
                timeline.add(event(message=str(i)))
            got = [await subscription.next() for _ in range(4)]
            assert got[0] == Skipped(count=4, first_id=1, last_id=4)
            assert [e.message for e in got[1:] if isinstance(e, TimelineEvent)] == ["5", "6", "7"]
            assert subscription.dropped == 4
            # Caught up: the next event arrives as usual, with no further notice.
            timeline.add(event(message="8"))
            assert await subscription.next() == timeline.query(limit=1)[0]

    asyncio.run(scenario())


def test_a_loss_while_the_reader_waits_is_reported_before_the_event_after_it() -> None:
    async def scenario() -> None:
        timeline = Timeline(stream_queue_size=1)
        with timeline.subscribe() as subscription:
            reader = asyncio.ensure_future(subscription.next())
            await asyncio.sleep(0)  # the reader waits on an empty queue
            # Both land before the reader runs again: the first wakes it, the second pushes it out.
            timeline.add(event(message="first"))
            timeline.add(event(message="second"))
            assert await reader == Skipped(count=1, first_id=1, last_id=1)
            following = await subscription.next()
            assert isinstance(following, TimelineEvent) and following.message == "second"

    asyncio.run(scenario())


def test_the_backlog_is_never_lost_and_losses_after_it_are_reported() -> None:
    async def scenario() -> None:
        timeline = Timeline(stream_queue_size=2)
        for i in range(3):
            timeline.add(event(message=f"old-{i}"))
        with timeline.subscribe(backlog=3) as subscription:
            for i in range(4):
                timeline.add(event(message=f"new-{i}"))
            got = [await subscription.next() for _ in range(6)]
        messages = [item.message if isinstance(item, TimelineEvent) else item for item in got]
        assert messages == ["old-0", "old-1", "old-2", Skipped(2, 4, 5), "new-2", "new-3"]

    asyncio.run(scenario())


def test_stream_leaves_out_the_loss_notices_and_keeps_the_newest_events() -> None:
    async def scenario() -> None:
        timeline = Timeline(stream_queue_size=2)
        stream = timeline.stream(kind="log")
        reader = asyncio.ensure_future(_take(stream, 2))
        while timeline.subscriber_count() == 0:
            await asyncio.sleep(0)
        timeline.add_many(event(message=str(i)) for i in range(5))
        assert [e.message for e in await asyncio.wait_for(reader, 5)] == ["3", "4"]
        await stream.aclose()

    asyncio.run(scenario())


def test_stream_queue_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Timeline(stream_queue_size=0)


def test_with_errors_adds_the_errors_of_every_kind_to_a_kind() -> None:
    timeline = Timeline()
    for kind, level in (
        ("log", "info"),
        ("call", "info"),
        ("call", "error"),
        ("cron", "error"),
        ("log", "error"),
    ):
        timeline.add(TimelineEvent(kind=kind, time=0.0, module="m", level=level))
    shown = timeline.query(kind="log", with_errors=True)
    assert [(e.kind, e.level) for e in shown] == [
        ("log", "error"),
        ("cron", "error"),
        ("call", "error"),
        ("log", "info"),
    ]
    assert [(e.kind, e.level) for e in timeline.query(kind="log")] == [("log", "error"), ("log", "info")]


def test_ending_the_streams_ends_every_reader_after_what_it_has_queued() -> None:
    async def main() -> None:
        timeline = Timeline()
        stream = timeline.stream("log")
        reader = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0)
        timeline.add(TimelineEvent(kind="log", time=0.0, message="last"))
        timeline.end_streams()
        assert (await reader).message == "last"
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
        with pytest.raises(StopAsyncIteration):  # opened while the server stops
            await anext(timeline.stream("log"))

    asyncio.run(main())
