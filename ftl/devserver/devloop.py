"""The `ftl dev` loop: deploy every module, then redeploy exactly what each change touches.

Start-up deploys modules in dependency order, each as its own changeset, independent ones in
parallel, so one broken module never keeps the others from serving. After that, every debounced
batch of changes becomes ONE changeset: the changed modules, the modules whose build depends on
them (they import their generated clients), and any not-yet-deployed dependency they need;
except that importers of a module whose interface the edit kept wait to see whether it did.

User code is never imported here: each new runner extracts its module and reports its schema,
the backplane validates the merged schema, and the loop writes the module's client stub from it
for the modules deployed after. Within one changeset the engine starts a module's runner before
its importers' and writes its client in between (`Backplane.deploy(build=False)`).

An edit of `ftl-project.toml` goes to the backplane (`set_project`): the modules whose config
values changed are redeployed with the new ones, and when realm pins changed, the realms' clients
are rewritten and the modules importing them redeployed (a realm version they did not fit goes
live with them).

`ftl secret set` (a change of `.ftl/secrets.toml`) redeploys exactly the modules whose secret
values changed, and nothing else: their schema is the same, so no importer needs rebuilding. The
loop keeps only a fingerprint of each module's values, never the values themselves, so nothing
it reports can show one.

An edit confined to function bodies (`interface_fingerprint` unchanged) most likely keeps the
module's client as it is: the module is deployed without the serving modules importing it, and
those follow in a changeset of their own only when the client its runner reported did change
after all. If it goes wrong where they are, they are deployed with it, to show their own errors.

A failed changeset leaves the old versions serving; its error is shown once per change, and the
failed modules are retried when their files or their dependencies change. If a module that
failed earlier (and was not edited since) is what sinks a changeset, the changeset is tried again
without it, so an unrelated edit still goes live. A module failing while a module it imports is
broken is shown as waiting for that one, not with follow-on errors of its own. A module saved
without errors of its own that a failing one kept from going live is shown as not deployed either
(and no longer as broken, if it was).

The backplane runs one changeset at a time, and a runner whose module hangs on import holds it
until the start-up timeout. So a changeset still importing `SLOW_AFTER_S` after it began is
announced. During start-up it is then set aside while other modules wait for their turn (or
when any save comes), and deployed again once they are up; a save of it cancels it at once.
After start-up, `run` keeps reading changes while a changeset is in flight: a new save of a module the
changeset deploys cancels it (it is out of date) and deploys the merged change at once; any other
change cancels it only once it is slow, deploys first without the modules it was for (on the
versions of them that serve), and then tries it again. A changeset is cancelled only while its
runners are importing (none of its deployments exists yet), which the deployer rolls back cleanly.
A changeset that hangs until the runner start-up timeout fails with the runner's error.

A project layout the loop cannot make sense of (two directories claiming one module, a
`module-dirs` entry that is not a directory, an `ftl.toml` that cannot be read) is shown once; the
modules that served keep serving, and the modules importing them build against them. A renamed
`realm` is not applied (it takes a restart); unknown keys are warned about once per set.

Verb calls that raise are shown once each, with the frames of the traceback in user code.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ftl.build.discover import ModuleInfo, scan_modules
from ftl.build.graph import Graph, dependencies_of, dependents_of, interface_fingerprint, module_imports
from ftl.build.stubs import remove_stale_stubs, render_stub, write_module_stub, write_realm_stubs
from ftl.build.watcher import Changes, ProjectWatcher, WatchedModule, WatchPlan, make_plan
from ftl.configstore import SECRETS_FILE, values_for
from ftl.devserver.status import DevStatus, format_ms
from ftl.devserver.timeline import Timeline, TimelineEvent
from ftl.errors import Diagnostic, FtlError, sorted_unique
from ftl.files import display_path
from ftl.project import Project, load_project
from ftl.runtime.extract import MODULE_FILE, read_module_file
from ftl.runtime.extract.source import recheck_sources
from ftl.schema import ast
from ftl.verb_failures import verb_failure_lines

if TYPE_CHECKING:
    from ftl.devserver.admin import ServerUrls
    from ftl.devserver.server import ServeOptions

PROJECT_KEY = "<project>"  # where failures that belong to no module are remembered
PROJECT_FILE_KEY = "<project file>"  # where failures to read ftl-project.toml are remembered
REALMS_KEY = "<realms>"  # where failures to pin the project's external realms are remembered
CONFIG_KEY = "<config>"  # where failures to read the project's config values are remembered
SECRETS_KEY = "<secrets>"  # where failures to read the secrets file are remembered

SLOW_AFTER_S = 5.0  # a changeset still importing after this long is announced (and may yield)
# A save's mtime precedes the arrival of its event by the watcher's debounce at most (and a coarse
# clock tick); an older mtime is a copied or moved file's, not the time of the change.
MTIME_LEEWAY_S = 0.25
RESCANS = 3  # layout scans redone after their watch is in place, until nothing moved meanwhile

EventKind = Literal[
    "ready",
    "deployed",
    "failed",
    "slow",
    "removed",
    "added",
    "crashed",
    "restarted",
    "log",
    "call",
    "warning",
    "notice",
]


@dataclass(frozen=True, slots=True)
class DevEvent:
    """Something the terminal should show once, above the status block."""

    kind: EventKind
    modules: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    message: str = ""
    duration_ms: float | None = None
    level: str = ""
    waiting: tuple[tuple[str, str], ...] = ()  # (module, what it waits for), shown with a failure


def describe(event: DevEvent) -> list[str]:
    """The plain-text lines `ftl dev` prints for an event (the first is the headline)."""
    names = ", ".join(event.modules)
    took = f" in {format_ms(event.duration_ms)}" if event.duration_ms is not None else ""
    match event.kind:
        case "ready":
            count = len(event.modules)
            return [f"ready: {count} module{'' if count == 1 else 's'} serving{took}"]
        case "deployed":
            return [f"deployed {names}{took}"]
        case "failed":
            lines = [str(d) for d in event.diagnostics]
            lines += [f"{module}: waiting for {blocker}" for module, blocker in event.waiting]
            note = f" ({event.message})" if event.message else ""
            return [f"failed: {names}{note}", *lines] if names else lines
        case "slow":
            return [f"deploying {names}: {event.message}"]
        case "call" | "notice":
            return event.message.splitlines()
        case "warning":
            return [
                f"{d.pos}: warning: {d.message}" if d.pos else f"warning: {d.message}"
                for d in event.diagnostics
            ]
        case "crashed":
            headline, *tail = event.message.splitlines()
            return [f"crashed: {headline}", *(f"  {line}" for line in tail)]
        case "log":
            return [f"{names} | {line}" for line in event.message.splitlines() or [""]]
        case _:
            return [f"{event.kind} {names}".rstrip() + (f": {event.message}" if event.message else "")]


# -- what the loop needs from the backplane ----------------------------------------------------


class DeployOutcome(Protocol):
    @property
    def state(self) -> str: ...

    @property
    def diagnostics(self) -> Sequence[Diagnostic]: ...


class LiveDeployment(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def module(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def started_at(self) -> float: ...

    @property
    def version(self) -> int: ...


class Deployer(Protocol):
    """The slice of `ftl.devserver.backplane.Backplane` the dev loop uses.

    `deploy` runs one changeset at a time; cancelled while its runners import, it stops them and
    nothing of the changeset remains. Its deployments show in `deployments()` from the moment the
    runners reported their schemas (state "starting") on.
    """

    async def deploy(
        self, module_dirs: Sequence[Path], *, removals: Sequence[str] = (), build: bool = True
    ) -> DeployOutcome: ...

    async def set_project(self, project: Project) -> Sequence[Diagnostic]: ...

    def realm_problems(self) -> Sequence[Diagnostic]: ...

    def deployments(self) -> Sequence[LiveDeployment]: ...

    def schema(self) -> ast.Schema: ...

    def external_realms(self) -> Sequence[ast.Realm]: ...


FAILED_STATE = "FAILED"
SERVING_STATES = frozenset({"live", "down"})  # "down": crashed, being restarted, still routed to


@dataclass(eq=False)
class _Attempt:
    """A changeset the loop is deploying (or one cancelled, to deploy again)."""

    targets: frozenset[str]
    changed: frozenset[str]
    since: float
    slow: bool = False  # announced as slow: other changes may cut in

    def merge(self, other: _Attempt | None) -> _Attempt:
        if other is None:
            return self
        since = max(self.since, other.since)
        return _Attempt(self.targets | other.targets, self.changed | other.changed, since)


# -- the loop ----------------------------------------------------------------------------------


MAX_CALLS_REMEMBERED = 1000  # request ids whose verb failure was shown


class DevLoop:
    """Owns the module set, the dependency graph, the watcher and the status; `report` shows events."""

    def __init__(
        self,
        project: Project,
        backplane: Deployer,
        report: Callable[[DevEvent], None],
        *,
        status: DevStatus | None = None,
        timeline: Timeline | None = None,
        clock: Callable[[], float] = time.time,
        slow_after: float = SLOW_AFTER_S,
    ) -> None:
        self.project = project
        self.status = status or DevStatus()
        self._backplane = backplane
        self._report = report
        self._timeline = timeline
        self._clock = clock
        self._slow_after = slow_after
        self._modules: dict[str, ModuleInfo] = {}
        self._graph: Graph = {}
        self._pending: set[str] = set()  # modules whose current sources are not what serves
        self._gone: set[str] = set()  # modules deleted from disk that still serve (removal failed)
        self._config: dict[str, dict[str, Any]] = {}  # the config values each module was given
        self._secrets: dict[str, str] = {}  # a fingerprint of the secret values each module was given
        self._shown: dict[str, frozenset[Diagnostic]] = {}  # last failure shown, per module
        self._broken: set[str] = set()  # modules whose last deploy failed with errors of their own
        self._held: set[str] = set()  # saved without errors, kept out by a failing module they went with
        self._unreadable: set[str] = set()  # modules kept serving while their ftl.toml cannot be read
        self._fingerprints: dict[str, str | None] = {}  # interface fingerprint of what serves
        self._realm = project.realm  # the realm served: renaming it takes a restart
        self._realm_asked = project.realm  # the realm the project file names, as last shown
        self._warned = frozenset(project.warnings)  # shown by `ftl dev` as it started
        self._attempt: _Attempt | None = None  # the changeset being deployed
        self._deploying: tuple[frozenset[str], frozenset[str]] | None = None  # (targets, keys before)
        self._deploy_slow = False  # the changeset in flight was announced as slow
        self._deferred: frozenset[str] = frozenset()  # left out of changesets until tried again
        self._starting: dict[str, asyncio.Future[bool]] = {}  # start-up deploys in flight, by module
        self._set_aside: set[str] = set()  # start-up deploys cancelled while importing: deployed later
        self._early: Changes | None = None  # saved during start-up, for `follow` to apply
        self._turn = asyncio.Lock()  # one changeset in flight at a time
        self._calls_shown: dict[str, None] = {}  # request ids whose verb failure was shown (bounded)
        self._watcher: ProjectWatcher | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def modules(self) -> dict[str, ModuleInfo]:
        return dict(self._modules)

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Discover, start watching (so edits made meanwhile are not lost), deploy everything."""
        started = self._clock()
        infos, problems = scan_modules(self.project)
        self._show_failure(PROJECT_KEY, problems, force=True)
        self._show_failure(REALMS_KEY, self._backplane.realm_problems(), force=True)
        self._set_modules(infos)
        self._config = self._config_values(self.project)
        self._watcher = ProjectWatcher(self._plan())
        await self._watcher.start()
        # Read after the watch is in place: a later `ftl secret set` is seen as a change.
        self._secrets = self._secret_fingerprints()
        if self._timeline is not None:
            streams = [self._timeline.stream(kind) for kind in ("deployment", "log")]
            # Failed calls only: following every call would put `ftl dev` on the calls' hot path.
            streams.append(self._timeline.stream("call", level="error"))
            for events in streams:
                self._tasks.append(asyncio.create_task(self._follow_runtime(events)))
        self._write_realm_stubs()
        reader = asyncio.ensure_future(self._read_while_starting())
        try:
            await self.deploy_all()
        finally:
            await _cancelled(reader)
        serving = tuple(r.name for r in self.status.rows() if r.serving)
        self._report(DevEvent("ready", serving, duration_ms=(self._clock() - started) * 1000))

    async def run(self) -> None:
        """Serve until cancelled: start, then apply every batch of changes."""
        await self.start()
        assert self._watcher is not None
        await self.follow(aiter(self._watcher))

    async def follow(self, batches: AsyncIterator[Changes]) -> None:
        """Apply every batch, reading the next ones while a changeset is in flight: a batch may
        cancel a changeset still importing (see the module docstring). What start-up set aside or
        read comes first."""
        reading = asyncio.ensure_future(anext(batches))
        task: asyncio.Future[None] | None = None
        held: Changes | None = self._early  # read, not applied yet
        carry: _Attempt | None = None  # cancelled as out of date: merged into the next batch's
        retry = self._startup_retry()  # cancelled as slow: deployed again after the next batch
        self._early = None
        try:
            while True:
                if held is None and retry is None:
                    held = await reading
                    reading = asyncio.ensure_future(anext(batches))
                if held is not None and retry is not None and held.modules & retry.changed:
                    carry, retry = retry.merge(carry), None
                if held is not None:
                    job = self._apply_job(held, carry, retry.changed if retry else frozenset())
                    held, carry = None, None
                else:
                    assert retry is not None
                    job, retry = self._retry_job(retry), None
                task = asyncio.ensure_future(job)
                while not task.done():
                    await asyncio.wait({task, reading}, return_when=asyncio.FIRST_COMPLETED)
                    if not reading.done():
                        continue
                    batch = reading.result()
                    reading = asyncio.ensure_future(anext(batches))
                    held = batch if held is None else held.merge(batch)
                    attempt = self._attempt
                    if attempt is None or not self._importing():
                        continue
                    outdated = bool(held.modules & attempt.changed)
                    if (outdated or attempt.slow) and await _cancelled(task):
                        if outdated:
                            carry = attempt.merge(carry)
                        else:
                            retry = attempt.merge(retry)
                if not task.cancelled():
                    task.result()
        except StopAsyncIteration:
            return  # no more changes: the watcher was closed
        finally:
            for pending in (task, reading):
                if pending is not None and not pending.done():
                    await _cancelled(pending)
            if not reading.cancelled():
                reading.exception()  # retrieved: the loop is ending either way

    async def _apply_job(self, changes: Changes, carry: _Attempt | None, deferred: frozenset[str]) -> None:
        """`apply`, leaving `deferred` (what a slow changeset was deploying) out for now."""
        self._deferred = deferred
        try:
            await self.apply(changes, carry=carry)
        finally:
            self._deferred = frozenset()

    async def _retry_job(self, attempt: _Attempt) -> None:
        names = set(self._modules)
        targets = set(attempt.targets) & names
        if targets:
            await self._redeploy(targets, changed=set(attempt.changed) & names, since=attempt.since)

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._watcher is not None:
            await self._watcher.close()

    # -- initial deploy ------------------------------------------------------------------------

    async def deploy_all(self) -> None:
        """Every module, in dependency order, independent ones in parallel, one changeset each."""
        names = sorted(self._modules)
        self._pending.update(names)
        acyclic, cyclic = _split_cycles(self._graph)
        finished: dict[str, asyncio.Future[bool]] = {
            name: asyncio.get_running_loop().create_future() for name in acyclic
        }

        async def deploy_one(name: str) -> None:
            ok = False
            try:
                deps = sorted(dep for dep in self._graph.get(name, {}) if dep in finished)
                broken = [dep for dep in deps if not await finished[dep]]
                if broken:
                    self.status.failed(name, f"waiting for {', '.join(broken)}")
                    return
                job = self._starting[name] = asyncio.ensure_future(
                    self._redeploy({name}, changed={name}, since=None)
                )
                try:
                    await asyncio.wait({job})
                finally:
                    del self._starting[name]
                    if not job.done():  # start-up itself is cancelled
                        await _cancelled(job)
                if job.cancelled():
                    self._set_aside.add(name)
                else:
                    ok = job.result()
            finally:
                finished[name].set_result(ok)

        await asyncio.gather(*(deploy_one(name) for name in acyclic))
        if cyclic:
            # On or behind an import cycle: one changeset, which the engine fails with the cycle's place.
            await self._redeploy(set(cyclic), changed=set(cyclic), since=None)

    async def _read_while_starting(self) -> None:
        """Keep what is saved during start-up for `follow`; a save of a module still importing
        cancels its deploy (it is deployed from the saved sources once start-up is done)."""
        if self._watcher is None:
            return
        async for changes in self._watcher:
            self._early = changes if self._early is None else self._early.merge(changes)
            # As after start-up: any change cuts in once the deploy in flight is slow.
            slow = self._deploying is not None and self._deploy_slow
            cut_in = self._deploying[0] if self._deploying is not None and slow else changes.modules
            self._set_aside_importing(cut_in)

    def _set_aside_importing(self, names: Iterable[str]) -> bool:
        """Cancel the start-up deploy in flight if it deploys one of `names` and still imports."""
        if self._deploying is None or not self._importing():
            return False
        jobs = [self._starting[name] for name in self._deploying[0] & set(names) if name in self._starting]
        for job in jobs:
            job.cancel()
        return bool(jobs)

    def _startup_retry(self) -> _Attempt | None:
        """What start-up set aside, with the modules that waited for it, as one changeset to try."""
        names, self._set_aside = self._set_aside & set(self._modules), set()
        if not names:
            return None
        waited = {user for name in names for user in dependents_of(self._graph, name)} & self._pending
        return _Attempt(frozenset(names | waited), frozenset(names), self._clock())

    # -- one batch of changes ------------------------------------------------------------------

    async def apply(self, changes: Changes, *, carry: _Attempt | None = None) -> None:
        """Redeploy what `changes` touches (and remove deleted modules) as one changeset; with what
        `carry` (a changeset cancelled as out of date) was deploying."""
        since = _saved_at(changes.paths, changes.arrived, self._clock())
        changed = set(changes.modules) | (set(carry.changed) if carry else set())
        if changes.layout:
            changed |= await self._relayout()
        changed &= set(self._modules)
        for name in changed:
            self._graph[name] = _imports(self._modules[name], self._modules)
        targets = self._targets(changed, include_pending=changes.layout)
        if carry is not None:
            targets |= set(carry.targets) & set(self._modules)
        if changes.secrets or changes.layout:
            with_new_secrets = await self._secrets_changed(replan=changes.secrets)
            targets |= self._targets(with_new_secrets, include_pending=False, dependents=False)
            changed |= with_new_secrets
        if targets or self._gone:
            await self._redeploy(targets, changed=changed, since=since, include_pending=changes.layout)

    def _targets(
        self,
        changed: set[str],
        *,
        include_pending: bool,
        without: set[str] | None = None,
        dependents: bool = True,
    ) -> set[str]:
        """The changed modules, the pending ones they need, and (with `dependents`) everything
        whose build depends on those.

        `without` takes modules out of the graph altogether, with what is reached only through them.
        """
        skip = (without or set()) | self._deferred
        graph = {
            n: {d: p for d, p in deps.items() if d not in skip}
            for n, deps in self._graph.items()
            if n not in skip
        }
        pending = self._pending - skip
        targets = (changed | (pending if include_pending else set())) - skip
        targets |= pending & dependencies_of(graph, targets)
        if dependents:
            for name in list(targets):
                targets |= dependents_of(graph, name)
        return targets & set(self._modules)

    async def _redeploy(
        self, targets: set[str], *, changed: set[str], since: float | None, include_pending: bool = False
    ) -> bool:
        """Deploy `targets` as one changeset. If modules that failed before and were not edited
        since sink it, try once more without them, so that the edit itself still goes live."""
        since = since if since is not None else self._clock()
        self._attempt = _Attempt(frozenset(targets), frozenset(changed), since)
        try:
            return await self._attempt_deploy(
                targets, changed=changed, since=since, include_pending=include_pending
            )
        finally:
            self._attempt = None

    async def _attempt_deploy(
        self, targets: set[str], *, changed: set[str], since: float, include_pending: bool
    ) -> bool:
        pending_before = set(self._pending)
        followers = self._followers(targets, changed)
        first = targets - followers
        clients = {name: self._live_client(name) for name in first} if followers else {}
        for name in first:
            self.status.building(name)
        diagnostics = await self._deploy(first)
        if diagnostics is None:
            self._succeeded(first, since)
            reshaped = {name for name, client in clients.items() if self._live_client(name) != client}
            users = followers & {user for name in reshaped for user in dependents_of(self._graph, name)}
            if not users:
                return True
            # Its client changed after all: what imports it follows, on the one that now serves.
            return await self._settle(users, None, changed, since, False, set(self._pending))
        if followers and any(self._owner_of(d) not in first for d in diagnostics):
            # Maybe the modules importing it do not fit its new interface: deploy them with it, so
            # that the errors shown are the ones they meet building against it.
            return await self._settle(targets, None, changed, since, include_pending, pending_before)
        return await self._settle(first, diagnostics, changed, since, include_pending, pending_before)

    def _followers(self, targets: set[str], changed: set[str]) -> set[str]:
        """The modules of `targets` that are there only as importers of modules whose edit kept
        their interface (as far as their sources tell): they serve their current sources, and
        follow only if a client they import changes after all."""
        serving = {d.module for d in self._backplane.deployments() if d.state in SERVING_STATES}
        candidates = {name for name in targets - changed - self._pending if name in serving}
        reshaped = {name for name in targets - candidates if not self._same_interface(name, changed)}
        followers = set()
        for name in candidates:
            imported = dependencies_of(self._graph, [name]) - {name}
            if imported & targets and not imported & reshaped:
                followers.add(name)
        return followers

    def _same_interface(self, name: str, changed: set[str]) -> bool:
        """Whether an edit of `name` left its sources' interface as it is in the version serving."""
        if name not in changed:
            return False
        served = self._fingerprints.get(name)
        return served is not None and served == self._fingerprint_of(name)

    def _fingerprint_of(self, name: str) -> str | None:
        info = self._modules.get(name)
        return interface_fingerprint(info) if info is not None else None

    def _live_client(self, name: str) -> str | None:
        """The generated client of the version of `name` that serves (None: none serves)."""
        realm = self._backplane.schema().realm(self.project.realm)
        module = realm.module(name) if realm is not None else None
        return render_stub(module) if module is not None else None

    async def _settle(
        self,
        targets: set[str],
        diagnostics: list[Diagnostic] | None,
        changed: set[str],
        since: float,
        include_pending: bool,
        pending_before: set[str],
    ) -> bool:
        """After `targets` failed with `diagnostics` (None: deploy them first), retry without the
        modules that failed before and were not edited since, and show what failed."""
        if diagnostics is None:
            for name in targets:
                self.status.building(name)
            diagnostics = await self._deploy(targets)
            if diagnostics is None:
                self._succeeded(targets, since)
                return True
        blame = self._blame(diagnostics, targets, changed)
        stale = {name for name in blame if name in pending_before and name not in changed}
        retry = (
            self._targets(changed, include_pending=include_pending, without=stale) & targets
            if stale
            else set()
        )
        if retry:
            diagnostics = await self._deploy(retry)
            if diagnostics is None:
                self._succeeded(retry, since)
                self._failed(targets - retry, blame, changed)
                return False
            # Outside the retry, the first attempt's errors are the ones met building the new
            # sources (the retry's only say that the versions serving do not fit them).
            blame = self._blame(diagnostics, retry, changed) | {
                n: d for n, d in blame.items() if n not in retry
            }
        self._failed(targets | (set(blame) & set(self._modules)), blame, changed)
        return False

    async def _deploy(self, targets: set[str]) -> list[Diagnostic] | None:
        """One changeset: `targets` in, deleted modules out. None on success, else its diagnostics."""
        # The backplane runs one changeset at a time anyway; waiting here, not there, keeps the
        # start-up's concurrent deploys from being announced as slow while they merely queue.
        async with self._turn:
            serving = {d.module for d in self._backplane.deployments() if d.state in SERVING_STATES}
            removals = sorted(self._gone & serving)
            dirs = [self._modules[name].directory for name in sorted(targets)]
            fingerprints = {name: self._fingerprint_of(name) for name in targets}
            before = frozenset(d.key for d in self._backplane.deployments())
            self._deploying, self._deploy_slow = (frozenset(targets), before), False
            notice = asyncio.get_running_loop().call_later(self._slow_after, self._announce_slow, targets)
            try:
                outcome = await self._backplane.deploy(dirs, removals=removals, build=False)
            except FtlError as exc:
                return list(exc.diagnostics)
            finally:
                notice.cancel()
                self._deploying = None
        if outcome.state == FAILED_STATE:
            return list(outcome.diagnostics) or [Diagnostic("the changeset failed")]
        self._fingerprints.update(fingerprints)
        self._write_stubs(targets)
        if self._gone:
            self._forget_removed()
        return None

    def _importing(self) -> bool:
        """Whether the changeset in flight is still importing: none of its deployments exists."""
        if self._deploying is None:
            return False
        targets, before = self._deploying
        return not any(d.key not in before and d.module in targets for d in self._backplane.deployments())

    def _announce_slow(self, targets: set[str]) -> None:
        self._deploy_slow = True
        if self._attempt is not None:
            self._attempt.slow = True
        stage = "importing" if self._importing() else "deploying"
        message = f"still {stage} after {self._slow_after:g} s"
        queued = set(self._starting) - targets
        if queued and self._set_aside_importing(targets):
            # Start-up: the modules queued behind it go first; it is deployed again after them.
            message += f"; deploying {', '.join(sorted(queued))} first, then trying it again"
        self._report(DevEvent("slow", tuple(sorted(targets)), message=message))

    def _succeeded(self, names: set[str], since: float) -> None:
        if not names:
            return
        now = self._clock()
        reload_ms = max(0.0, (now - since) * 1000)
        live = {d.module: d for d in self._backplane.deployments() if d.state in SERVING_STATES}
        for name in names:
            current = live.get(name)
            previous = self.status.get(name)
            version = current.version if current else (previous.version + 1 if previous else 1)
            at = current.started_at if current else now
            self.status.deployed(name, version=version, at=at, reload_ms=reload_ms)
            self._pending.discard(name)
            self._broken.discard(name)
            self._held.discard(name)
            self._shown.pop(name, None)
        self._report(DevEvent("deployed", tuple(sorted(names)), duration_ms=reload_ms))

    def _blame(
        self, diagnostics: list[Diagnostic], targets: set[str], changed: set[str]
    ) -> dict[str, list[Diagnostic]]:
        """Each diagnostic under the module whose files it points into; the rest under the changed ones."""
        by_module: dict[str, list[Diagnostic]] = {}
        unplaced: list[Diagnostic] = []
        for diagnostic in diagnostics:
            owner = self._owner_of(diagnostic)
            if owner is None:
                unplaced.append(diagnostic)
            else:
                by_module.setdefault(owner, []).append(diagnostic)
        if unplaced:
            fallback = sorted((changed & targets) or targets)
            for name in fallback:
                by_module.setdefault(name, []).extend(unplaced)
        return by_module

    def _owner_of(self, diagnostic: Diagnostic) -> str | None:
        if diagnostic.pos is None or not diagnostic.pos.filename:
            return None
        path = Path(diagnostic.pos.filename)
        path = path if path.is_absolute() else (Path.cwd() / path)
        path = Path(os.path.normpath(path))
        owners = [m for m in self._modules.values() if path.is_relative_to(m.directory)]
        return max(owners, key=lambda m: len(m.directory.parts)).name if owners else None

    def _failed(self, names: set[str], blame: dict[str, list[Diagnostic]], changed: set[str]) -> None:
        """Mark `names` as not deployed; show each module's errors once per change."""
        to_show: list[Diagnostic] = []
        shown_for: list[str] = []
        waiting: list[tuple[str, str]] = []
        culprits = sorted(name for name in names if blame.get(name))
        # Saved and tried without errors of their own: whatever broke them before is fixed.
        held = sorted(name for name in names if not blame.get(name) and name in changed | self._held)
        self._broken -= set(held)
        self._held = (self._held - names) | set(held if culprits else ())
        broken = set(culprits) | self._broken
        for name in sorted(names):
            self._pending.add(name)
            diagnostics = blame.get(name)
            if not diagnostics:
                if name in held and culprits:
                    self.status.failed(name, f"not deployed: {', '.join(culprits)} failed")
                else:
                    self.status.unchanged(name)
                continue
            blockers = self._blockers(name, broken)
            if blockers:
                # Its errors are most likely the broken module's, seen from here: shown if they
                # remain once that one is fixed.
                self._broken.discard(name)
                note = f"waiting for {', '.join(blockers)}"
                self.status.failed(name, note)
                key = frozenset({Diagnostic(note)})
                if name in changed or self._shown.get(name) != key:
                    waiting.append((name, ", ".join(blockers)))
                self._shown[name] = key
                continue
            self._broken.add(name)
            relative = _relative([_deleted_reference(d, self._gone) for d in diagnostics])
            self.status.failed(name, str(relative[0]))
            key = frozenset(relative)
            if name in changed or self._shown.get(name) != key:
                to_show.extend(relative)
                shown_for.append(name)
            self._shown[name] = key
        if to_show or waiting:
            notes = [_still_serving(self.status, shown_for)]
            if held and culprits:
                serving = _still_serving(self.status, held)
                notes.append(f"{', '.join(held)} not deployed either" + (f": {serving}" if serving else ""))
            note = "; ".join(n for n in notes if n)
            shown = tuple(sorted_unique(to_show))
            self._report(DevEvent("failed", tuple(shown_for), shown, message=note, waiting=tuple(waiting)))

    def _blockers(self, name: str, broken: set[str]) -> list[str]:
        """The broken modules `name` imports, directly or not: the first ones in the chain."""
        found = (dependencies_of(self._graph, [name]) - {name}) & broken
        first = [b for b in found if not (dependencies_of(self._graph, [b]) - {b}) & broken]
        return sorted(first or found)

    def _show_failure(self, key: str, diagnostics: Sequence[Diagnostic], *, force: bool = False) -> None:
        """Project-level problems (a bad ftl.toml, ftl-project.toml): shown when new."""
        if not diagnostics:
            self._shown.pop(key, None)
            return
        shown = _relative(list(diagnostics))
        if force or self._shown.get(key) != frozenset(shown):
            self._report(DevEvent("failed", (), tuple(shown)))
        self._shown[key] = frozenset(shown)

    # -- modules added, removed, renamed -------------------------------------------------------

    async def _relayout(self) -> set[str]:
        """Reload the project file and find the modules again; returns the new, moved or renamed
        ones, those whose config changed and those importing a realm whose pin changed. Deleted
        modules are queued for removal."""
        project = self._reload_project()
        if project is None:
            return set()
        repinned = {pin.name for pin in set(project.realms) ^ set(self.project.realms)}
        self.project = project
        self._show_failure(REALMS_KEY, await self._backplane.set_project(project))
        old = self._modules
        new, problems = await self._rescan(project, old)
        self._show_failure(PROJECT_KEY, problems)
        unreadable = {n for n, info in new.items() if n in old and not _readable(info)} if problems else set()
        fixed = self._unreadable - unreadable
        self._unreadable = unreadable
        for name in sorted(unreadable):
            self.status.failed(name, f"its {MODULE_FILE} cannot be read")
        for name in sorted(set(new) - set(old)):
            self._report(DevEvent("added", (name,)))
        deleted = set(old) - set(new)
        # Their users are rebuilt with them gone: a module still calling one fails with a clear error.
        users = {user for name in deleted for user in dependents_of(self._graph, name)}
        self._gone = (self._gone | deleted) - set(new)
        self._pending -= deleted
        self._broken -= deleted
        self._held -= deleted
        self._set_modules(new.values())
        config, self._config = self._config, self._config_values(project)
        reconfigured = {name for name in new if config.get(name) != self._config.get(name)}
        if repinned:
            self._write_realm_stubs()
            realms = [r.name for r in self._backplane.external_realms()]
            remove_stale_stubs(project.root, self._modules, realms)
            users |= {name for name, info in self._modules.items() if repinned & set(_imported(info))}
        moved = {name for name, info in new.items() if old.get(name) != info}
        return moved | reconfigured | (users & set(new)) | (fixed & set(new))

    def _reload_project(self) -> Project | None:
        """The project file read again, with the realm that serves (renaming it takes a restart);
        None when it cannot be read. Shows what changed about it: an error, that it is fixed, a
        renamed realm, new warnings."""
        try:
            project = load_project(self.project.path)
        except FtlError as exc:
            self._show_failure(PROJECT_FILE_KEY, exc.diagnostics)
            return None
        if self._shown.pop(PROJECT_FILE_KEY, None) is not None:
            self._report(DevEvent("notice", message=f"{display_path(project.path)}: ok again"))
        if project.realm != self._realm_asked:
            self._realm_asked = project.realm
            if project.realm != self._realm:
                self._report(
                    DevEvent(
                        "notice",
                        message=f"{display_path(project.path)}: realm {project.realm!r} takes effect when"
                        f" `ftl dev` restarts (serving realm {self._realm!r} until then)",
                    )
                )
        warnings = frozenset(project.warnings)
        if warnings != self._warned:
            self._warned = warnings
            if warnings:
                self._report(DevEvent("warning", diagnostics=tuple(_relative(list(warnings)))))
        return replace(project, realm=self._realm)

    async def _rescan(
        self, project: Project, old: dict[str, ModuleInfo]
    ) -> tuple[dict[str, ModuleInfo], list[Diagnostic]]:
        """The modules on disk (with those that served and are still there when the layout does
        not make sense), watched. A scan made before its watch was in place is made again until
        nothing changed meanwhile: a directory that just appeared is watched only from then on."""
        new, problems = _scan(project, old)
        if self._watcher is None:
            return new, problems
        for _ in range(RESCANS):
            before = _watched(self._watcher.plan)
            plan = self._plan(new.values())
            await self._watcher.replan(plan)
            if _watched(plan) <= before:
                return new, problems
            again, problems = _scan(project, old)
            if again == new:
                return new, problems
            new = again
        await self._watcher.replan(self._plan(new.values()))
        return new, problems

    def _config_values(self, project: Project) -> dict[str, dict[str, Any]]:
        """The config values each module's runner is given (`[config]` overlaid with its own table)."""
        try:
            values = {name: values_for(project, "config", name) for name in self._modules}
        except FtlError as exc:
            self._show_failure(CONFIG_KEY, exc.diagnostics)
            return self._config
        self._show_failure(CONFIG_KEY, [])
        return values

    async def _secrets_changed(self, *, replan: bool) -> set[str]:
        """The modules whose secret values are not the ones they were given. With `replan`, the
        state directory may have come or gone: the watch on it follows."""
        if replan and self._watcher is not None:
            await self._watcher.replan(self._plan())
        unreadable = SECRETS_KEY in self._shown
        before, self._secrets = self._secrets, self._secret_fingerprints()
        changed = {name for name in self._modules if before.get(name) != self._secrets.get(name)}
        if unreadable and SECRETS_KEY not in self._shown:
            # Deploys failed while the file could not be read: retry them now that it can be.
            changed |= self._pending & set(self._modules)
        return changed

    def _secret_fingerprints(self) -> dict[str, str]:
        """A digest of each module's secret values: enough to tell a change, never shown."""
        try:
            values = {name: values_for(self.project, "secret", name) for name in self._modules}
        except FtlError as exc:
            self._show_failure(SECRETS_KEY, exc.diagnostics)
            return self._secrets
        self._show_failure(SECRETS_KEY, [])
        return {name: _fingerprint(secrets) for name, secrets in values.items()}

    def _forget_removed(self) -> None:
        """After a changeset went through, the deleted modules it removed are gone for good."""
        serving = {d.module for d in self._backplane.deployments() if d.state in SERVING_STATES}
        removed = sorted(self._gone - serving)
        self._gone -= set(removed)
        for name in removed:
            self.status.removed(name)
            self._shown.pop(name, None)
            self._broken.discard(name)
        if removed:
            realms = [r.name for r in self._backplane.external_realms()]
            remove_stale_stubs(self.project.root, self._modules, realms)
            self._report(DevEvent("removed", tuple(removed)))

    # -- generated clients ---------------------------------------------------------------------

    def _write_stubs(self, names: Iterable[str]) -> None:
        """Clients of freshly deployed modules, from the schemas their runners reported."""
        realm = self._backplane.schema().realm(self.project.realm)
        for name in names:
            module = realm.module(name) if realm is not None else None
            if module is not None:
                write_module_stub(self.project.root, module)

    def _write_realm_stubs(self) -> None:
        for realm in self._backplane.external_realms():
            write_realm_stubs(self.project.root, realm)

    def _set_modules(self, infos: Iterable[ModuleInfo]) -> None:
        self._modules = {info.name: _resolved(info) for info in infos}
        self._graph = {name: _imports(info, self._modules) for name, info in self._modules.items()}
        for name in self._modules:
            self.status.discovered(name)

    def _plan(self, modules: Iterable[ModuleInfo] | None = None) -> WatchPlan:
        infos = self._modules.values() if modules is None else modules
        watched = [WatchedModule(m.name, m.directory, m.watch) for m in infos]
        secrets = self.project.state_dir / SECRETS_FILE
        return make_plan(self.project.root, self.project.module_roots(), watched, secrets=secrets)

    # -- runner crashes and logs ---------------------------------------------------------------

    async def _follow_runtime(self, events: AsyncIterator[TimelineEvent]) -> None:
        async for event in events:
            self.runtime_event(event)

    def runtime_event(self, event: TimelineEvent) -> None:
        """A timeline event from the backplane: user logs, and runner crashes and restarts (told
        apart by `data["runner"]`, see `ftl.devserver.backplane`)."""
        if event.kind == "log":
            self._report(DevEvent("log", (event.module,), message=event.message, level=event.level))
            return
        if event.kind == "call":
            self._call_failed(event)
            return
        deployment = str(event.data.get("deployment", ""))
        serving = {d.key for d in self._backplane.deployments() if d.state in SERVING_STATES}
        if event.kind != "deployment" or event.module not in self._modules or deployment not in serving:
            return
        runner = event.data.get("runner")
        if runner == "crashed":
            tail = str(event.data.get("stderr", "")).rstrip()
            self.status.crashed(event.module, event.message)
            message = f"{event.message}\n{tail}" if tail else event.message
            self._report(DevEvent("crashed", (event.module,), message=message, level="error"))
        elif runner == "restarted":
            self.status.recovered(event.module)
            self._report(DevEvent("restarted", (event.module,), message=event.message))

    def _call_failed(self, event: TimelineEvent) -> None:
        """A verb that raised, once per request (a call it made shares its request id)."""
        if event.level != "error" or event.data.get("error_kind") != "verb_error":
            return
        request = event.request_id or f"#{event.id}"
        if request in self._calls_shown:
            return
        self._calls_shown[request] = None
        if len(self._calls_shown) > MAX_CALLS_REMEMBERED:
            del self._calls_shown[next(iter(self._calls_shown))]
        lines = verb_failure_lines(event, self.project.root)
        self._report(DevEvent("call", (event.module,), message="\n".join(lines), level="error"))


