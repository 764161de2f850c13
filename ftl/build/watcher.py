"""Watching a project's sources: which modules changed, and whether the module layout did.

The watch set is narrow on purpose: each module directory recursively, and the project root and
each `module-dirs` root flat (a new or removed module dir, `ftl-project.toml`). Watching the
project root recursively would walk `.venv/` and friends into thousands of inotify watches.
Of the state directory `.ftl/` only the secrets file counts (`ftl secret set` while `ftl dev`
runs): its directory is watched flat once it exists, and every other file in it is ignored.

watchfiles' default debounce (1.6 s) would eat the whole hot-reload budget, so batches are
yielded after `step_ms` of quiet, and at most `debounce_ms` after the first event of a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path, PurePosixPath

from watchfiles import Change, awatch

PROJECT_FILE = "ftl-project.toml"
MODULE_FILE = "ftl.toml"
DEFAULT_WATCH = ("**/*.py", "**/*.pyi")

DEBOUNCE_MS = 50
STEP_MS = 10

IGNORED_DIRS = frozenset(
    {
        ".ftl",
        "__pycache__",
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".idea",
        ".vscode",
    }
)

# Editor swap/backup/atomic-save files and compiled files: never a reason to redeploy.
_IGNORED_NAME = re.compile(
    r"""
      \.py[cod]$ | \.sw[a-p]$ | \.swp[a-z]?$ | ~$ | ^\.\# | ^\#.*\#$ | ^4913$ | \.tmp$ | \.temp$
    | \.___jb_...___$ | ^\.DS_Store$ | ^flycheck_ | \.kate-swp$ | ^\.goutputstream- | \.crswap$
    | \.egg-info$
    """,
    re.VERBOSE,
)


# What the runner never imports of a module (as `ftl.runtime.loader` skips it): tests.
TEST_DIRS = frozenset({"tests", "test"})


def is_test_file(relative: PurePosixPath) -> bool:
    """True for a module's tests: under a `tests/` or `test/` dir, `test_*.py`, `conftest.py`."""
    name = relative.name
    in_test_dir = any(part in TEST_DIRS for part in relative.parts[:-1])
    return in_test_dir or name == "conftest.py" or (name.startswith("test_") and name.endswith(".py"))


