"""The watcher: glob matching, ignore rules, classification of raw events, and live watching."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path, PurePosixPath

import pytest
from watchfiles import Change

from ftl.build.watcher import (
    Changes,
    ProjectWatcher,
    WatchedModule,
    WatchPlan,
    classify,
    glob_regex,
    is_ignored,
    make_plan,
)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**/*.py", "echo/__init__.py", True),
        ("**/*.py", "top.py", True),
        ("**/*.py", "a/b/c/d.py", True),
        ("**/*.py", "echo/data.json", False),
        ("*.py", "echo/__init__.py", False),
        ("*.py", "setup.py", True),
        ("echo/**", "echo/sub/x.txt", True),
        ("echo/**", "other/x.txt", False),
        ("data/*.json", "data/a.json", True),
        ("data/*.json", "data/sub/a.json", False),
        ("templates/?.html", "templates/a.html", True),
        ("templates/?.html", "templates/ab.html", False),
        ("[!_]*.py", "_private.py", False),
        ("[!_]*.py", "public.py", True),
        ("./**/*.sql", "db/q.sql", True),
        ("a.b", "axb", False),
    ],
)
def test_glob_regex(pattern: str, path: str, expected: bool) -> None:
    assert bool(glob_regex(pattern).match(path)) is expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("echo/__init__.py", False),
        ("echo/__pycache__/x.cpython-311.pyc", True),
        (".ftl/stubs/ftl_modules/echo.py", True),
        ("echo/.__init__.py.swp", True),
        ("echo/__init__.py~", True),
        ("echo/.#__init__.py", True),
        ("echo/#__init__.py#", True),
        ("echo/4913", True),
        ("echo/__init__.py.tmp", True),
        ("echo/x.py___jb_tmp___", False),
        ("echo/x.py.___jb_tmp___", True),
        (".mypy_cache/3.11/x.json", True),
        (".pytest_cache/v/x", True),
        ("node_modules/a.py", True),
        ("build/module.py", False),
    ],
)
def test_is_ignored(path: str, expected: bool) -> None:
    assert is_ignored(PurePosixPath(path)) is expected


def _project(tmp_path: Path) -> Path:
    (tmp_path / "ftl-project.toml").write_text('realm = "t"\nmodule-dirs = ["modules"]\n')
    for name in ("echo", "time"):
        (tmp_path / "modules" / name / name).mkdir(parents=True)
        (tmp_path / "modules" / name / "ftl.toml").write_text(f'module = "{name}"\n')
        (tmp_path / "modules" / name / name / "__init__.py").write_text("")
    (tmp_path / "modules" / "notyet").mkdir()
    (tmp_path / "modules" / ".venv").mkdir()
    return tmp_path


def _plan(root: Path, globs: dict[str, tuple[str, ...]] | None = None) -> WatchPlan:
    globs = globs or {}
    modules = [WatchedModule(name, root / "modules" / name, globs.get(name, ())) for name in ("echo", "time")]
    return make_plan(root, [root / "modules"], modules)


def test_make_plan_watches_modules_recursively_and_roots_flat(tmp_path: Path) -> None:
    root = _project(tmp_path).resolve()
    plan = _plan(root)
    assert plan.recursive_paths() == [root / "modules/echo", root / "modules/time"]
    assert plan.flat_paths() == [root, root / "modules", root / "modules/notyet"]


def test_classify_source_changes(tmp_path: Path) -> None:
    root = _project(tmp_path).resolve()
    plan = _plan(root)
    events = {
        (Change.modified, str(root / "modules/echo/echo/__init__.py")),
        (Change.added, str(root / "modules/echo/echo/__pycache__/x.pyc")),
        (Change.added, str(root / "modules/time/time/.__init__.py.swp")),
    }
    assert classify(events, plan) == Changes(frozenset({"echo"}), layout=False)


def test_classify_honours_watch_globs(tmp_path: Path) -> None:
    root = _project(tmp_path).resolve()
    plan = _plan(root, {"echo": ("**/*.py", "**/*.sql"), "time": ("time/**/*.py",)})
    events = {
        (Change.modified, str(root / "modules/echo/queries/q.sql")),
        (Change.modified, str(root / "modules/time/tests/test_time.py")),
        (Change.modified, str(root / "modules/time/README.md")),
    }
    assert classify(events, plan) == Changes(frozenset({"echo"}), layout=False)
    events = {(Change.deleted, str(root / "modules/time/time/util.py"))}
    assert classify(events, plan).modules == {"time"}


@pytest.mark.parametrize(
    ("change", "relative"),
    [
        (Change.modified, "ftl-project.toml"),
        (Change.modified, "modules/echo/ftl.toml"),
        (Change.added, "modules/notyet/ftl.toml"),
        (Change.deleted, "modules/time"),
        (Change.deleted, "modules/notyet"),
    ],
)
def test_classify_layout_changes(tmp_path: Path, change: Change, relative: str) -> None:
    root = _project(tmp_path).resolve()
    changes = classify({(change, str(root / relative))}, _plan(root))
    assert changes.layout
    assert not changes.modules


def test_classify_new_directory_is_a_layout_change_but_files_beside_modules_are_not(tmp_path: Path) -> None:
    root = _project(tmp_path).resolve()
    plan = _plan(root)
    (root / "modules/fresh").mkdir()
    assert classify({(Change.added, str(root / "modules/fresh"))}, plan).layout
    (root / "modules/README.md").write_text("x")
    assert not classify({(Change.added, str(root / "modules/README.md"))}, plan)
    assert not classify({(Change.added, str(root / "modules/.venv"))}, plan)
    assert not classify({(Change.modified, str(root / "notes.txt"))}, plan)


async def _until(
    watcher: ProjectWatcher, action: Callable[[], None], accept: Callable[[Changes], bool]
) -> Changes:
    """Repeat `action` until the watcher reports a batch `accept` likes (OS watches may lag)."""

    async def next_batch() -> Changes:
        async for changes in watcher:
            if accept(changes):
                return changes
        raise AssertionError("watcher stopped")

    waiter: asyncio.Task[Changes] = asyncio.create_task(next_batch())
    try:
        async with asyncio.timeout(20):
            while True:
                action()
                done, _ = await asyncio.wait({waiter}, timeout=0.5)
                if done:
                    return waiter.result()
    finally:
        waiter.cancel()


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_live_watcher_reports_module_edits_and_layout(tmp_path: Path) -> None:
    root = _project(tmp_path).resolve()
    source = root / "modules/echo/echo/__init__.py"

    async def scenario() -> None:
        async with ProjectWatcher(_plan(root)) as watcher:
            counter = iter(range(1000))
            changes = await _until(
                watcher, lambda: source.write_text(f"X = {next(counter)}\n"), lambda c: bool(c.modules)
            )
            assert changes.modules == {"echo"}

            new_module = root / "modules/notyet/ftl.toml"
            changes = await _until(
                watcher, lambda: new_module.write_text('module = "notyet"\n'), lambda c: c.layout
            )
            assert changes.layout

            (root / "modules/notyet/notyet").mkdir(exist_ok=True)
            modules = [*watcher.plan.modules, WatchedModule("notyet", root / "modules/notyet")]
            await watcher.replan(make_plan(root, [root / "modules"], modules))
            fresh = root / "modules/notyet/notyet/__init__.py"
            changes = await _until(
                watcher, lambda: fresh.write_text(f"Y = {next(counter)}\n"), lambda c: bool(c.modules)
            )
            assert changes.modules == {"notyet"}

    _run(scenario)


def test_a_failed_watch_reports_a_layout_change_and_restarts_on_replan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path).resolve()
    starts: list[bool] = []

    async def vanished(*_paths: object, recursive: bool, **_options: object) -> AsyncIterator[set[object]]:
        starts.append(recursive)
        raise FileNotFoundError("gone")
        yield set()

    monkeypatch.setattr("ftl.build.watcher.awatch", vanished)

    async def scenario() -> None:
        async with ProjectWatcher(_plan(root)) as watcher:
            changes = await asyncio.wait_for(anext(aiter(watcher)), 5)
            assert changes.layout
            assert sorted(starts) == [False, True]
            await watcher.replan(_plan(root))
            await asyncio.sleep(0)
            assert len(starts) == 4

    _run(scenario)
