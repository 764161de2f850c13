"""The watcher: glob matching, ignore rules, classification of raw events, and live watching."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from watchfiles import Change

from ftl.build.watcher import (
    Changes,
    ProjectWatcher,
    WatchedModule,
    WatchPlan,
    WatchSet,
    classify,
    glob_regex,
    is_ignored,
    make_plan,
    modified_since,
)
from ftl.files import write_atomic
from ftl.runtime.extract.module_file import DEFAULT_WATCH as MODULE_DEFAULT_WATCH


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
    "relative",
    [
        "tests/test_echo.py",
        "tests/helpers/data.py",
        "conftest.py",
        "echo/tests/test_inner.py",
        "echo/test_unit.py",
        "README.md",
        "docs/notes.md",
        "echo/schema.sql",
    ],
)
def test_tests_and_non_source_files_of_a_module_are_no_reason_to_redeploy(
    tmp_path: Path, relative: str
) -> None:
    root = _project(tmp_path).resolve()
    plan = _plan(root, {"echo": MODULE_DEFAULT_WATCH})
    assert not classify({(Change.modified, str(root / "modules/echo" / relative))}, plan)
    assert classify({(Change.modified, str(root / "modules/echo/echo/testing.py"))}, plan).modules == {"echo"}


def test_tests_redeploy_when_a_watch_glob_names_them(tmp_path: Path) -> None:
    root = _project(tmp_path).resolve()
    plan = _plan(root, {"echo": ("**/*.py", "tests/**/*.py")})
    changes = classify({(Change.modified, str(root / "modules/echo/tests/test_echo.py"))}, plan)
    assert changes.modules == {"echo"}


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


def test_a_directory_with_an_ftl_toml_but_no_package_yet_is_watched_into(tmp_path: Path) -> None:
    root = _project(tmp_path).resolve()
    (root / "modules/notyet/ftl.toml").write_text('module = "notyet"\n')
    plan = _plan(root)
    assert plan.recursive_paths() == [root / "modules/echo", root / "modules/time"]
    # Its own watch: deleting it must not stop the watch of the modules.
    notyet = root / "modules/notyet"
    assert WatchSet((notyet,), recursive=True, on_failure=notyet / "ftl.toml") in plan.watch_sets()
    # Its package is written after it: each piece may complete the module, so look again.
    (root / "modules/notyet/notyet").mkdir()
    package_file = root / "modules/notyet/notyet/__init__.py"
    package_file.write_text("")
    assert classify({(Change.added, str(package_file))}, plan).layout
    cache = root / "modules/notyet/notyet/__pycache__/x.pyc"
    assert not classify({(Change.added, str(cache))}, plan)


def _secrets_plan(root: Path) -> WatchPlan:
    modules = [WatchedModule(name, root / "modules" / name) for name in ("echo", "time")]
    return make_plan(root, [root / "modules"], modules, secrets=root / ".ftl/secrets.toml")


def test_the_state_dir_gets_its_own_flat_watch_once_it_exists(tmp_path: Path) -> None:
    root = _project(tmp_path).resolve()
    plan = _secrets_plan(root)
    assert plan.secrets == root / ".ftl/secrets.toml"
    assert [w.paths for w in plan.watch_sets()] == [
        (root / "modules/echo", root / "modules/time"),
        (root, root / "modules", root / "modules/notyet"),
    ]
    (root / ".ftl").mkdir()
    [*_, state] = plan.watch_sets()
    assert state == WatchSet((root / ".ftl",), recursive=False, on_failure=root / ".ftl/secrets.toml")
    assert len(_plan(root).watch_sets()) == 2  # without a secrets file, .ftl/ is not watched at all


@pytest.mark.parametrize(
    ("change", "relative", "secrets"),
    [
        (Change.modified, ".ftl/secrets.toml", True),
        (Change.added, ".ftl/secrets.toml", True),
        (Change.deleted, ".ftl/secrets.toml", True),
        (Change.deleted, ".ftl", True),
        (Change.added, ".ftl/.secrets.toml.abc123.tmp", False),
        (Change.added, ".ftl/.gitignore", False),
        (Change.modified, ".ftl/stubs/ftl_modules/echo.py", False),
        (Change.added, ".ftl/stubs", False),
        (Change.modified, ".ftl/cache/bank.ftl", False),
        (Change.modified, "modules/echo/.ftl/secrets.toml", False),
        (Change.modified, "secrets.toml", False),
    ],
)
def test_classify_watches_exactly_the_secrets_file_under_the_state_dir(
    tmp_path: Path, change: Change, relative: str, secrets: bool
) -> None:
    root = _project(tmp_path).resolve()
    changes = classify({(change, str(root / relative))}, _secrets_plan(root))
    assert changes.secrets is secrets
    assert not changes.layout and not changes.modules
    assert bool(changes) is secrets


def test_classify_a_new_state_dir_as_a_secrets_change(tmp_path: Path) -> None:
    root = _project(tmp_path).resolve()
    plan = _secrets_plan(root)
    (root / ".ftl").mkdir()
    assert classify({(Change.added, str(root / ".ftl"))}, plan).secrets
    assert not classify({(Change.added, str(root / ".ftl"))}, _plan(root))


def test_classify_a_path_the_plan_does_not_know_under_a_root_as_a_layout_change(tmp_path: Path) -> None:
    # Reported by a watch the plan has moved past: a module dir renamed (its old watch follows
    # the directory), or a file in a directory that appeared while the plan was being made.
    root = _project(tmp_path).resolve()
    plan = _plan(root)
    for stray in ("modules/inventory/inventory/__init__.py", "modules/notyet/deep/ftl.toml", "other/x.py"):
        changes = classify({(Change.modified, str(root / stray))}, plan)
        assert changes.layout and not changes.modules, stray
    for ignored in (
        "modules/fresh/__pycache__/x.py",
        ".ftl/stubs/ftl_modules/echo.py",
        "modules/.venv/x/y.py",
    ):
        assert not classify({(Change.modified, str(root / ignored))}, plan), ignored
    assert not classify({(Change.modified, str(tmp_path.parent / "elsewhere.py"))}, plan)


def test_changes_keep_when_their_first_events_arrived() -> None:
    first = Changes(frozenset({"echo"}), arrived=10.0)
    assert first.merge(Changes(frozenset({"time"}), arrived=12.0)).arrived == 10.0
    assert Changes(secrets=True).merge(first).arrived == 10.0
    assert Changes().merge(Changes()).arrived is None
    assert first == Changes(frozenset({"echo"}))  # when is no part of what changed


def test_changes_merge_keeps_secrets() -> None:
    merged = Changes(frozenset({"echo"})).merge(Changes(secrets=True))
    assert merged == Changes(frozenset({"echo"}), secrets=True)
    assert Changes(secrets=True) and not Changes()


async def _until(
    watcher: ProjectWatcher, action: Callable[[], object], accept: Callable[[Changes], bool]
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


def _run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def test_live_watcher_reports_module_edits_and_layout(tmp_path: Path) -> None:
    root = _project(tmp_path).resolve()
    source = root / "modules/echo/echo/__init__.py"

    async def scenario() -> None:
        async with ProjectWatcher(_plan(root)) as watcher:
            counter = iter(range(1000))
            started = time.time()
            changes = await _until(
                watcher, lambda: source.write_text(f"X = {next(counter)}\n"), lambda c: bool(c.modules)
            )
            assert changes.modules == {"echo"}
            assert changes.arrived is not None and started <= changes.arrived <= time.time()

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


def test_modified_since_finds_recent_files_outside_ignored_places(tmp_path: Path) -> None:
    root = _project(tmp_path).resolve()
    old, now = time.time() - 100, time.time()
    for path in (root / "modules").rglob("*"):
        os.utime(path, (old, old))
    edited = root / "modules/echo/echo/__init__.py"
    edited.write_text("X = 1\n")
    (root / "modules/echo/echo/__pycache__").mkdir()
    (root / "modules/echo/echo/__pycache__/x.pyc").write_text("")
    echo = root / "modules/echo"
    assert modified_since(WatchSet((echo,), recursive=True), now - 1) == [edited]
    # Flat: only the directory's own entries.
    (root / "modules/fresh").mkdir()
    found = modified_since(WatchSet((root / "modules",), recursive=False), now - 1)
    assert found == [root / "modules/fresh"]


def test_a_restarted_watch_reports_what_changed_while_it_was_away(tmp_path: Path) -> None:
    root = _project(tmp_path).resolve()
    source = root / "modules/time/time/__init__.py"

    async def scenario() -> None:
        async with ProjectWatcher(_plan(root)) as watcher:
            # The modules' watch is swapped for a new one (a module was added); an edit made while
            # neither ran is still reported.
            await watcher._stop([w for w in watcher._pumps if w.recursive])
            source.write_text("T = 2\n")
            (root / "modules/notyet/notyet").mkdir()
            (root / "modules/notyet/ftl.toml").write_text('module = "notyet"\n')
            modules = [*watcher.plan.modules, WatchedModule("notyet", root / "modules/notyet")]
            await watcher.replan(make_plan(root, [root / "modules"], modules))
            changes = watcher.drain()
            assert "time" in changes.modules

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


def test_live_watcher_reports_secret_edits_and_nothing_else_under_the_state_dir(tmp_path: Path) -> None:
    root = _project(tmp_path).resolve()
    secrets = root / ".ftl/secrets.toml"
    source = root / "modules/echo/echo/__init__.py"
    counter = iter(range(1000))

    def write_secret() -> None:
        # As `ftl secret set` writes it: a temp file beside it, renamed over it.
        write_atomic(secrets, f'[secrets]\nkey = "{next(counter)}"\n'.encode(), mode=0o600)

    async def scenario() -> None:
        async with ProjectWatcher(_secrets_plan(root)) as watcher:
            # No .ftl/ yet: its appearance (seen by the root's watch) is the change.
            changes = await _until(watcher, write_secret, lambda c: c.secrets)
            assert not changes.layout and not changes.modules
            await watcher.replan(watcher.plan)
            # Now the state dir's own watch sees the file itself.
            changes = await _until(watcher, write_secret, lambda c: secrets in c.paths)
            assert changes.secrets and not changes.layout and not changes.modules

            # Stubs, caches and other files in .ftl/ are no reason to redeploy anything.
            seen: list[Changes] = []

            def edit_beside_then_source() -> None:
                (root / ".ftl/stubs").mkdir(exist_ok=True)
                (root / ".ftl/stubs/echo.py").write_text(f"X = {next(counter)}\n")
                (root / ".ftl/other.toml").write_text(f"x = {next(counter)}\n")
                source.write_text(f"X = {next(counter)}\n")

            def source_edited(changes: Changes) -> bool:
                seen.append(changes)
                return bool(changes.modules)

            await _until(watcher, edit_beside_then_source, source_edited)
            assert not any(c.layout for c in seen)
            # (Batches from the earlier secret writes may still arrive in between.)
            state_paths = {p for c in seen for p in c.paths if p.is_relative_to(root / ".ftl")}
            assert state_paths <= {secrets}

    _run(scenario)


def test_replan_starts_and_stops_only_the_watches_whose_paths_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path).resolve()
    running: list[tuple[Path, ...]] = []
    started: list[tuple[Path, ...]] = []

    async def fake_awatch(
        *paths: Path, stop_event: asyncio.Event, **_options: object
    ) -> AsyncIterator[set[object]]:
        started.append(paths)
        running.append(paths)
        try:
            await stop_event.wait()
        finally:
            running.remove(paths)
        return
        yield set()

    monkeypatch.setattr("ftl.build.watcher.awatch", fake_awatch)

    async def scenario() -> None:
        async with ProjectWatcher(_secrets_plan(root)) as watcher:
            assert len(started) == 2
            (root / ".ftl").mkdir()
            await watcher.replan(_secrets_plan(root))
            assert started[2:] == [(root / ".ftl",)]
            (root / ".ftl").rmdir()
            await watcher.replan(_secrets_plan(root))
            assert len(started) == 3 and len(running) == 2
        assert running == []

    _run(scenario)


def test_a_failed_state_dir_watch_reports_a_secrets_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path).resolve()
    (root / ".ftl").mkdir()

    async def fake_awatch(
        *paths: Path, stop_event: asyncio.Event, **_options: object
    ) -> AsyncIterator[set[object]]:
        if paths == (root / ".ftl",):
            raise FileNotFoundError("gone")
        await stop_event.wait()
        return
        yield set()

    monkeypatch.setattr("ftl.build.watcher.awatch", fake_awatch)

    async def scenario() -> None:
        async with ProjectWatcher(_secrets_plan(root)) as watcher:
            changes = await asyncio.wait_for(anext(aiter(watcher)), 5)
            assert changes.secrets and not changes.layout

    _run(scenario)