def is_ignored(path: PurePosixPath | Path) -> bool:
    """True for paths inside caches, VCS and state dirs, and for editor temp files."""
    parts = path.parts
    if any(part in IGNORED_DIRS or part.endswith(".egg-info") for part in parts[:-1]):
        return True
    name = parts[-1] if parts else ""
    return name in IGNORED_DIRS or bool(_IGNORED_NAME.search(name))


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A `watch` glob as a regex over `/`-separated relative paths.

    `*` and `?` stay within one path segment, `**` spans any number of segments (including none),
    `[...]` is a character class (`[!...]` negated).
    """
    segments = pattern.strip().removeprefix("./").lstrip("/").split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        out.append(_segment_regex(segment))
        if not last:
            out.append("/")
    return re.compile("".join(out) + r"\Z")


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := segment.find("]", i + 2)) != -1:
            body = segment[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def matches_any(relative: PurePosixPath, globs: Sequence[str]) -> bool:
    text = relative.as_posix()
    return any(glob_regex(g).match(text) for g in globs)


@dataclass(frozen=True, slots=True)
class WatchedModule:
    name: str
    directory: Path
    globs: tuple[str, ...] = DEFAULT_WATCH


@dataclass(frozen=True, slots=True)
class WatchPlan:
    """What to watch. Build it with `make_plan`.

    `flat_dirs`: the project root, the `module-dirs` roots and the plain directories right under
    them (where a new module's `ftl.toml` may appear later), watched without recursion.
    `secrets`: the secrets file; its directory is watched without recursion while it exists.
    `unfinished`: directories with an `ftl.toml` that are no module yet (no package beside it):
    watched with recursion, so that the package being written in them is noticed.
    """

    root: Path
    module_roots: tuple[Path, ...]
    modules: tuple[WatchedModule, ...]
    flat_dirs: frozenset[Path] = frozenset()
    secrets: Path | None = None
    unfinished: frozenset[Path] = frozenset()

    def recursive_paths(self) -> list[Path]:
        return sorted({m.directory for m in self.modules if m.directory.is_dir()})

    def flat_paths(self) -> list[Path]:
        return sorted(p for p in self.flat_dirs if p.is_dir())

    def watch_sets(self) -> list[WatchSet]:
        """The OS watches this plan needs now, one per group of paths watched alike."""
        sets = [
            WatchSet(tuple(self.recursive_paths()), recursive=True),
            WatchSet(tuple(self.flat_paths()), recursive=False),
        ]
        # Each its own watch: one deleted (a copy removed again) must not stop the modules' watch.
        sets += [
            WatchSet((d,), recursive=True, on_failure=d / MODULE_FILE)
            for d in sorted(self.unfinished)
            if d.is_dir()
        ]
        if self.secrets is not None and self.secrets.parent.is_dir():
            # Its own watch: the state dir comes and goes (`rm -rf .ftl`) without disturbing the others.
            sets.append(WatchSet((self.secrets.parent,), recursive=False, on_failure=self.secrets))
        return [s for s in sets if s.paths]


@dataclass(frozen=True, slots=True)
class WatchSet:
    """Paths watched by one OS watcher. When the watch breaks, a change of `on_failure` is reported
    (by default the project file: a layout change, so that the consumer replans)."""

    paths: tuple[Path, ...]
    recursive: bool
    on_failure: Path | None = None


def make_plan(
    root: Path,
    module_roots: Iterable[Path],
    modules: Iterable[WatchedModule],
    *,
    secrets: Path | None = None,
) -> WatchPlan:
    """`secrets`: the secrets file to watch (`.ftl/secrets.toml`), if any; it need not exist yet."""
    root = root.resolve()
    module_roots = tuple(r.resolve() for r in module_roots)
    modules = tuple(WatchedModule(m.name, m.directory.resolve(), m.globs or DEFAULT_WATCH) for m in modules)
    module_dirs = {m.directory for m in modules}
    flat = {root, *module_roots}
    for module_root in module_roots:
        with contextlib.suppress(OSError):
            flat.update(
                child
                for child in module_root.iterdir()
                if child.is_dir() and child not in module_dirs and not is_ignored(PurePosixPath(child.name))
            )
    unfinished = frozenset(d for d in flat - {root, *module_roots} if (d / MODULE_FILE).is_file())
    # Only the directory is resolved: a symlinked secrets file still changes under its own name.
    secrets = secrets.parent.resolve() / secrets.name if secrets is not None else None
    return WatchPlan(root, module_roots, modules, frozenset(flat), secrets, unfinished)


@dataclass(frozen=True, slots=True)
class Changes:
    """One debounced batch, classified.

    `modules`: modules with a changed source file that their `watch` globs select (not their tests).
    `layout`: `ftl-project.toml`, an `ftl.toml`, or a directory under a module root changed, so
    modules may have been added, removed or renamed: discover them again.
    `secrets`: the secrets file (or the state directory holding it) changed: read the values again.
    `arrived`: when the watcher received the batch's first events (unix seconds), if known.
    """

    modules: frozenset[str] = frozenset()
    layout: bool = False
    paths: tuple[Path, ...] = field(default=(), compare=False)
    secrets: bool = field(default=False, kw_only=True)
    arrived: float | None = field(default=None, compare=False, kw_only=True)

    def __bool__(self) -> bool:
        return bool(self.modules) or self.layout or self.secrets

    def merge(self, other: Changes) -> Changes:
        paths = tuple(sorted(set(self.paths) | set(other.paths)))
        stamps = [t for t in (self.arrived, other.arrived) if t is not None]
        return Changes(
            self.modules | other.modules,
            self.layout or other.layout,
            paths,
            secrets=self.secrets or other.secrets,
            arrived=min(stamps) if stamps else None,
        )


def classify(events: Iterable[tuple[Change, str]], plan: WatchPlan) -> Changes:
    """Which modules a batch of raw file events touches, whether the layout or the secrets changed."""
    modules: set[str] = set()
    layout = secrets = False
    paths: list[Path] = []
    for change, raw in events:
        path = Path(raw)
        relevant = False
        owner = _owner(path, plan.modules)
        if plan.secrets is not None and path == plan.secrets:
            secrets = relevant = True
        elif plan.secrets is not None and path == plan.secrets.parent:
            # The state dir appeared or vanished: start or drop its watch, and read the file again
            # (it may have been written before the watch was in place).
            secrets = relevant = change == Change.deleted or path.is_dir()
        elif owner is not None:
            relative = PurePosixPath(path.relative_to(owner.directory).as_posix())
            if relative.as_posix() == MODULE_FILE:
                layout = relevant = True
            elif _redeploys(relative, owner.globs):
                modules.add(owner.name)
                relevant = True
        elif path.name == PROJECT_FILE and path.parent == plan.root:
            layout = relevant = True
        elif _in_unfinished(path, plan) and not is_ignored(PurePosixPath(path.name)):
            layout = relevant = True  # maybe the last piece of a module being written
        elif path.parent in plan.flat_dirs and not is_ignored(PurePosixPath(path.name)):
            # A module's ftl.toml appeared, a directory (maybe a module) appeared under a module
            # root, or a known directory vanished.
            known = path in plan.flat_dirs or any(m.directory == path for m in plan.modules)
            if path.name == MODULE_FILE or known or (change != Change.deleted and path.is_dir()):
                layout = relevant = True
        elif _unplanned(path, plan):
            # From a watch the plan has moved past (a directory renamed, or one that appeared
            # while the plan was being made): the layout may have changed, so look again.
            layout = relevant = True
        if relevant:
            paths.append(path)
    return Changes(frozenset(modules), layout, tuple(sorted(set(paths))), secrets=secrets)


def _redeploys(relative: PurePosixPath, globs: Sequence[str]) -> bool:
    """Whether a change of this file of a module changes what its runner imports. Tests count
    only when a `watch` glob names them itself."""
    if is_ignored(relative) or not matches_any(relative, globs):
        return False
    named = [glob for glob in globs if glob not in DEFAULT_WATCH]
    return not is_test_file(relative) or matches_any(relative, named)


def _in_unfinished(path: Path, plan: WatchPlan) -> bool:
    return any(path != d and path.is_relative_to(d) for d in plan.unfinished)


def _unplanned(path: Path, plan: WatchPlan) -> bool:
    """Whether `path` lies under the project or a module root but in no place the plan watches."""
    for root in (plan.root, *plan.module_roots):
        if path != root and path.is_relative_to(root):
            return not is_ignored(PurePosixPath(path.relative_to(root).as_posix()))
    return False


def _owner(path: Path, modules: Sequence[WatchedModule]) -> WatchedModule | None:
    """The innermost module directory that contains `path` (modules may nest)."""
    best: WatchedModule | None = None
    for module in modules:
        inside = path != module.directory and path.is_relative_to(module.directory)
        if inside and (best is None or len(module.directory.parts) > len(best.directory.parts)):
            best = module
    return best


def _watch_filter(_change: Change, path: str) -> bool:
    # A cheap first cut on the file name only: `classify` judges paths relative to their module.
    name = path.rpartition("/")[2]
    return not _IGNORED_NAME.search(name) and "/__pycache__" not in path


def modified_since(watch: WatchSet, since: float) -> list[Path]:
    """The files under `watch`'s paths (and, watched flat, the directories right in them), not in
    ignored places, changed at or after `since`: what a watch not running then may have missed."""
    found: list[Path] = []
    for root in watch.paths:
        for directory, dirs, files in os.walk(root):
            names = files if watch.recursive else [*files, *dirs]
            dirs[:] = [d for d in dirs if not is_ignored(PurePosixPath(d))] if watch.recursive else []
            for name in names:
                path = Path(directory, name)
                with contextlib.suppress(OSError):
                    if not is_ignored(PurePosixPath(name)) and path.stat().st_mtime >= since:
                        found.append(path)
    return found


@dataclass(frozen=True, slots=True)
class _Pump:
    task: asyncio.Task[None]
    stop: asyncio.Event


class ProjectWatcher:
    """Debounced, classified change batches for a `WatchPlan`; `replan()` swaps the watch set.

    Use as `async with ProjectWatcher(plan) as watcher: async for changes in watcher: ...`.
    Events that arrive while the consumer is busy are merged into the next batch it reads.
    Each `WatchSet` of the plan has its own OS watcher, and `replan()` starts and stops only the
    ones whose paths changed, so the others never miss an event. A watch stopped (or broken) and
    started again cannot have seen what changed in between: files modified since it went away
    are reported when it is back.
    """

    def __init__(self, plan: WatchPlan, *, debounce_ms: int = DEBOUNCE_MS, step_ms: int = STEP_MS) -> None:
        self._plan = plan
        self._debounce_ms = debounce_ms
        self._step_ms = step_ms
        self._raw: asyncio.Queue[tuple[float, set[tuple[Change, str]]]] = asyncio.Queue()  # (arrived, events)
        self._pumps: dict[WatchSet, _Pump] = {}  # a watch that failed is dropped, so replan restarts it
        self._unwatched_since: float | None = None  # when a watch last went away (stopped or broke)

    @property
    def plan(self) -> WatchPlan:
        return self._plan

    async def start(self) -> None:
        await self._watch(self._plan.watch_sets())

    async def replan(self, plan: WatchPlan) -> None:
        self._plan = plan
        await self._watch(plan.watch_sets())

    async def close(self) -> None:
        await self._stop(list(self._pumps))

    async def __aenter__(self) -> ProjectWatcher:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[Changes]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[Changes]:
        while True:
            changes = self._classify(*await self._raw.get())
            changes = changes.merge(self.drain())
            if changes:
                yield changes

    def drain(self) -> Changes:
        """Everything that arrived and was not read yet, classified, without waiting."""
        merged = Changes()
        while not self._raw.empty():
            merged = merged.merge(self._classify(*self._raw.get_nowait()))
        return merged

    def _classify(self, arrived: float, events: set[tuple[Change, str]]) -> Changes:
        return replace(classify(events, self._plan), arrived=arrived)

    async def _watch(self, wanted: Sequence[WatchSet]) -> None:
        """Stop the watches no longer wanted, start the missing ones."""
        await self._stop([watch for watch in self._pumps if watch not in wanted])
        fresh = [watch for watch in wanted if watch not in self._pumps]
        for watch in fresh:
            stop = asyncio.Event()
            self._pumps[watch] = _Pump(asyncio.create_task(self._pump(watch, stop)), stop)
        if fresh:
            # Each pump sets up its OS watches synchronously in its first step: let that step run
            # so that a file written right after start() or replan() is seen.
            await asyncio.sleep(0)
            since, self._unwatched_since = self._unwatched_since, None
            if since is not None:
                missed = {
                    (Change.modified, str(path)) for watch in fresh for path in modified_since(watch, since)
                }
                if missed:
                    self._raw.put_nowait((time.time(), missed))

    def _unwatched(self) -> None:
        went = time.time()
        self._unwatched_since = went if self._unwatched_since is None else min(self._unwatched_since, went)

    async def _stop(self, watches: Sequence[WatchSet]) -> None:
        pumps = [self._pumps.pop(watch) for watch in watches]
        if pumps:
            self._unwatched()
        for pump in pumps:
            # Its own event: awatch sets the event it was given when cancelled, which would
            # otherwise stop every other watch too.
            pump.stop.set()
            pump.task.cancel()
        for pump in pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await pump.task

    async def _pump(self, watch: WatchSet, stop: asyncio.Event) -> None:
        try:
            async for batch in awatch(
                *watch.paths,
                watch_filter=_watch_filter,
                debounce=self._debounce_ms,
                step=self._step_ms,
                stop_event=stop,
                recursive=watch.recursive,
                ignore_permission_denied=True,
            ):
                self._raw.put_nowait((time.time(), batch))
        except (OSError, RuntimeError):
            # A watched directory vanished under the OS watcher: report a change that makes the
            # consumer replan, which starts this watch afresh if its paths are still there.
            current = self._pumps.get(watch)
            if current is not None and current.stop is stop:
                del self._pumps[watch]
            self._unwatched()
            failed = watch.on_failure or self._plan.root / PROJECT_FILE
            self._raw.put_nowait((time.time(), {(Change.modified, str(failed))}))