# -- helpers -----------------------------------------------------------------------------------


async def _cancelled(task: asyncio.Future[Any]) -> bool:
    """Cancel `task` and wait for it to end; whether it ended cancelled (not done already)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return task.cancelled()


_UNKNOWN_REFERENCE = re.compile(r'^unknown reference "(?P<module>[A-Za-z_]\w*)\.(?P<name>[^"]+)"')


def _deleted_reference(diagnostic: Diagnostic, deleted: set[str]) -> Diagnostic:
    """An unknown reference to a module deleted from disk, said as such: the module keeps
    serving (its removal waits) until nothing uses it."""
    match = _UNKNOWN_REFERENCE.match(diagnostic.message)
    if match is None or match["module"] not in deleted:
        return diagnostic
    module = match["module"]
    message = (
        f"{module}.{match['name']}: module {module} was deleted but is still used here "
        f"({module} keeps serving until nothing uses it)"
    )
    return replace(diagnostic, message=message)


def _still_serving(status: DevStatus, names: Iterable[str]) -> str:
    """`orders v2, billing v1 still serving`, for those of `names` that serve (else "")."""
    rows = [row for row in map(status.get, names) if row is not None and row.serving]
    return ", ".join(f"{row.name} v{row.version}" for row in rows) + " still serving" if rows else ""


def _still_there(info: ModuleInfo) -> bool:
    """Whether the module's directory still holds an ftl.toml that names it (or one that cannot be
    read, which is shown as an error of its own: the module is not deleted for it)."""
    if not (info.directory / MODULE_FILE).is_file():
        return False
    try:
        return read_module_file(info.directory).name == info.name
    except FtlError:
        return True


def _watched(plan: WatchPlan) -> set[tuple[Path, bool]]:
    """Every directory the plan watches, and whether recursively."""
    return {(p, True) for p in plan.recursive_paths()} | {(p, False) for p in plan.flat_paths()}


def _readable(info: ModuleInfo) -> bool:
    try:
        read_module_file(info.directory)
    except FtlError:
        return False
    return True


def _scan(project: Project, old: dict[str, ModuleInfo]) -> tuple[dict[str, ModuleInfo], list[Diagnostic]]:
    """The project's modules by name, and the problems met finding them."""
    infos, problems = scan_modules(project)
    new = {info.name: _resolved(info) for info in infos}
    if problems:
        # A layout that does not make sense takes nothing down: what served and is still there
        # keeps serving until the problem is fixed.
        new |= {name: info for name, info in old.items() if name not in new and _still_there(info)}
    return new, problems


