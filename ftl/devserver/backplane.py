"""The backplane facade: the schema service, runners, router and deployer behind one object.

    backplane = Backplane(project, realm=project.realm, timeline=Timeline())
    await backplane.start()
    result = await backplane.deploy([Path("modules/echo")])
    reply = await backplane.call("echo", "echo", b'{"name": "Ada"}')
    await backplane.stop()

The edges (ingress, admin API, CLI, console) use only this object. Projections keep themselves
current with `on_change` (called after every schema event) or `subscribe()` (the full state,
then every event). When the project file changes, `set_project` makes later deploys use its config
and re-pins its external realms: a new realm version the live modules do not fit waits, and goes
live with the first changeset whose modules were built against it (`external_realms()` is what
to build against).

Cron jobs (`cron.py`) and pub/sub (`pubsub.py`) follow the live modules too: after each commit
the scheduler and the subscriptions are updated, and what runners publish (`publish` frames) is
delivered from here, in memory.

Runner crashes and restarts are timeline events of kind "deployment" whose `data["runner"]` says
which (`RUNNER_CRASHED`: down, with `data["stderr"]`; `RUNNER_RESTARTED`: serving again), next to
`data["deployment"]` and `data["pid"]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ftl.devserver.changeset import ChangesetState, DeploymentState
from ftl.devserver.cron import CronScheduler, cron_jobs
from ftl.devserver.deployer import Deployer, DeployResult
from ftl.devserver.events import (
    ChangesetCommitted,
    ChangesetCreated,
    ChangesetDrained,
    ChangesetFailed,
    ChangesetFinalized,
    ChangesetPrepared,
    DeploymentRuntimeUpdated,
    Event,
    ExternalRealmPinned,
    ExternalRealmUnpinned,
)
from ftl.devserver.pubsub import PubSub, topic_of_caller
from ftl.devserver.routes import CallError, CallResult, Router, project_routes, runner_routes
from ftl.devserver.schema_service import Changeset, InvalidEvent, SchemaEvent, SchemaService, SchemaState
from ftl.devserver.supervisor import RunnerProcess, Supervisor
from ftl.devserver.timeline import Timeline, TimelineEvent
from ftl.errors import Diagnostic, FtlError
from ftl.project import Project
from ftl.runtime.protocol import EventRecord, Publish, Routes
from ftl.schema import ast

__all__ = [
    "RUNNER_CRASHED",
    "RUNNER_RESTARTED",
    "Backplane",
    "CallError",
    "CallResult",
    "DeployResult",
    "DeploymentInfo",
    "FailedDeploy",
]

RUNNER_CRASHED = "crashed"
RUNNER_RESTARTED = "restarted"


@dataclass(frozen=True, slots=True)
class DeploymentInfo:
    key: str
    module: str
    state: str  # starting | live | down (crashed, restarting) | draining
    endpoint: str
    started_at: float
    version: int


@dataclass(frozen=True, slots=True)
class FailedDeploy:
    """A module's newest deploy attempt, when it failed after (or without) its serving version."""

    changeset: str
    modules: tuple[str, ...]  # every module of that changeset
    reason: str
    diagnostics: tuple[str, ...]
    at: float


