"""The cron scheduler with a fake clock and a fake router: nothing sleeps, nothing is spawned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from ftl.devserver.cron import CronJob, CronScheduler, cron_jobs
from ftl.devserver.routes import CallError, CallResult
from ftl.devserver.timeline import Timeline
from ftl.schema import parse_module
from ftl.schema.cron import parse_cron

pytestmark = pytest.mark.anyio

# 2030-01-01 00:00:00 UTC: tests start half a second after it.
MIDNIGHT = datetime(2030, 1, 1, tzinfo=UTC).timestamp()


class FakeClock:
    """Time moves only when a test says so; `wait` returns when woken or when time passes its end."""

    def __init__(self, now: float) -> None:
        self._now = now
        self._deadlines: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    async def wait(self, wake: asyncio.Event, timeout: float | None) -> None:
        timer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if timeout is not None:
            self._deadlines.append((self._now + timeout, timer))
        woken = asyncio.ensure_future(wake.wait())
        either: set[asyncio.Future[Any]] = {timer, woken}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            self._deadlines = [(at, f) for at, f in self._deadlines if f is not timer]

    async def advance(self, seconds: float) -> None:
        self._now += seconds
        for at, timer in self._deadlines:
            if at <= self._now and not timer.done():
                timer.set_result(None)
        await settle()


async def settle() -> None:
    """Let every task that can run, run (no time passes)."""
    for _ in range(20):
        await asyncio.sleep(0)


@dataclass
class FakeRouter:
    calls: list[tuple[str, str, bytes, str, str]] = field(default_factory=list)
    fail: str = ""
    hold: asyncio.Event | None = None  # set: calls return; clear: they wait

    async def __call__(self, module: str, verb: str, body: bytes, request_id: str, caller: str) -> CallResult:
        self.calls.append((module, verb, body, request_id, caller))
        if self.hold is not None:
            await self.hold.wait()
        if self.fail:
            return CallResult(None, CallError("verb_error", self.fail), request_id)
        return CallResult(b"{}", None, request_id)


@dataclass
class Running:
    scheduler: CronScheduler
    clock: FakeClock
    router: FakeRouter
    timeline: Timeline


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    clock, router, timeline = FakeClock(MIDNIGHT + 0.5), FakeRouter(), Timeline()
    scheduler = CronScheduler(router, timeline, clock)
    task = asyncio.get_running_loop().create_task(scheduler.run())
    yield Running(scheduler, clock, router, timeline)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def job(module: str, verb: str, pattern: str) -> CronJob:
    return CronJob(module, verb, parse_cron(pattern))


def test_cron_jobs_are_the_cron_verbs_of_the_modules() -> None:
    module = parse_module(
        """module clock {
          verb tick(Unit) Unit
            +cron 5m
          verb hourly(Unit) Unit
            +cron 0 * * * *
          verb plain(Unit) Unit
        }"""
    )
    jobs = cron_jobs([module])
    assert [(j.module, j.verb, j.pattern.text) for j in jobs] == [
        ("clock", "tick", "5m"),
        ("clock", "hourly", "0 * * * *"),
    ]


async def test_a_job_fires_at_each_time_of_its_pattern(running: Running) -> None:
    running.scheduler.update([job("clock", "tick", "2s")])
    await settle()
    assert running.scheduler.next_fire_times() == {"clock.tick": MIDNIGHT + 2}
    await running.clock.advance(1)
    assert running.router.calls == []
    await running.clock.advance(0.5)  # now MIDNIGHT + 2
    await running.clock.advance(2)  # now MIDNIGHT + 4
    assert [(c[0], c[1], c[2], c[4]) for c in running.router.calls] == [
        ("clock", "tick", b"{}", "cron"),
        ("clock", "tick", b"{}", "cron"),
    ]
    first, second = (c[3] for c in running.router.calls)
    assert first != second and first.startswith("req-")
    events = running.timeline.query(kind="cron")
    assert {e.request_id for e in events} == {first, second}
    assert all(e.module == "clock" and e.verb == "tick" and e.level == "info" for e in events)
    assert all(e.duration_ms is not None for e in events)
    assert running.scheduler.next_fire_times() == {"clock.tick": MIDNIGHT + 6}


async def test_a_late_wake_fires_once_not_once_per_missed_time(running: Running) -> None:
    running.scheduler.update([job("clock", "tick", "1s")])
    await settle()
    await running.clock.advance(10.2)
    assert len(running.router.calls) == 1
    assert running.scheduler.next_fire_times() == {"clock.tick": MIDNIGHT + 11}


async def test_a_failing_job_is_recorded_with_its_error(running: Running) -> None:
    running.router.fail = "the disk is full"
    running.scheduler.update([job("clock", "tick", "1s")])
    await settle()
    await running.clock.advance(0.5)
    (event,) = running.timeline.query(kind="cron")
    assert event.level == "error"
    assert "the disk is full" in event.message
    assert event.data["error_kind"] == "verb_error"


async def test_a_job_still_running_skips_its_next_time_instead_of_stacking(running: Running) -> None:
    running.router.hold = asyncio.Event()
    running.scheduler.update([job("clock", "slow", "1s")])
    await settle()
    await running.clock.advance(0.5)
    assert running.scheduler.running() == ["clock.slow"]
    await running.clock.advance(1)
    await running.clock.advance(1)
    assert len(running.router.calls) == 1
    skipped = running.timeline.query(kind="log")
    assert len(skipped) == 2 and all("still running" in e.message for e in skipped)
    assert all(e.module == "clock" and e.verb == "slow" and e.level == "warn" for e in skipped)
    running.router.hold.set()
    await settle()
    assert running.scheduler.running() == []
    await running.clock.advance(1)
    assert len(running.router.calls) == 2


async def test_an_update_keeps_unchanged_schedules_and_restarts_changed_ones(running: Running) -> None:
    running.scheduler.update([job("clock", "tick", "10s"), job("clock", "tock", "10s")])
    await settle()
    assert running.scheduler.next_fire_times() == {"clock.tick": MIDNIGHT + 10, "clock.tock": MIDNIGHT + 10}
    await running.clock.advance(3)  # a commit at MIDNIGHT + 3.5
    running.scheduler.update([job("clock", "tick", "10s"), job("clock", "tock", "*/2 * * * * *")])
    await settle()
    assert running.scheduler.next_fire_times() == {"clock.tick": MIDNIGHT + 10, "clock.tock": MIDNIGHT + 4}


async def test_a_removed_job_stops_firing_and_an_added_one_starts(running: Running) -> None:
    running.scheduler.update([job("clock", "tick", "1s")])
    await settle()
    await running.clock.advance(0.5)
    running.scheduler.update([job("other", "beat", "1s")])
    await settle()
    await running.clock.advance(1)
    assert [(c[0], c[1]) for c in running.router.calls] == [("clock", "tick"), ("other", "beat")]


async def test_with_no_jobs_the_scheduler_waits_for_an_update(running: Running) -> None:
    await running.clock.advance(3600)
    assert running.router.calls == []
    running.scheduler.update([job("clock", "tick", "1s")])
    await settle()
    await running.clock.advance(1)
    assert len(running.router.calls) == 1


async def test_a_schedule_that_ends_leaves_the_other_jobs_running(running: Running) -> None:
    # 2030-01-01 00:00:02 only: it runs once, then never again.
    running.scheduler.update([job("clock", "once", "2 0 0 1 1 * 2030"), job("clock", "tick", "1s")])
    await settle()
    for _ in range(9):
        await running.clock.advance(0.5)  # up to MIDNIGHT + 5
    fired = [c[1] for c in running.router.calls]
    assert fired.count("once") == 1 and fired.count("tick") == 5
    assert running.scheduler.next_fire_times() == {"clock.tick": MIDNIGHT + 6}
    [ended] = [e for e in running.timeline.query(kind="log") if e.verb == "once"]
    assert ended.level == "warn" and "ran for the last time" in ended.message


async def test_a_schedule_already_over_never_fires_and_says_so(running: Running) -> None:
    running.scheduler.update([job("clock", "past", "0 0 0 1 1 * 2029"), job("clock", "tick", "1s")])
    await settle()
    for _ in range(3):
        await running.clock.advance(0.5)  # up to MIDNIGHT + 2
    assert [c[1] for c in running.router.calls] == ["tick", "tick"]
    [never] = [e for e in running.timeline.query(kind="log") if e.verb == "past"]
    assert "never runs" in never.message