def _resolved(info: ModuleInfo) -> ModuleInfo:
    return replace(info, directory=info.directory.resolve())


def _imports(info: ModuleInfo, modules: dict[str, ModuleInfo]) -> dict[str, Any]:
    return {dep: pos for dep, pos in _imported(info).items() if dep in modules and dep != info.name}


def _imported(info: ModuleInfo) -> dict[str, Any]:
    """Every `ftl_modules.X` the module's sources import now (modules and external realms alike)."""
    recheck_sources(info.directory / info.package)  # a same-size save can keep a cached file's stat
    return module_imports(info)


def _split_cycles(graph: Graph) -> tuple[list[str], list[str]]:
    """(modules that can be ordered, modules on or behind a dependency cycle)."""
    waiting = {name: {d for d in deps if d in graph} for name, deps in graph.items()}
    ordered: list[str] = []
    ready = sorted(name for name, deps in waiting.items() if not deps)
    while ready:
        name = ready.pop()
        ordered.append(name)
        for other, deps in waiting.items():
            if name in deps:
                deps.discard(name)
                if not deps:
                    ready.append(other)
    return ordered, sorted(set(graph) - set(ordered))


def _saved_at(paths: Iterable[Path], arrived: float | None, now: float) -> float:
    """When the newest changed file was written: reload time counts from the save, not the event.

    An mtime older than the batch's events (a file copied with its times, a directory moved) or
    in the future says nothing about the change: then it counts from the events' arrival.
    """
    stamps = []
    for path in paths:
        with contextlib.suppress(OSError):
            stamps.append(path.stat().st_mtime)
    fallback = arrived if arrived is not None else now
    if not stamps:
        return fallback
    newest = max(stamps)
    if newest > now or (arrived is not None and newest < arrived - MTIME_LEEWAY_S):
        return fallback
    return newest