class Backplane:
    def __init__(
        self, project: Project | None, *, realm: str, timeline: Timeline, host: str = "127.0.0.1"
    ) -> None:
        self.project = project
        self.realm = realm
        self.timeline = timeline
        self._service = SchemaService(realm)
        self._router = Router(timeline)
        self._supervisor = Supervisor(
            on_events=self._runner_events,
            on_endpoint=self._runner_endpoint,
            on_report=self._runner_report,
            on_publish=self._runner_publish,
            host=host,
            cwd=project.root if project is not None else None,
        )
        self._deployer = Deployer(
            project=project,
            service=self._service,
            supervisor=self._supervisor,
            router=self._router,
            publish_routes=self._publish_routes,
            warn=lambda module, message: self._note("log", "warn", message, module=module),
        )
        self._route_version = 0
        self._waiting_realms: dict[str, ast.Realm] = {}  # new pinned versions the live modules do not fit
        self._waiting_unpins: set[str] = set()  # realms no longer pinned that live modules still use
        self._realm_problems: list[Diagnostic] = []  # why pins could not be loaded, last time read
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._cron = CronScheduler(self._call_as, timeline)
        self._cron_task: asyncio.Task[None] | None = None
        self._pubsub = PubSub(self._call_as, timeline)
        self._service.on_change(self._project_routes)
        self._service.on_change(self._project_schedules)
        self._service.on_change(self._record_schema_event)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the control port, warm the runner zygote, pin the project's external realms."""
        await self._supervisor.start()
        self._started = True
        self._cron_task = asyncio.get_running_loop().create_task(self._cron.run())
        if self.project is not None and self.project.realms:
            self._realm_problems = await self._pin_external_realms(self.project)

    async def set_project(self, project: Project) -> list[Diagnostic]:
        """Serve `project` (the project file was edited): later deploys get its config and realm
        endpoints, and when its realm pins changed, the external realms are loaded again.

        Returns what kept a realm from being loaded or pinned at all; the earlier pin then stays.
        """
        previous, self.project = self.project, project
        self._deployer.project = project
        if not self._started or (previous is not None and previous.realms == project.realms):
            return []
        self._realm_problems = await self._pin_external_realms(project)
        return self._realm_problems

    def realm_problems(self) -> list[Diagnostic]:
        """What kept pinned realms from being loaded or pinned, when the project was last read."""
        return list(self._realm_problems)

    async def stop(self) -> None:
        """Stop every runner (and the zygote); after this no process started here is left."""
        self._started = False
        if self._cron_task is not None:
            self._cron_task.cancel()
            await asyncio.gather(self._cron_task, return_exceptions=True)
        await self._pubsub.stop()
        await self._deployer.cancel_drains()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._supervisor.stop()
        self._router.close()

    async def __aenter__(self) -> Backplane:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the API the edges use ------------------------------------------------------------------

    async def deploy(
        self, module_dirs: Sequence[Path], *, removals: Sequence[str] = (), build: bool = True
    ) -> DeployResult:
        """Deploy `module_dirs` as one changeset: built in this process first, or (`build=False`)
        extracted by their runners alone, clients written between dependent ones."""
        if not self._started:
            raise FtlError("the backplane is not running")
        waiting = tuple(self._waiting_realms.values())
        result = await self._deployer.deploy(module_dirs, removals=removals, build=build, realms=waiting)
        if result.ok:
            self._settle_realms()
        return result

    async def call(
        self,
        module: str,
        verb: str,
        body: bytes,
        *,
        request_id: str | None = None,
        caller: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> CallResult:
        """Call a live verb with an FTL-JSON body; verb errors come back in `CallResult.error`."""
        return await self._router.call(
            module, verb, body, request_id=request_id, caller=caller, headers=headers
        )

    def schema(self) -> ast.Schema:
        """The live schema: every live module plus the pinned external realms, validated."""
        return self._service.state.schema

    @property
    def state(self) -> SchemaState:
        return self._service.state

    def failed_deploys(self) -> dict[str, FailedDeploy]:
        """Per module, its newest changeset when that one failed (the previous version, if any,
        still serves)."""
        state = self._service.state
        newest: dict[str, Changeset] = {}
        for changeset in state.changesets.values():
            for name in (*changeset.modules, *changeset.attempted):
                if name not in newest or changeset.created_at >= newest[name].created_at:
                    newest[name] = changeset
        return {
            name: FailedDeploy(
                changeset.key,
                tuple(sorted({*changeset.modules, *changeset.attempted})),
                changeset.reason,
                tuple(str(d) for d in changeset.diagnostics),
                changeset.updated_at,
            )
            for name, changeset in newest.items()
            if changeset.state == ChangesetState.FAILED
        }

    def deployments(self) -> list[DeploymentInfo]:
        result = []
        for deployment in self._service.state.deployments.values():
            state = deployment.state.value
            if deployment.state == DeploymentState.LIVE and not deployment.endpoint:
                state = "down"
            result.append(
                DeploymentInfo(
                    deployment.key,
                    deployment.module,
                    state,
                    deployment.endpoint,
                    self._started_at(deployment.key, deployment.created_at),
                    deployment.version,
                )
            )
        return sorted(result, key=lambda d: (d.module, d.version))

    def _started_at(self, deployment: str, created_at: float) -> float:
        """When the runner serving `deployment` started: a restarted runner's restart, not its deploy."""
        runner = self._supervisor.runner(deployment)
        return runner.started_at if runner is not None and runner.started_at else created_at

    def external_realms(self) -> list[ast.Realm]:
        """The external realms as the project pins them (what modules are built against): the live
        pins, with versions still waiting for their users instead, without realms being unpinned."""
        pinned = {**self._service.state.external_realms, **self._waiting_realms}
        return [pinned[name] for name in sorted(pinned) if name not in self._waiting_unpins]

    def subscribe(self) -> AsyncIterator[SchemaEvent]:
        return self._service.subscribe()

    def on_change(self, callback: Callable[[Event, SchemaState], None]) -> Callable[[], None]:
        """Call `callback(event, state)` after every schema event; returns an unsubscribe function."""
        return self._service.on_change(callback)

    async def wait_drained(self) -> None:
        """Wait until every replaced deployment has finished its calls and stopped."""
        await self._deployer.wait_drained()

    def runner_pid(self, deployment: str) -> int:
        """The process id of a deployment's runner (0 if it has none): for tests and `ftl ps -v`."""
        runner = self._supervisor.runner(deployment)
        return runner.pid if runner is not None else 0

    @property
    def control_endpoint(self) -> str:
        return self._supervisor.control_endpoint

    # -- projections ----------------------------------------------------------------------------

    def _project_routes(self, event: Event, state: SchemaState) -> None:
        """The router follows the state at once: calls switch exactly at the event that moves them."""
        if isinstance(event, ChangesetCommitted | ChangesetDrained | DeploymentRuntimeUpdated):
            self._route_version += 1
            self._router.update(project_routes(state, self._route_version))

    def _project_schedules(self, event: Event, state: SchemaState) -> None:
        """Cron jobs and subscriptions follow the live modules (a subscriber back up resumes)."""
        if isinstance(event, ChangesetCommitted | DeploymentRuntimeUpdated) and self._started:
            modules = _live_modules(state)
            self._cron.update(cron_jobs(modules))
            self._pubsub.update(modules)

    async def _call_as(self, module: str, verb: str, body: bytes, request_id: str, caller: str) -> CallResult:
        return await self._router.call(module, verb, body, request_id=request_id, caller=caller)

    async def _publish_routes(self, only: Collection[str] | None = None) -> None:
        """Push each runner (or those in `only`) its slice of the route table; wait until applied."""
        state = self._service.state
        table = self._router.table
        slices: dict[str, Routes] = {
            key: runner_routes(table, _routing_schema(state, key), state.realm)
            for key in state.deployments
            if only is None or key in only
        }
        await self._supervisor.push_routes(slices)

    async def _pin_external_realms(self, project: Project) -> list[Diagnostic]:
        """Pin exactly the project's realms: new and changed ones pinned, dropped ones unpinned. A
        pin that cannot be loaded keeps the version pinned before (if any); the others load."""
        realms, problems = await asyncio.to_thread(_load_realms, project)
        for problem in problems:
            self._note("changeset", "error", problem.message)
        self._waiting_realms.clear()
        self._waiting_unpins.clear()
        pinned = self._service.state.external_realms
        problems += [p for realm in realms if pinned.get(realm.name) != realm for p in self._pin(realm)]
        kept = {realm.name for realm in realms} | {pin.name for pin in project.realms}
        for name in sorted(set(pinned) - kept):
            if not self._unpinned(name):
                self._waiting_unpins.add(name)
                self._note("changeset", "warn", f"realm {name} stays pinned while live modules use it")
        return problems

    def _pin(self, realm: ast.Realm) -> list[Diagnostic]:
        try:
            self._service.apply(ExternalRealmPinned(realm, time.time()))
        except InvalidEvent as exc:
            if not exc.diagnostics:  # not something this realm can pin at all
                self._note("changeset", "error", f"realm {realm.name} could not be pinned: {exc}")
                return [Diagnostic(f"realm {realm.name} could not be pinned: {exc}")]
            # The live modules were built against the old version: the new one goes live together
            # with modules built against it.
            self._waiting_realms[realm.name] = realm
            self._note(
                "changeset",
                "warn",
                f"realm {realm.name} waits for modules built against its new version",
                data={"diagnostics": [str(d) for d in exc.diagnostics]},
            )
        return []

    def _unpinned(self, name: str) -> bool:
        try:
            self._service.apply(ExternalRealmUnpinned(name, time.time()))
        except InvalidEvent:
            return False
        return True

    def _settle_realms(self) -> None:
        """After a commit: the versions it pinned stop waiting; realms no longer used are unpinned."""
        pinned = self._service.state.external_realms
        self._waiting_realms = {n: r for n, r in self._waiting_realms.items() if pinned.get(n) != r}
        self._waiting_unpins = {name for name in self._waiting_unpins if not self._unpinned(name)}

    def _record_schema_event(self, event: Event, state: SchemaState) -> None:
        match event:
            case ChangesetCreated():
                changeset = state.changesets[event.changeset]
                what = ", ".join(changeset.modules) or "nothing"
                self._changeset_note(event.changeset, "info", f"changeset {event.changeset} created: {what}")
            case ChangesetPrepared() | ChangesetFinalized() | ChangesetDrained():
                status = state.changesets[event.changeset].state
                self._changeset_note(event.changeset, "info", f"changeset {event.changeset} {status.lower()}")
            case ChangesetCommitted():
                changeset = state.changesets[event.changeset]
                self._changeset_note(event.changeset, "info", f"changeset {event.changeset} committed")
                for key in changeset.deployments:
                    deployment = state.deployments[key]
                    self._note(
                        "deployment",
                        "info",
                        f"{deployment.module} v{deployment.version} live ({key})",
                        module=deployment.module,
                        data={"deployment": key, "version": deployment.version, "changeset": event.changeset},
                    )
                for removed in changeset.removals:
                    self._note("deployment", "info", f"{removed} removed", module=removed)
                for realm in changeset.realms:
                    self._note("changeset", "info", f"external realm {realm.name} pinned")
            case ChangesetFailed():
                changeset = state.changesets[event.changeset]
                details = [str(d) for d in changeset.diagnostics]
                self._changeset_note(
                    event.changeset,
                    "error",
                    f"changeset {event.changeset} failed: {event.reason}",
                    {"diagnostics": details},
                )
                for name in sorted({*changeset.modules, *changeset.attempted}):
                    live = state.live.get(name)
                    keeps = f"v{state.deployments[live].version} still serving" if live else "not serving"
                    self._note(
                        "deployment",
                        "error",
                        f"{name} deploy failed ({keeps}): {event.reason}",
                        module=name,
                        data={"changeset": event.changeset, "diagnostics": details},
                    )
            case ExternalRealmPinned():
                self._note("changeset", "info", f"external realm {event.realm.name} pinned")
            case ExternalRealmUnpinned():
                self._note("changeset", "info", f"external realm {event.realm} unpinned")
            case DeploymentRuntimeUpdated():
                pass  # runner ups and downs are reported by the supervisor, with their reasons

    def _changeset_note(
        self, changeset: str, level: str, message: str, extra: dict[str, object] | None = None
    ) -> None:
        record = self._service.state.changesets.get(changeset)
        data: dict[str, object] = {"changeset": changeset}
        if record is not None:
            data.update(
                state=record.state.value, modules=list(record.modules), removals=list(record.removals)
            )
        self._note("changeset", level, message, data={**data, **(extra or {})})

    def _note(
        self, kind: str, level: str, message: str, *, module: str = "", data: dict[str, object] | None = None
    ) -> None:
        self.timeline.add(
            TimelineEvent(
                kind=kind, time=time.time(), module=module, level=level, message=message, data=data or {}
            )
        )

    # -- runner callbacks -----------------------------------------------------------------------

    def _runner_events(self, runner: RunnerProcess, records: list[EventRecord]) -> None:
        module = runner.module
        self.timeline.add_many(
            TimelineEvent(
                kind=r.kind,
                time=r.time,
                module=_event_module(module, r),
                verb=r.verb,
                request_id=r.request_id,
                duration_ms=r.duration_ms,
                level=r.level,
                message=r.message,
                data=_event_data(r),
            )
            for r in records
        )

    def _runner_publish(self, runner: RunnerProcess, message: Publish) -> None:
        if message.module != runner.module:  # the runner refuses this itself: a bug or a forged frame
            self._note(
                "log",
                "error",
                f"{runner.module} published to {message.module}.{message.topic}, a topic of another module:"
                " dropped",
                module=runner.module,
            )
            return
        self._pubsub.publish(
            message.module, message.topic, message.body, request_id=message.request_id, caller=message.caller
        )

    def _runner_endpoint(self, runner: RunnerProcess) -> None:
        """A runner went down (endpoint "") or came back after a restart."""
        if runner.deployment not in self._service.state.deployments:
            return  # not part of a changeset yet: the deployer records its endpoint itself
        if not runner.endpoint:
            self._moved(runner)
        task = asyncio.get_running_loop().create_task(self._runner_back(runner))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _runner_back(self, runner: RunnerProcess) -> None:
        if runner.endpoint:
            # A restarted runner learns the routes before any call can reach it.
            await self._publish_routes(only={runner.deployment})
            self._moved(runner)
        await self._publish_routes()

    def _moved(self, runner: RunnerProcess) -> None:
        with contextlib.suppress(InvalidEvent):  # the deployment may have been drained meanwhile
            self._service.apply(DeploymentRuntimeUpdated(runner.deployment, runner.endpoint, time.time()))

    def _runner_report(self, runner: RunnerProcess, level: str, message: str, tail: str) -> None:
        text = f"runner of {runner.module} ({runner.deployment}) {message}"
        # The supervisor reports a runner only when it went down or came back, and it has an
        # endpoint exactly while it serves.
        what = RUNNER_RESTARTED if runner.endpoint else RUNNER_CRASHED
        data: dict[str, object] = {"deployment": runner.deployment, "pid": runner.pid, "runner": what}
        if tail:
            data["stderr"] = tail
        self._note("deployment", level, text, module=runner.module, data=data)


def _load_realms(project: Project) -> tuple[list[ast.Realm], list[Diagnostic]]:
    """Each pin's public schema, loaded on its own: one bad pin does not keep the others out."""
    from ftl.realm import load_pinned_realm

    realms: list[ast.Realm] = []
    problems: list[Diagnostic] = []
    for pin in project.realms:
        try:
            realms.append(load_pinned_realm(project, pin).realm)
        except FtlError as exc:
            problems.append(Diagnostic(f"realm {pin.name} could not be loaded: {exc}"))
            problems += exc.diagnostics
    return realms, problems


def _routing_schema(state: SchemaState, key: str) -> ast.Module:
    """The module schema a deployment routes by: the live one, else the one its changeset validated."""
    deployment = state.deployments[key]
    if state.live.get(deployment.module) == key:
        live = state.live_module(deployment.module)
        if live is not None:
            return live
    changeset = state.changesets.get(deployment.changeset)
    if changeset is not None and changeset.candidate is not None:
        realm = changeset.candidate.realm(state.realm)
        candidate = realm.module(deployment.module) if realm else None
        if candidate is not None:
            return candidate
    return deployment.schema


def _live_modules(state: SchemaState) -> list[ast.Module]:
    realm = state.schema.realm(state.realm)
    return [m for m in realm.modules if state.live_deployment(m.name) is not None] if realm else []


def _event_data(record: EventRecord) -> dict[str, object]:
    """A call's data, with `topic` added when it delivered a topic's event (see `ftl.devserver.pubsub`)."""
    caller = record.data.get("caller") if record.kind == "call" else None
    topic = topic_of_caller(caller) if isinstance(caller, str) else ""
    return {**record.data, "topic": topic} if topic else record.data


def _event_module(runner_module: str, record: EventRecord) -> str:
    """The module a runner's event belongs to: the runner's own, except for a call it made to
    another realm (`data["realm"]` set), which is filed under the callee's module."""
    module = record.data.get("module")
    if record.kind == "call" and record.data.get("realm") and isinstance(module, str) and module:
        return module
    return runner_module
