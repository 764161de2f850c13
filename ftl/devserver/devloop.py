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
values changed, and nothing else: their schema is the same, so no importer needs rebuilding.

An edit confined to function bodies (`interface_fingerprint` unchanged) most likely keeps the
module's client as it is: the module is deployed without the serving modules importing it, and
those follow in a changeset of their own only when the client its runner reported did change
after all. If it goes wrong where they are, they are deployed with it, to show their own errors.

A failed changeset leaves the old versions serving; its error is shown once per change, and the
failed modules are retried when their files or their dependencies change. If a module that
failed earlier (and was not edited since) is what sinks a changeset, the changeset is tried again
without it, so an unrelated edit still goes live.

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

The loop's parts: `dev_events` (what it reports), `dev_backplane` (what it needs from the
backplane), `dev_failures` (how failures are placed and shown), `dev_layout` (the modules on
disk), `dev_project_file` (the project file read again), `dev_values` (config and secret values
given) and `dev_runtime` (logs, crashes and failed calls of the runners).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftl.build.discover import ModuleInfo, scan_modules
from ftl.build.graph import Graph, dependencies_of, dependents_of, interface_fingerprint
from ftl.build.watcher import Changes, ProjectWatcher
from ftl.devserver.dev_backplane import FAILED_STATE, SERVING_STATES, Deployer, serving_modules
from ftl.devserver.dev_clients import (
    live_client,
    remove_stale_clients,
    write_module_clients,
    write_realm_clients,
)
from ftl.devserver.dev_events import DevEvent
from ftl.devserver.dev_failures import PROJECT_KEY, REALMS_KEY, SECRETS_KEY, Failures, blame, owner_of
from ftl.devserver.dev_layout import (
    imports_among,
    readable,
    rescan,
    resolved,
    source_imports,
    split_cycles,
    watch_plan,
)
from ftl.devserver.dev_project_file import ProjectFileReloader
from ftl.devserver.dev_runtime import RuntimeReporter
from ftl.devserver.dev_values import GivenValues
from ftl.devserver.status import DevStatus
from ftl.devserver.timeline import Timeline, TimelineEvent
from ftl.errors import Diagnostic, FtlError
from ftl.project import Project
from ftl.runtime.extract import MODULE_FILE

