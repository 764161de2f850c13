"""Cron jobs: every live `+cron` verb called on its schedule by the backplane itself.

    scheduler = CronScheduler(call, timeline)
    scheduler.update(cron_jobs(live_modules))     # after every commit
    task = asyncio.create_task(scheduler.run())

Each job's next fire time comes from its pattern (`ftl.schema.cron`, UTC, to the second). When it
comes, the verb is called through the router like `ftl call` does (a new request id, caller
"cron") and a timeline event of kind "cron" records how it went. A job still running when its
next time comes skips that time (a "log" line says so) rather than running twice at once. A commit
that keeps a job's schedule keeps its next time; a new or changed schedule starts from now.

A schedule can end (`0 0 12 1 1 * 2027` runs once): after its last time the job is idle, and
a "log" line says so; the other jobs go on.

Nothing is persisted: times missed while the backplane was not running are not caught up, and a
job late by more than its interval (a blocked event loop) fires once, not once per missed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ftl.devserver.routes import CallError, CallResult
from ftl.devserver.timeline import Timeline, TimelineEvent
from ftl.runtime.context import new_request_id
from ftl.schema import ast
from ftl.schema.cron import CronError, CronPattern, next_after, parse_cron

__all__ = ["CRON_CALLER", "CallVerb", "Clock", "CronJob", "CronScheduler", "SystemClock", "cron_jobs"]

CRON_CALLER = "cron"
UNIT_BODY = b"{}"  # FTL-JSON of Unit, the request of every cron verb

# (module, verb, body, request id, caller) -> the outcome, as `Router.call` gives it.
CallVerb = Callable[[str, str, bytes, str, str], Awaitable[CallResult]]


class Clock(Protocol):
    """Wall-clock time and waiting, injectable so tests never sleep."""

    def now(self) -> float: ...

    async def wait(self, wake: asyncio.Event, timeout: float | None) -> None:
        """Return when `wake` is set or `timeout` seconds have passed (None: no timeout)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def wait(self, wake: asyncio.Event, timeout: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)


@dataclass(frozen=True, slots=True)
class CronJob:
    module: str
    verb: str
    pattern: CronPattern

    @property
    def name(self) -> str:
        return f"{self.module}.{self.verb}"


def cron_jobs(modules: Iterable[ast.Module]) -> list[CronJob]:
    """The cron jobs of `modules` (the live ones), one per `+cron` verb."""
    jobs = []
    for module in modules:
        for verb in module.verbs():
            for metadata in verb.metadata:
                if not isinstance(metadata, ast.MetadataCronJob):
                    continue
                with contextlib.suppress(CronError):  # a live schema was validated: never happens
                    jobs.append(CronJob(module.name, verb.name, parse_cron(metadata.cron)))
    return jobs


@dataclass(slots=True)
class _Scheduled:
    job: CronJob
    next_at: float  # seconds since the epoch


class CronScheduler:
    """Fires the jobs it was last given (`update`) while `run()` runs."""

    def __init__(self, call: CallVerb, timeline: Timeline, clock: Clock | None = None) -> None:
        self._call = call
        self._timeline = timeline
        self._clock: Clock = clock or SystemClock()
        self._scheduled: dict[tuple[str, str], _Scheduled] = {}
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._wake = asyncio.Event()

    def update(self, jobs: Iterable[CronJob]) -> None:
        """Schedule exactly `jobs`: kept schedules keep their next time, others start from now."""
        now = self._clock.now()
        scheduled: dict[tuple[str, str], _Scheduled] = {}
        for job in jobs:
            key = (job.module, job.verb)
            previous = self._scheduled.get(key)
            if previous is not None and previous.job.pattern.standardized == job.pattern.standardized:
                scheduled[key] = _Scheduled(job, previous.next_at)
            else:
                scheduled[key] = _Scheduled(job, _next_fire(job.pattern, now))
                if scheduled[key].next_at == math.inf:
                    self._warn(job, f"never runs: its schedule ({job.pattern.text}) has no time after now")
        self._scheduled = scheduled
        self._wake.set()

    def next_fire_times(self) -> dict[str, float]:
        """`module.verb` -> when it fires next (seconds since the epoch)."""
        return {s.job.name: s.next_at for s in self._scheduled.values() if s.next_at != math.inf}

    def running(self) -> list[str]:
        return sorted(f"{module}.{verb}" for (module, verb), task in self._running.items() if not task.done())

    async def run(self) -> None:
        """Fire jobs as they come due, until cancelled; then wait for the jobs still running."""
        try:
            while True:
                self._wake.clear()
                now = self._clock.now()
                for scheduled in list(self._scheduled.values()):
                    if scheduled.next_at <= now:
                        self._fire(scheduled, now)
                times = [s.next_at for s in self._scheduled.values() if s.next_at != math.inf]
                earliest = min(times, default=None)
                await self._clock.wait(self._wake, None if earliest is None else max(0.0, earliest - now))
        finally:
            running = list(self._running.values())
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    def _fire(self, scheduled: _Scheduled, now: float) -> None:
        job = scheduled.job
        key = (job.module, job.verb)
        scheduled.next_at = _next_fire(job.pattern, now)
        if scheduled.next_at == math.inf:
            self._warn(job, "ran for the last time: its schedule has no time after this one")
        running = self._running.get(key)
        if running is not None and not running.done():
            self._warn(job, "skipped a run: the previous one is still running")
            return
        task = asyncio.get_running_loop().create_task(self._run_job(job))
        self._running[key] = task
        task.add_done_callback(lambda done: self._finished(key, done))

    def _warn(self, job: CronJob, what: str) -> None:
        self._timeline.add(
            TimelineEvent(
                kind="log",
                time=time.time(),
                module=job.module,
                verb=job.verb,
                level="warn",
                message=f"cron job {job.name} {what}",
                data={"cron": job.pattern.text},
            )
        )

    def _finished(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._running.get(key) is task:
            del self._running[key]

    async def _run_job(self, job: CronJob) -> None:
        request_id = new_request_id()
        started, clock = time.time(), time.perf_counter()
        try:
            result = await self._call(job.module, job.verb, UNIT_BODY, request_id, CRON_CALLER)
        except Exception as exc:  # recorded like any failed run, never lost in a task
            result = CallResult(None, CallError("internal", f"the call failed: {exc!r}"), request_id)
        duration_ms = (time.perf_counter() - clock) * 1000
        data: dict[str, object] = {"cron": job.pattern.text}
        if result.error is None:
            level, message = "info", f"cron job {job.name} ran"
        else:
            level, message = "error", f"cron job {job.name} failed: {result.error.message}"
            data.update(error_kind=result.error.kind, error=result.error.message)
        self._timeline.add(
            TimelineEvent(
                kind="cron",
                time=started,
                module=job.module,
                verb=job.verb,
                request_id=request_id,
                duration_ms=duration_ms,
                level=level,
                message=message,
                data=data,
            )
        )


def _next_fire(pattern: CronPattern, now: float) -> float:
    """The next time `pattern` fires after `now`; infinity when it never does again."""
    try:
        return next_after(pattern, datetime.fromtimestamp(now, UTC)).timestamp()
    except CronError:
        return math.inf
