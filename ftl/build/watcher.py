"""Watching a project's sources: which modules changed, and whether the module layout did.

The watch set is narrow on purpose: each module directory recursively, and the project root and
each `module-dirs` root flat (a new or removed module dir, `ftl-project.toml`). Watching the
project root recursively would walk `.venv/` and friends into thousands of inotify watches.

watchfiles' default debounce (1.6 s) would eat the whole hot-reload budget, so batches are
yielded after `step_ms` of quiet, and at most `debounce_ms` after the first event of a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
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
    """

    root: Path
    module_roots: tuple[Path, ...]
    modules: tuple[WatchedModule, ...]
    flat_dirs: frozenset[Path] = frozenset()

    def recursive_paths(self) -> list[Path]:
        return sorted({m.directory for m in self.modules if m.directory.is_dir()})

    def flat_paths(self) -> list[Path]:
        return sorted(p for p in self.flat_dirs if p.is_dir())


def make_plan(root: Path, module_roots: Iterable[Path], modules: Iterable[WatchedModule]) -> WatchPlan:
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
    return WatchPlan(root, module_roots, modules, frozenset(flat))


@dataclass(frozen=True, slots=True)
class Changes:
    """One debounced batch, classified.

    `modules`: modules with a changed source file that their `watch` globs select.
    `layout`: `ftl-project.toml`, an `ftl.toml`, or a directory under a module root changed, so
    modules may have been added, removed or renamed: discover them again.
    """

    modules: frozenset[str] = frozenset()
    layout: bool = False
    paths: tuple[Path, ...] = field(default=(), compare=False)

    def __bool__(self) -> bool:
        return bool(self.modules) or self.layout

    def merge(self, other: Changes) -> Changes:
        paths = tuple(sorted(set(self.paths) | set(other.paths)))
        return Changes(self.modules | other.modules, self.layout or other.layout, paths)


def classify(events: Iterable[tuple[Change, str]], plan: WatchPlan) -> Changes:
    """Which modules a batch of raw file events touches, and whether the layout changed."""
    modules: set[str] = set()
    layout = False
    paths: list[Path] = []
    for change, raw in events:
        path = Path(raw)
        relevant = False
        owner = _owner(path, plan.modules)
        if owner is not None:
            relative = PurePosixPath(path.relative_to(owner.directory).as_posix())
            if relative.as_posix() == MODULE_FILE:
                layout = relevant = True
            elif not is_ignored(relative) and matches_any(relative, owner.globs):
                modules.add(owner.name)
                relevant = True
        elif path.name == PROJECT_FILE and path.parent == plan.root:
            layout = relevant = True
        elif path.parent in plan.flat_dirs and not is_ignored(PurePosixPath(path.name)):
            # A module's ftl.toml appeared, a directory (maybe a module) appeared under a module
            # root, or a known directory vanished.
            known = path in plan.flat_dirs or any(m.directory == path for m in plan.modules)
            if path.name == MODULE_FILE or known or (change != Change.deleted and path.is_dir()):
                layout = relevant = True
        if relevant:
            paths.append(path)
    return Changes(frozenset(modules), layout, tuple(sorted(set(paths))))


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


class ProjectWatcher:
    """Debounced, classified change batches for a `WatchPlan`; `replan()` swaps the watch set.

    Use as `async with ProjectWatcher(plan) as watcher: async for changes in watcher: ...`.
    Events that arrive while the consumer is busy are merged into the next batch it reads.
    """

    def __init__(self, plan: WatchPlan, *, debounce_ms: int = DEBOUNCE_MS, step_ms: int = STEP_MS) -> None:
        self._plan = plan
        self._debounce_ms = debounce_ms
        self._step_ms = step_ms
        self._raw: asyncio.Queue[set[tuple[Change, str]]] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._broken = False  # a watch failed: the next replan starts afresh whatever the paths

    @property
    def plan(self) -> WatchPlan:
        return self._plan

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self._broken = False
        for paths, recursive in ((self._plan.recursive_paths(), True), (self._plan.flat_paths(), False)):
            if paths:
                self._tasks.append(asyncio.create_task(self._pump(paths, recursive)))
        # Each pump sets up its OS watches synchronously in its first step: let that step run so
        # that a file written right after start() is seen.
        await asyncio.sleep(0)

    async def replan(self, plan: WatchPlan) -> None:
        if (
            not self._broken
            and plan.recursive_paths() == self._plan.recursive_paths()
            and plan.flat_paths() == self._plan.flat_paths()
        ):
            self._plan = plan
            return
        await self.close()
        self._plan = plan
        await self.start()

    async def close(self) -> None:
        self._stop.set()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> ProjectWatcher:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[Changes]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[Changes]:
        while True:
            changes = classify(await self._raw.get(), self._plan)
            changes = changes.merge(self.drain())
            if changes:
                yield changes

    def drain(self) -> Changes:
        """Everything that arrived and was not read yet, classified, without waiting."""
        merged = Changes()
        while not self._raw.empty():
            merged = merged.merge(classify(self._raw.get_nowait(), self._plan))
        return merged

    async def _pump(self, paths: list[Path], recursive: bool) -> None:
        try:
            async for batch in awatch(
                *paths,
                watch_filter=_watch_filter,
                debounce=self._debounce_ms,
                step=self._step_ms,
                stop_event=self._stop,
                recursive=recursive,
                ignore_permission_denied=True,
            ):
                self._raw.put_nowait(batch)
        except (OSError, RuntimeError):
            # A watched directory vanished under the OS watcher: report a layout change, so the
            # consumer rediscovers modules and replans, which starts the watches afresh.
            self._broken = True
            self._raw.put_nowait({(Change.modified, str(self._plan.root / PROJECT_FILE))})