def _fingerprint(values: dict[str, Any]) -> str:
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _relative(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """File names relative to the current directory, as every `ftl` error prints them."""
    result = []
    for diagnostic in sorted_unique(diagnostics):
        pos = diagnostic.pos
        if pos is not None and pos.filename and os.path.isabs(pos.filename):
            with contextlib.suppress(ValueError):
                pos = pos.with_filename(os.path.relpath(pos.filename))
        result.append(Diagnostic(diagnostic.message, pos))
    return sorted_unique(result)


# -- `ftl dev` as a whole ----------------------------------------------------------------------


async def run_dev(
    project: Project,
    report: Callable[[DevEvent], None],
    on_ready: Callable[[ServerUrls], None],
    *,
    options: ServeOptions | None = None,
    status: DevStatus | None = None,
    console: bool = True,
) -> None:
    """Serve `project` with hot reload until SIGINT/SIGTERM, then stop everything it started.

    `on_ready` gets the bound URLs as soon as the servers listen (before the first deploy ends).
    `console=False` serves the admin API without the web console's pages.
    """
    from ftl.devserver.console import server_console_routes
    from ftl.devserver.server import DevServer

    pages = server_console_routes if console else None
    server = DevServer(project, realm=project.realm, options=options, admin_extra_routes=pages)
    loop = DevLoop(project, server.backplane, report, status=status, timeline=server.timeline)
    event_loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            event_loop.add_signal_handler(sig, server.request_stop)
            handled.append(sig)
    running: asyncio.Task[None] | None = None
    try:
        await server.start()
        on_ready(server.urls)
        running = asyncio.create_task(loop.run())
        stopped = asyncio.create_task(server.wait_stopped())
        done, _ = await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if running in done:
            running.result()
    finally:
        if running is not None:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        await loop.close()
        await server.stop()
        for sig in handled:
            event_loop.remove_signal_handler(sig)