SLOW_AFTER_S = 5.0  # a changeset still importing after this long is announced (and may yield)
# A save's mtime precedes the arrival of its event by the watcher's debounce at most (and a coarse
# clock tick); an older mtime is a copied or moved file's, not the time of the change.
MTIME_LEEWAY_S = 0.25


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
        self._failures = Failures(self.status, report)
        self._values = GivenValues(self._failures)
        self._project_file = ProjectFileReloader(project, self._failures, report)
        self._runtime = RuntimeReporter(backplane, self.status, report, project.root)
        self._unreadable: set[str] = set()  # modules kept serving while their ftl.toml cannot be read
        self._fingerprints: dict[str, str | None] = {}  # interface fingerprint of what serves
        self._attempt: _Attempt | None = None  # the changeset being deployed
        self._deploying: tuple[frozenset[str], frozenset[str]] | None = None  # (targets, keys before)
        self._deploy_slow = False  # the changeset in flight was announced as slow
        self._deferred: frozenset[str] = frozenset()  # left out of changesets until tried again
        self._starting: dict[str, asyncio.Future[bool]] = {}  # start-up deploys in flight, by module
        self._set_aside: set[str] = set()  # start-up deploys cancelled while importing: deployed later
        self._early: Changes | None = None  # saved during start-up, for `follow` to apply
        self._turn = asyncio.Lock()  # one changeset in flight at a time
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
        self._failures.show_problems(PROJECT_KEY, problems, force=True)
        self._failures.show_problems(REALMS_KEY, self._backplane.realm_problems(), force=True)
        self._set_modules(infos)
        self._values.read_config(self.project, self._modules)
        self._watcher = ProjectWatcher(watch_plan(self.project, self._modules.values()))
        await self._watcher.start()
        # Read after the watch is in place: a later `ftl secret set` is seen as a change.
        self._values.read_secrets(self.project, self._modules)
        if self._timeline is not None:
            streams = [self._timeline.stream(kind) for kind in ("deployment", "log")]
            # Failed calls only: following every call would put `ftl dev` on the calls' hot path.
            streams.append(self._timeline.stream("call", level="error"))
            for events in streams:
                self._tasks.append(asyncio.create_task(self._follow_runtime(events)))
        write_realm_clients(self._backplane, self.project)
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
        acyclic, cyclic = split_cycles(self._graph)
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
            self._graph[name] = imports_among(self._modules[name], self._modules)
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
        clients = (
            {name: live_client(self._backplane, self.project, name) for name in first} if followers else {}
        )
        for name in first:
            self.status.building(name)
        diagnostics = await self._deploy(first)
        if diagnostics is None:
            self._succeeded(first, since)
            reshaped = {
                name
                for name, client in clients.items()
                if live_client(self._backplane, self.project, name) != client
            }
            users = followers & {user for name in reshaped for user in dependents_of(self._graph, name)}
            if not users:
                return True
            # Its client changed after all: what imports it follows, on the one that now serves.
            return await self._settle(users, None, changed, since, False, set(self._pending))
        if followers and any(owner_of(d, self._modules.values()) not in first for d in diagnostics):
            # Maybe the modules importing it do not fit its new interface: deploy them with it, so
            # that the errors shown are the ones they meet building against it.
            return await self._settle(targets, None, changed, since, include_pending, pending_before)
        return await self._settle(first, diagnostics, changed, since, include_pending, pending_before)

    def _followers(self, targets: set[str], changed: set[str]) -> set[str]:
        """The modules of `targets` that are there only as importers of modules whose edit kept
        their interface (as far as their sources tell): they serve their current sources, and
        follow only if a client they import changes after all."""
        serving = serving_modules(self._backplane)
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
        blamed = blame(diagnostics, targets, changed, self._modules.values())
        stale = {name for name in blamed if name in pending_before and name not in changed}
        retry = (
            self._targets(changed, include_pending=include_pending, without=stale) & targets
            if stale
            else set()
        )
        if retry:
            diagnostics = await self._deploy(retry)
            if diagnostics is None:
                self._succeeded(retry, since)
                self._failed(targets - retry, blamed, changed)
                return False
            # Outside the retry, the first attempt's errors are the ones met building the new
            # sources (the retry's only say that the versions serving do not fit them).
            blamed = blame(diagnostics, retry, changed, self._modules.values()) | {
                n: d for n, d in blamed.items() if n not in retry
            }
        self._failed(targets | (set(blamed) & set(self._modules)), blamed, changed)
        return False

    async def _deploy(self, targets: set[str]) -> list[Diagnostic] | None:
        """One changeset: `targets` in, deleted modules out. None on success, else its diagnostics."""
        # The backplane runs one changeset at a time anyway; waiting here, not there, keeps the
        # start-up's concurrent deploys from being announced as slow while they merely queue.
        async with self._turn:
            serving = serving_modules(self._backplane)
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
        write_module_clients(self._backplane, self.project, targets)
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
        self._failures.deployed(names)
        self._report(DevEvent("deployed", tuple(sorted(names)), duration_ms=reload_ms))

    def _failed(self, names: set[str], blamed: dict[str, list[Diagnostic]], changed: set[str]) -> None:
        """Mark `names` as not deployed; show each module's errors once per change."""
        self._pending |= names
        self._failures.failed(names, blamed, changed, self._graph, self._gone)

    # -- modules added, removed, renamed -------------------------------------------------------

    async def _relayout(self) -> set[str]:
        """Reload the project file and find the modules again; returns the new, moved or renamed
        ones, those whose config changed and those importing a realm whose pin changed. Deleted
        modules are queued for removal."""
        project = self._project_file.reload(self.project.path)
        if project is None:
            return set()
        repinned = {pin.name for pin in set(project.realms) ^ set(self.project.realms)}
        self.project = project
        self._failures.show_problems(REALMS_KEY, await self._backplane.set_project(project))
        old = self._modules
        new, problems = await rescan(project, old, self._watcher)
        self._failures.show_problems(PROJECT_KEY, problems)
        unreadable = {n for n, info in new.items() if n in old and not readable(info)} if problems else set()
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
        self._failures.deleted(deleted)
        self._set_modules(new.values())
        reconfigured = self._values.read_config(project, self._modules)
        if repinned:
            write_realm_clients(self._backplane, self.project)
            remove_stale_clients(self._backplane, project, self._modules)
            users |= {name for name, info in self._modules.items() if repinned & set(source_imports(info))}
        moved = {name for name, info in new.items() if old.get(name) != info}
        return moved | reconfigured | (users & set(new)) | (fixed & set(new))

    async def _secrets_changed(self, *, replan: bool) -> set[str]:
        """The modules whose secret values are not the ones they were given. With `replan`, the
        state directory may have come or gone: the watch on it follows."""
        if replan and self._watcher is not None:
            await self._watcher.replan(watch_plan(self.project, self._modules.values()))
        unreadable = self._failures.showing(SECRETS_KEY)
        changed = self._values.read_secrets(self.project, self._modules)
        if unreadable and not self._failures.showing(SECRETS_KEY):
            # Deploys failed while the file could not be read: retry them now that it can be.
            changed |= self._pending & set(self._modules)
        return changed

    def _forget_removed(self) -> None:
        """After a changeset went through, the deleted modules it removed are gone for good."""
        removed = sorted(self._gone - serving_modules(self._backplane))
        self._gone -= set(removed)
        for name in removed:
            self.status.removed(name)
            self._failures.removed(name)
        if removed:
            remove_stale_clients(self._backplane, self.project, self._modules)
            self._report(DevEvent("removed", tuple(removed)))

    def _set_modules(self, infos: Iterable[ModuleInfo]) -> None:
        self._modules = {info.name: resolved(info) for info in infos}
        self._graph = {name: imports_among(info, self._modules) for name, info in self._modules.items()}
        for name in self._modules:
            self.status.discovered(name)

    # -- runner crashes and logs ---------------------------------------------------------------

    async def _follow_runtime(self, events: AsyncIterator[TimelineEvent]) -> None:
        async for event in events:
            self.runtime_event(event)

    def runtime_event(self, event: TimelineEvent) -> None:
        """A timeline event from the backplane, shown if it is about a module of the project."""
        self._runtime.show(event, self._modules)


# -- helpers -----------------------------------------------------------------------------------


async def _cancelled(task: asyncio.Future[Any]) -> bool:
    """Cancel `task` and wait for it to end; whether it ended cancelled (not done already)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return task.cancelled()


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
