"""The deployer: drives one changeset from module directories to serving (or to FAILED).

    (build stubs) → fork a runner per module → each imports its module and reports its schema →
    ChangesetCreated (the merged schema validated) → runners' endpoints → PREPARED → COMMITTED
    (routes switch; every runner acknowledges) → old runners finish in-flight calls → DRAINED →
    FINALIZED

Without a build, nothing is imported in this process. The runners of a changeset start at once;
then, in dependency order, the generated client of each module that another module of the
changeset imports is written from the schema its runner reported, and if that changed the client,
its importers' runners (which imported the old one) are started again. So an edit that keeps a
module's interface costs one runner start, and one that changes it, one per dependency layer.

Any failure before the commit stops the new runners and records the changeset as FAILED with its
diagnostics; the deployments that were serving keep serving (and the clients written on the way
are put back to theirs). Draining happens in the background, so `deploy` returns as soon as the
new code serves; a replaced deployment still running calls `DRAIN_TIMEOUT_S` later (a runaway
loop) is stopped anyway, with a warning, so that it does not run on unseen.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ftl.build import build_project, stubs_dir
from ftl.build.discover import ModuleInfo
from ftl.build.graph import Graph, dependency_graph, dependents_of, topological_order
from ftl.build.stubs import render_stub, stub_path, write_module_stub
from ftl.configstore import values_for
from ftl.devserver.changeset import IN_FLIGHT, ChangesetState, new_changeset_key, new_deployment_key
from ftl.devserver.events import (
    ChangesetCommitted,
    ChangesetCreated,
    ChangesetDrained,
    ChangesetFailed,
    ChangesetFinalized,
    ChangesetPrepared,
    DeploymentRuntimeUpdated,
    NewDeployment,
)
from ftl.devserver.routes import Router
from ftl.devserver.schema_service import InvalidEvent, SchemaService
from ftl.devserver.supervisor import RunnerFailed, RunnerProcess, Supervisor
from ftl.errors import Diagnostic, FtlError, sorted_unique
from ftl.project import Project
from ftl.runtime.extract import ModuleFile, read_module_file
from ftl.runtime.extract.source import recheck_sources
from ftl.runtime.protocol import Register
from ftl.runtime.runner import RunnerSpec
from ftl.schema import ast, from_json

REALM_ENDPOINT_SUFFIX = "-realm-endpoint"
REALM_ENDPOINT_ENV = "FTL_REALM_ENDPOINT_"


DRAIN_TIMEOUT_S = 60.0  # how long a replaced deployment may take to finish its calls


@dataclass(frozen=True, slots=True)
class DeployResult:
    changeset: str
    state: str  # a ChangesetState value: COMMITTED on success, FAILED otherwise
    deployments: list[str]
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state != ChangesetState.FAILED


def realm_endpoints(project: Project | None, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """External realm -> ingress URL, from config `<realm>-realm-endpoint` or (winning) env
    `FTL_REALM_ENDPOINT_<REALM>`."""
    endpoints: dict[str, str] = {}
    if project is not None:
        for key, value in project.config.items():
            if key.endswith(REALM_ENDPOINT_SUFFIX) and isinstance(value, str):
                endpoints[key.removesuffix(REALM_ENDPOINT_SUFFIX)] = value
    for variable, value in environ.items():
        if variable.startswith(REALM_ENDPOINT_ENV) and value:
            endpoints[variable.removeprefix(REALM_ENDPOINT_ENV).lower()] = value
    return endpoints


class Deployer:
    """Runs changesets one at a time against the schema service, the supervisor and the router."""

    def __init__(
        self,
        *,
        project: Project | None,
        service: SchemaService,
        supervisor: Supervisor,
        router: Router,
        publish_routes: Callable[[], Awaitable[None]],
        warn: Callable[[str, str], None] = lambda module, message: None,
        drain_timeout: float | None = None,
    ) -> None:
        self.project = project  # replaced when the project file changes (config, realm endpoints)
        self._warn = warn
        self.drain_timeout = DRAIN_TIMEOUT_S if drain_timeout is None else drain_timeout
        self._service = service
        self._supervisor = supervisor
        self._router = router
        self._publish_routes = publish_routes
        self._lock = asyncio.Lock()
        self._drains: set[asyncio.Task[None]] = set()
        self._written: list[str] = []  # modules whose client this changeset wrote
        self._attempted: tuple[str, ...] = ()  # modules this changeset is for, as far as known

    @property
    def realm(self) -> str:
        return self._service.realm

    async def deploy(
        self,
        module_dirs: Sequence[Path],
        *,
        removals: Sequence[str] = (),
        build: bool = True,
        realms: Sequence[ast.Realm] = (),
    ) -> DeployResult:
        """Deploy `module_dirs` (and remove `removals`) as one changeset.

        `realms`: external realm versions waiting to be pinned; the changeset pins those its new
        modules refer to (they were built against them).
        """
        async with self._lock:
            self._written = []
            return await self._deploy([Path(d) for d in module_dirs], tuple(removals), build, tuple(realms))

    async def wait_drained(self) -> None:
        """Wait for every replaced deployment to be drained and stopped."""
        while self._drains:
            await asyncio.gather(*self._drains, return_exceptions=True)

    async def cancel_drains(self) -> None:
        for task in self._drains:
            task.cancel()
        await asyncio.gather(*self._drains, return_exceptions=True)

    async def _deploy(
        self, module_dirs: list[Path], removals: tuple[str, ...], build: bool, realms: tuple[ast.Realm, ...]
    ) -> DeployResult:
        changeset = new_changeset_key()
        self._attempted = tuple(d.name for d in module_dirs)
        try:
            modules = [read_module_file(d) for d in module_dirs]
        except FtlError as exc:
            return self._rejected(changeset, "a module directory is not a module", exc.diagnostics)
        names = [m.name for m in modules]
        self._attempted = tuple(names)
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            return self._rejected(changeset, f"module {duplicates[0]} is listed twice", [])
        layers, graph = [modules], {}
        if build and self.project is not None and modules:
            built = await asyncio.to_thread(build_project, self.project, names)
            if built.diagnostics:
                return self._rejected(changeset, "the build failed", built.diagnostics)
        elif self.project is not None and len(modules) > 1:
            graph = _import_graph(modules)
            layers, cycles = _layers(modules, graph)
            if cycles:
                return self._rejected(changeset, "modules import each other's clients", cycles)
        try:
            specs = {module.name: self._spec(module) for module in modules}
        except FtlError as exc:
            return self._rejected(changeset, "config or secrets could not be read", exc.diagnostics)

        runners: list[RunnerProcess] = []
        try:
            deployments = await self._start_runners(layers, graph, specs, runners)
        except RunnerFailed as failure:
            await self._stop(runners)
            return self._rejected(changeset, str(failure).splitlines()[0], failure.diagnostics)
        except BaseException:  # cancelled (the dev loop supersedes a stuck deploy), or a bug
            self._restore_stubs()
            await self._stop(runners)
            raise
        pinned = _referenced(realms, deployments)
        try:
            self._service.apply(
                ChangesetCreated(changeset, tuple(deployments), removals, time.time(), realms=pinned)
            )
        except InvalidEvent as exc:
            await self._stop(runners)
            return self._rejected(changeset, str(exc).splitlines()[0], list(exc.diagnostics))
        try:
            return await self._prepare_and_commit(changeset, runners)
        except BaseException:
            # Interrupted (cancelled, or a bug): never leave a changeset holding its modules.
            if self._service.state.changesets[changeset].state in IN_FLIGHT:
                await self._fail(changeset, runners, "the deployment was interrupted", [])
            raise

    async def _prepare_and_commit(self, changeset: str, runners: list[RunnerProcess]) -> DeployResult:
        created = self._service.state.changesets[changeset]
        if created.diagnostics:
            return await self._fail(
                changeset, runners, "the merged schema does not validate", created.diagnostics
            )
        try:
            for runner in runners:
                self._service.apply(DeploymentRuntimeUpdated(runner.deployment, runner.endpoint, time.time()))
            await self._publish_routes()  # the new runners learn where everything is before serving
            self._service.apply(ChangesetPrepared(changeset, time.time()))
            self._service.apply(ChangesetCommitted(changeset, time.time()))
        except InvalidEvent as exc:
            return await self._fail(changeset, runners, str(exc).splitlines()[0], exc.diagnostics)
        await self._publish_routes()  # returns once every runner has switched
        committed = self._service.state.changesets[changeset]
        self._start_drain(changeset, committed.replaced)
        return DeployResult(changeset, ChangesetState.COMMITTED, list(committed.deployments))

    async def _start_runners(
        self,
        layers: list[list[ModuleFile]],
        graph: Graph,
        specs: dict[str, RunnerSpec],
        runners: list[RunnerProcess],
    ) -> list[NewDeployment]:
        """A runner per module (kept in `runners`); each deployment with the schema its runner reported.

        All start at once, betting that the clients on disk are current (an edit that keeps the
        module's interface, the usual case). Layer by layer, the clients that modules of the
        changeset import are then written from the reported schemas; when one changed, the runners
        of the modules that depend on it are started again, since they imported the old one.
        """
        outcomes = await self._launch([m for layer in layers for m in layer], specs, runners)
        imported = {dep for deps in graph.values() for dep in deps}
        for index, layer in enumerate(layers[:-1]):
            deployments = _successes([outcomes[m.name] for m in layer])
            changed = [
                d.module.name for d in deployments if d.module.name in imported and self._write_stub(d.module)
            ]
            stale = {user for name in changed for user in dependents_of(graph, name)}
            if stale:
                later = [m for following in layers[index + 1 :] for m in following if m.name in stale]
                replaced = [r for r in runners if r.module in stale]
                runners[:] = [r for r in runners if r not in replaced]
                await self._stop(replaced)
                fresh = {m.name: self._respec(specs[m.name], m.name) for m in later}
                outcomes.update(await self._launch(later, fresh, runners))
        return _successes([outcomes[m.name] for layer in layers for m in layer])

    async def _launch(
        self, modules: list[ModuleFile], specs: dict[str, RunnerSpec], runners: list[RunnerProcess]
    ) -> dict[str, NewDeployment | RunnerFailed]:
        """Start a runner per module (into `runners`); what each one reported, by module name."""
        started = [await self._supervisor.start_runner(m.name, specs[m.name]) for m in modules]
        runners.extend(started)
        outcomes = await asyncio.gather(
            *(self._supervisor.wait_registered(r) for r in started), return_exceptions=True
        )
        unexpected = [o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, RunnerFailed)]
        if unexpected:
            raise unexpected[0]
        return {
            runner.module: outcome if isinstance(outcome, RunnerFailed) else _deployment(runner, outcome)
            for runner, outcome in zip(started, outcomes, strict=True)
        }

    def _respec(self, spec: RunnerSpec, module: str) -> RunnerSpec:
        """The same runner as a new deployment (a deployment key is never reused)."""
        return msgspec.structs.replace(spec, deployment=new_deployment_key(self.realm, module))

    def _write_stub(self, module: ast.Module) -> bool:
        """Write the module's client from the schema its runner reported; whether it changed."""
        assert self.project is not None
        root = self.project.root
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if stub_path(root, module.name).read_text(encoding="utf-8") == render_stub(module):
                return False
        write_module_stub(root, module)
        self._written.append(module.name)
        return True

    def _restore_stubs(self) -> None:
        """After a failure, the clients written for it go back to the versions that serve."""
        written, self._written = self._written, []
        state = self._service.state
        for name in written:
            live = state.live_deployment(name)
            if live is not None and self.project is not None:
                write_module_stub(self.project.root, live.schema)

    def _spec(self, module: ModuleFile) -> RunnerSpec:
        project = self.project
        root = project.root if project is not None else module.directory.parent
        return RunnerSpec(
            deployment=new_deployment_key(self.realm, module.name),
            module_dir=str(module.directory),
            control="",
            realm=self.realm,
            project_root=str(root),
            stubs_dir=str(stubs_dir(root)) if project is not None else "",
            config=values_for(project, "config", module.name) if project is not None else {},
            secrets=values_for(project, "secret", module.name) if project is not None else {},
            realm_endpoints=realm_endpoints(project),
        )

    def _rejected(self, changeset: str, reason: str, diagnostics: Iterable[Diagnostic]) -> DeployResult:
        """A changeset that failed before it had deployments: recorded, then failed at once."""
        problems = sorted_unique(list(diagnostics)) or [Diagnostic(reason)]
        self._restore_stubs()
        attempted = tuple(sorted(set(self._attempted)))
        self._service.apply(ChangesetCreated(changeset, (), (), time.time(), attempted=attempted))
        self._service.apply(ChangesetFailed(changeset, reason, tuple(problems), time.time()))
        return DeployResult(changeset, ChangesetState.FAILED, [], problems)

    async def _fail(
        self, changeset: str, runners: list[RunnerProcess], reason: str, diagnostics: Iterable[Diagnostic]
    ) -> DeployResult:
        problems = sorted_unique(list(diagnostics)) or [Diagnostic(reason)]
        self._restore_stubs()
        self._service.apply(ChangesetFailed(changeset, reason, tuple(problems), time.time()))
        await self._stop(runners)
        return DeployResult(changeset, ChangesetState.FAILED, [], problems)

    async def _stop(self, runners: Iterable[RunnerProcess], timeout: float | None = None) -> None:
        stopping = (
            self._supervisor.stop_runner(r) if timeout is None else self._supervisor.stop_runner(r, timeout)
            for r in runners
        )
        await asyncio.gather(*stopping)

    def _start_drain(self, changeset: str, replaced: tuple[str, ...]) -> None:
        task = asyncio.get_running_loop().create_task(self._drain(changeset, replaced))
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    async def _drain(self, changeset: str, replaced: tuple[str, ...]) -> None:
        # Every runner has acknowledged the new routes (so none has a call to these in flight);
        # what is left is the backplane's own calls.
        grace: float | None = None
        try:
            await asyncio.wait_for(self._router.wait_idle(replaced), self.drain_timeout)
        except TimeoutError:
            self._warn_still_running(replaced)
            grace = 0.0  # its calls would hold a graceful stop too
        runners = [r for r in map(self._supervisor.runner, replaced) if r is not None]
        await self._stop(runners, grace)
        self._router.forget(self._router.table.endpoints.values())
        with contextlib.suppress(InvalidEvent):
            self._service.apply(ChangesetDrained(changeset, time.time()))
            self._service.apply(ChangesetFinalized(changeset, time.time()))

    def _warn_still_running(self, replaced: tuple[str, ...]) -> None:
        for key in replaced:
            count, runner = self._router.in_flight(key), self._supervisor.runner(key)
            if count and runner is not None:
                self._router.stopping(
                    key, f"its old version ran {self.drain_timeout:g} s after a new one went live"
                )
                calls = "a call" if count == 1 else f"{count} calls"
                self._warn(
                    runner.module,
                    f"the replaced version of {runner.module} ({key}) was still running {calls} "
                    f"{self.drain_timeout:g} s after the new one went live: stopped it (those calls fail)",
                )


def _deployment(runner: RunnerProcess, outcome: Register | BaseException) -> NewDeployment | RunnerFailed:
    """The deployment a runner's registration describes, or why it cannot be one."""
    assert isinstance(outcome, Register)
    try:
        schema = from_json(outcome.schema)
    except Exception as exc:  # a runner of another FTL version, or a bug: not the user's fault
        return RunnerFailed(f"the runner of {runner.module} reported an unreadable schema: {exc}")
    if not isinstance(schema, ast.Module) or schema.name != runner.module:
        return RunnerFailed(f"the runner of {runner.module} reported the schema of another module")
    return NewDeployment(runner.deployment, schema)


def _referenced(realms: tuple[ast.Realm, ...], deployments: list[NewDeployment]) -> tuple[ast.Realm, ...]:
    """The `realms` some of the deployments refer to."""
    used = {
        node.realm
        for deployment in deployments
        for node in ast.walk(deployment.module)
        if isinstance(node, ast.Ref) and node.realm
    }
    return tuple(realm for realm in realms if realm.name in used)


def _successes(outcomes: list[NewDeployment | RunnerFailed]) -> list[NewDeployment]:
    """The deployments, if every runner came up; else RunnerFailed with every failure's diagnostics."""
    failures = [o for o in outcomes if isinstance(o, RunnerFailed)]
    if failures:
        raise RunnerFailed(str(failures[0]), [d for f in failures for d in f.diagnostics])
    return [o for o in outcomes if isinstance(o, NewDeployment)]


def _import_graph(modules: list[ModuleFile]) -> Graph:
    """Which modules of the changeset import which others' clients, read from their sources now."""
    # The sources may have changed since this process last parsed them (same-size saves included).
    recheck_sources(*(m.package_dir for m in modules))
    return dependency_graph(ModuleInfo(m.name, m.directory, m.package, m.watch) for m in modules)


def _layers(modules: list[ModuleFile], graph: Graph) -> tuple[list[list[ModuleFile]], list[Diagnostic]]:
    """The modules in dependency order: each layer imports only clients of modules in earlier layers
    (or of modules outside the changeset). With a cycle, its diagnostic instead."""
    _, cycles = topological_order(graph)
    if cycles:
        return [], cycles
    by_name = {m.name: m for m in modules}
    waiting = {name: set(deps) for name, deps in graph.items()}
    layers: list[list[ModuleFile]] = []
    while waiting:
        ready = sorted(name for name, deps in waiting.items() if not deps)
        layers.append([by_name[name] for name in ready])
        for name in ready:
            del waiting[name]
        for deps in waiting.values():
            deps.difference_update(ready)
    return layers, []
