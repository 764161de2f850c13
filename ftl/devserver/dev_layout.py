"""The project's modules as the dev loop finds them on disk: scanned, watched, and what each imports.

A project layout the loop cannot make sense of (two directories claiming one module, a
`module-dirs` entry that is not a directory, an `ftl.toml` that cannot be read) takes nothing
down: the modules that served and are still there are kept, and the modules importing them build
against them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ftl.build.discover import ModuleInfo, scan_modules
from ftl.build.graph import Graph, module_imports
from ftl.build.watcher import ProjectWatcher, WatchedModule, WatchPlan, make_plan
from ftl.configstore import SECRETS_FILE
from ftl.errors import Diagnostic, FtlError
from ftl.project import Project
from ftl.runtime.extract import MODULE_FILE, read_module_file
from ftl.runtime.extract.source import recheck_sources

RESCANS = 3  # layout scans redone after their watch is in place, until nothing moved meanwhile


def scan(project: Project, old: dict[str, ModuleInfo]) -> tuple[dict[str, ModuleInfo], list[Diagnostic]]:
    """The project's modules by name, and the problems met finding them."""
    infos, problems = scan_modules(project)
    new = {info.name: resolved(info) for info in infos}
    if problems:
        # A layout that does not make sense takes nothing down: what served and is still there
        # keeps serving until the problem is fixed.
        new |= {name: info for name, info in old.items() if name not in new and _still_there(info)}
    return new, problems


async def rescan(
    project: Project, old: dict[str, ModuleInfo], watcher: ProjectWatcher | None
) -> tuple[dict[str, ModuleInfo], list[Diagnostic]]:
    """The modules on disk (with those that served and are still there when the layout does
    not make sense), watched. A scan made before its watch was in place is made again until
    nothing changed meanwhile: a directory that just appeared is watched only from then on."""
    new, problems = scan(project, old)
    if watcher is None:
        return new, problems
    for _ in range(RESCANS):
        before = _watched(watcher.plan)
        plan = watch_plan(project, new.values())
        await watcher.replan(plan)
        if _watched(plan) <= before:
            return new, problems
        again, problems = scan(project, old)
        if again == new:
            return new, problems
        new = again
    await watcher.replan(watch_plan(project, new.values()))
    return new, problems


def watch_plan(project: Project, modules: Iterable[ModuleInfo]) -> WatchPlan:
    """What to watch: the modules' files, the project's layout and its secrets file."""
    watched = [WatchedModule(m.name, m.directory, m.watch) for m in modules]
    secrets = project.state_dir / SECRETS_FILE
    return make_plan(project.root, project.module_roots(), watched, secrets=secrets)


def _watched(plan: WatchPlan) -> set[tuple[Path, bool]]:
    """Every directory the plan watches, and whether recursively."""
    return {(p, True) for p in plan.recursive_paths()} | {(p, False) for p in plan.flat_paths()}


def _still_there(info: ModuleInfo) -> bool:
    """Whether the module's directory still holds an ftl.toml that names it (or one that cannot be
    read, which is shown as an error of its own: the module is not deleted for it)."""
    if not (info.directory / MODULE_FILE).is_file():
        return False
    try:
        return read_module_file(info.directory).name == info.name
    except FtlError:
        return True


def readable(info: ModuleInfo) -> bool:
    """Whether the module's ftl.toml can be read."""
    try:
        read_module_file(info.directory)
    except FtlError:
        return False
    return True


def resolved(info: ModuleInfo) -> ModuleInfo:
    return replace(info, directory=info.directory.resolve())


def imports_among(info: ModuleInfo, modules: dict[str, ModuleInfo]) -> dict[str, Any]:
    """The other modules of `modules` the module's sources import now (with where)."""
    return {dep: pos for dep, pos in source_imports(info).items() if dep in modules and dep != info.name}


def source_imports(info: ModuleInfo) -> dict[str, Any]:
    """Every `ftl_modules.X` the module's sources import now (modules and external realms alike)."""
    recheck_sources(info.directory / info.package)  # a same-size save can keep a cached file's stat
    return module_imports(info)


def split_cycles(graph: Graph) -> tuple[list[str], list[str]]:
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
