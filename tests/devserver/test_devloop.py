"""The dev loop's decisions: what goes into each changeset, what is shown, what is retried.

The backplane here is a test double that "deploys" a module unless its source holds a line
`BROKEN`, which it reports as an error at that line, or imports a module that is neither live nor
in the changeset; a line `HANG` makes its import hang until the deploy is cancelled. Runner
processes are the engine's business and are exercised end to end in tests/e2e/test_dev_e2e.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ftl.build.watcher import Changes
from ftl.configstore import Key, set_value, unset_value, values_for
from ftl.devserver.dev_events import DevEvent, describe
from ftl.devserver.devloop import DevLoop
from ftl.devserver.status import ModuleState
from ftl.devserver.timeline import TimelineEvent
from ftl.errors import Diagnostic, FtlError, Position
from ftl.project import Project, load_project
from ftl.runtime import _serving
from ftl.schema import ast

ftl_runtime_file = _serving.__file__


@dataclass(frozen=True)
class Outcome:
    state: str
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass(frozen=True)
class Info:
    key: str
    module: str
    state: str
    started_at: float
    version: int


@dataclass
class Call:
    modules: list[str]
    removals: list[str]
    build: bool


class FakeBackplane:
    def __init__(self, realm: str) -> None:
        self.realm = realm
        self.calls: list[Call] = []
        self.live: dict[str, Info] = {}
        self.versions: dict[str, int] = {}
        self.projects: list[Project] = []
        self.external: list[ast.Realm] = []  # what the pins of the next project resolve to
        self.pinned: list[ast.Realm] = []
        self.project: Project | None = None  # whose secrets each runner reads, as the engine does
        self.hanging: list[list[str]] = []  # changesets cancelled while a module hung on import
        self.unloadable: list[Diagnostic] = []  # realm pins that did not load at start

    async def set_project(self, project: Project) -> list[Diagnostic]:
        await asyncio.sleep(0)
        self.projects.append(project)
        self.pinned = list(self.external)
        return []

    def realm_problems(self) -> list[Diagnostic]:
        return list(self.unloadable)

    async def deploy(
        self, module_dirs: Sequence[Path], *, removals: Sequence[str] = (), build: bool = True
    ) -> Outcome:
        await asyncio.sleep(0)
        names = [_module_name(d) for d in module_dirs]
        self.calls.append(Call(sorted(names), sorted(removals), build))
        if any(_hangs(d) for d in module_dirs):
            try:
                await asyncio.Event().wait()
            finally:
                self.hanging.append(sorted(names))
        problems = [p for d in module_dirs for p in _problems(d)]
        for name in names:
            problems += [
                Diagnostic(f"No module named 'ftl_modules.{dep}'", Position(str(_source_of(name)), 1, 1))
                for dep in sorted(_deps_on_disk(name))
                if dep not in self.live and dep not in names and (_DIRS[name].parent / dep).is_dir()
            ]
        project = self.projects[-1] if self.projects else self.project
        if project is not None:
            try:
                for name in names:
                    values_for(project, "secret", name)
            except FtlError as exc:
                problems += exc.diagnostics
        for name in removals:
            users = [n for n in names if n != name] + [m for m in self.live if m not in names]
            problems += [
                Diagnostic(f"unknown module {name}", Position(str(_dir_of(user)), 1, 1))
                for user in users
                if name in _deps_on_disk(user)
            ]
        if problems:
            return Outcome("FAILED", problems)
        for name in names:
            self.versions[name] = self.versions.get(name, 0) + 1
            self.live[name] = Info(
                f"dpl-t-{name}-{self.versions[name]}", name, "live", time.time(), self.versions[name]
            )
        for name in removals:
            self.live.pop(name, None)
        return Outcome("COMMITTED")

    def deployments(self) -> list[Info]:
        return list(self.live.values())

    def schema(self) -> ast.Schema:
        modules = tuple(ast.Module(name) for name in sorted(self.live))
        return ast.Schema((ast.Realm(self.realm, modules), *self.pinned))

    def external_realms(self) -> list[ast.Realm]:
        return list(self.pinned)


_DIRS: dict[str, Path] = {}


def _module_name(directory: Path) -> str:
    text = (directory / "ftl.toml").read_text()
    name = text.split('"')[1]
    _DIRS[name] = directory
    return name


def _dir_of(name: str) -> Path:
    return _DIRS[name]


def _problems(directory: Path) -> list[Diagnostic]:
    found = []
    for path in sorted(directory.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip() == "BROKEN":
                found.append(Diagnostic("invalid syntax", Position(str(path), number, 1)))
    return found


def _hangs(directory: Path) -> bool:
    return any("HANG" in path.read_text().splitlines() for path in directory.rglob("*.py"))


def _source_of(name: str) -> Path:
    return _DIRS[name] / name / "__init__.py"


def _deps_on_disk(name: str) -> set[str]:
    directory = _DIRS.get(name)
    if directory is None or not directory.exists():
        return set()
    return {
        line.split()[-1]
        for path in directory.rglob("*.py")
        for line in path.read_text().splitlines()
        if line.startswith("from ftl_modules import")
    }


def write_module(root: Path, name: str, *, uses: Sequence[str] = (), body: str = "X = 1") -> Path:
    directory = root / "modules" / name
    (directory / name).mkdir(parents=True, exist_ok=True)
    (directory / "ftl.toml").write_text(f'module = "{name}"\n')
    imports = "".join(f"from ftl_modules import {dep}\n" for dep in uses)
    source = directory / name / "__init__.py"
    source.write_text(f"{imports}{body}\n")
    return source


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    (tmp_path / "ftl-project.toml").write_text('realm = "t"\nmodule-dirs = ["modules"]\n')
    write_module(tmp_path, "clock")
    write_module(tmp_path, "echo", uses=["clock"])
    write_module(tmp_path, "greeter", uses=["echo"])
    write_module(tmp_path, "solo")
    return tmp_path


Scenario = Callable[[DevLoop, FakeBackplane, list[DevEvent]], Awaitable[None]]


def run_loop(root: Path, scenario: Scenario) -> None:
    async def main() -> None:
        project = load_project(root / "ftl-project.toml")
        backplane = FakeBackplane(project.realm)
        backplane.project = project
        events: list[DevEvent] = []
        loop = DevLoop(project, backplane, events.append)
        try:
            await loop.start()
            await scenario(loop, backplane, events)
        finally:
            await loop.close()

    asyncio.run(main())


def run_whole_loop(root: Path, scenario: Scenario, *, slow_after: float = 5.0) -> None:
    """Like `run_loop`, with the loop's own `run()` (start-up and the real watcher) in a task."""

    async def main() -> None:
        project = load_project(root / "ftl-project.toml")
        backplane = FakeBackplane(project.realm)
        backplane.project = project
        events: list[DevEvent] = []
        loop = DevLoop(project, backplane, events.append, slow_after=slow_after)
        running = asyncio.create_task(loop.run())
        try:
            async with asyncio.timeout(20):
                await scenario(loop, backplane, events)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await loop.close()

    asyncio.run(main())


def src(root: Path, name: str) -> Path:
    return root / "modules" / name / name / "__init__.py"


def changed(root: Path, *names: str) -> Changes:
    return Changes(frozenset(names), False, tuple(src(root, n) for n in names))


def reshaped(root: Path, *names: str) -> Changes:
    """An edit outside any function body of each module (so maybe of its interface), as a batch."""
    for name in names:
        source = src(root, name)
        source.write_text(source.read_text() + f"Y{len(source.read_text())} = 1\n")
    return changed(root, *names)


def failures(events: list[DevEvent]) -> list[DevEvent]:
    return [e for e in events if e.kind == "failed"]


def test_start_deploys_every_module_alone_in_dependency_order(project_root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        order = [call.modules for call in backplane.calls]
        assert sorted(order) == [["clock"], ["echo"], ["greeter"], ["solo"]]
        assert order.index(["clock"]) < order.index(["echo"]) < order.index(["greeter"])
        assert not any(call.build for call in backplane.calls)
        assert [r.state for r in loop.status.rows()] == [ModuleState.SERVING] * 4
        assert [e.modules for e in events if e.kind == "deployed"] != []
        stubs = project_root / ".ftl/stubs/ftl_modules"
        assert {p.name for p in stubs.glob("*.py")} >= {"clock.py", "echo.py", "greeter.py", "solo.py"}

    run_loop(project_root, scenario)


def test_an_edit_redeploys_the_module_and_its_dependents_as_one_changeset(project_root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        backplane.calls.clear()
        await loop.apply(reshaped(project_root, "echo"))
        assert [(c.modules, c.build) for c in backplane.calls] == [(["echo", "greeter"], False)]
        await loop.apply(changed(project_root, "greeter"))
        await loop.apply(changed(project_root, "solo"))
        assert [(c.modules, c.build) for c in backplane.calls[1:]] == [
            (["greeter"], False),
            (["solo"], False),
        ]
        assert events[-1].kind == "deployed" and events[-1].modules == ("solo",)
        row = loop.status.get("solo")
        assert row is not None and row.version == 2 and row.reload_ms is not None

    run_loop(project_root, scenario)


def test_a_broken_module_is_shown_once_keeps_serving_and_recovers(project_root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        src(project_root, "greeter").write_text("from ftl_modules import echo\nBROKEN\n")
        await loop.apply(changed(project_root, "greeter"))
        [failure] = failures(events)
        assert describe(failure)[0] == "failed: greeter (greeter v1 still serving)"
        [diagnostic] = failure.diagnostics
        assert diagnostic.message == "invalid syntax"
        assert diagnostic.pos is not None and diagnostic.pos.line == 2
        assert not Path(diagnostic.pos.filename).is_absolute()
        row = loop.status.get("greeter")
        assert row is not None and row.state is ModuleState.FAILED and row.serving and row.version == 1

        # An edit of a dependency retries the broken module, shows nothing new, and still deploys.
        backplane.calls.clear()
        await loop.apply(changed(project_root, "echo"))
        assert [c.modules for c in backplane.calls] == [["echo", "greeter"], ["echo"]]
        assert len(failures(events)) == 1
        echo = loop.status.get("echo")
        assert echo is not None and echo.state is ModuleState.SERVING and echo.version == 2

        # Saving the broken file again is a new change: its error is shown again.
        await loop.apply(changed(project_root, "greeter"))
        assert len(failures(events)) == 2

        src(project_root, "greeter").write_text("from ftl_modules import echo\nX = 2\n")
        await loop.apply(changed(project_root, "greeter"))
        row = loop.status.get("greeter")
        assert row is not None and row.state is ModuleState.SERVING and row.version == 2 and not row.error
        assert len(failures(events)) == 2

    run_loop(project_root, scenario)


def test_a_broken_dependency_blocks_its_dependents_until_fixed(project_root: Path) -> None:
    src(project_root, "clock").write_text("BROKEN\n")

    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        assert sorted(c.modules[0] for c in backplane.calls) == ["clock", "solo"]
        [failure] = failures(events)
        assert failure.modules == ("clock",)
        assert describe(failure)[0] == "failed: clock"
        echo = loop.status.get("echo")
        assert echo is not None and echo.state is ModuleState.FAILED and echo.error == "waiting for clock"
        assert not echo.serving

        backplane.calls.clear()
        src(project_root, "clock").write_text("X = 1\n")
        await loop.apply(changed(project_root, "clock"))
        assert [c.modules for c in backplane.calls] == [["clock", "echo", "greeter"]]
        assert all(r.state is ModuleState.SERVING for r in loop.status.rows())

    run_loop(project_root, scenario)


def test_an_unrelated_edit_does_not_wait_for_a_broken_module(project_root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        src(project_root, "greeter").write_text("BROKEN\n")
        await loop.apply(changed(project_root, "greeter"))
        backplane.calls.clear()
        await loop.apply(changed(project_root, "solo"))
        assert [c.modules for c in backplane.calls] == [["solo"]]

    run_loop(project_root, scenario)


def test_modules_added_renamed_and_removed(project_root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        write_module(project_root, "fresh", uses=["solo"])
        await loop.apply(Changes(frozenset(), True, ()))
        assert "fresh" in backplane.live and "fresh" in loop.modules
        assert any(e.kind == "added" and e.modules == ("fresh",) for e in events)
        assert (project_root / ".ftl/stubs/ftl_modules/fresh.py").is_file()

        # Renamed in its ftl.toml: the new name deploys, the old one goes, in one changeset.
        (project_root / "modules/fresh/ftl.toml").write_text('module = "renamed"\npackage = "fresh"\n')
        backplane.calls.clear()
        await loop.apply(Changes(frozenset(), True, ()))
        assert [(c.modules, c.removals) for c in backplane.calls] == [(["renamed"], ["fresh"])]
        assert "fresh" not in backplane.live and "fresh" not in loop.status
        assert not (project_root / ".ftl/stubs/ftl_modules/fresh.py").exists()

        # Deleting a module another one still uses fails; the module keeps serving until fixed.
        shutil.rmtree(project_root / "modules/clock")
        await loop.apply(Changes(frozenset(), True, ()))
        assert "clock" in backplane.live
        assert failures(events)[-1].modules == ("echo",)
        shutil.rmtree(project_root / "modules/greeter")
        src(project_root, "echo").write_text("X = 3\n")
        # One batch: the deleted module's files, the layout, and an edit elsewhere.
        await loop.apply(Changes(frozenset({"greeter"}), True, ()).merge(changed(project_root, "echo")))
        assert "clock" not in backplane.live and "greeter" not in backplane.live
        assert sorted(loop.modules) == ["echo", "renamed", "solo"]
        assert loop.status.names() == ["echo", "renamed", "solo"]
        removed = [m for e in events if e.kind == "removed" for m in e.modules]
        assert sorted(removed) == ["clock", "fresh", "greeter"]

    run_loop(project_root, scenario)


def test_a_bad_module_file_is_shown_once(project_root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        (project_root / "modules/solo/ftl.toml").write_text('module = "Bad-Name"\n')
        await loop.apply(Changes(frozenset(), True, ()))
        await loop.apply(Changes(frozenset(), True, ()))
        [failure] = failures(events)
        assert failure.diagnostics and all(d.pos is not None for d in failure.diagnostics)

    run_loop(project_root, scenario)


def test_runner_crashes_and_restarts_are_reported(project_root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        key = backplane.live["echo"].key
        crash = TimelineEvent(
            kind="deployment",
            time=time.time(),
            module="echo",
            level="error",
            message=f"runner of echo ({key}) exited unexpectedly (killed by signal 9)",
            data={"deployment": key, "stderr": "Traceback ...\nBoom\n", "runner": "crashed"},
        )
        loop.runtime_event(crash)
        [event] = [e for e in events if e.kind == "crashed"]
        assert event.message.endswith("Boom")
        row = loop.status.get("echo")
        assert row is not None and row.state is ModuleState.CRASHED
        loop.runtime_event(
            TimelineEvent(
                kind="deployment",
                time=time.time(),
                module="echo",
                level="info",
                message=f"runner of echo ({key}) restarted (pid 4)",
                data={"deployment": key, "runner": "restarted"},
            )
        )
        row = loop.status.get("echo")
        assert row is not None and row.state is ModuleState.SERVING
        # A report about a deployment that no longer serves is old news.
        loop.runtime_event(
            TimelineEvent(
                kind="deployment",
                time=0,
                module="echo",
                level="error",
                message="x",
                data={"runner": "crashed"},
            )
        )
        assert len([e for e in events if e.kind == "crashed"]) == 1
        loop.runtime_event(TimelineEvent(kind="log", time=0, module="echo", level="info", message="hi"))
        assert events[-1] == DevEvent("log", ("echo",), message="hi", level="info")

    run_loop(project_root, scenario)


def test_crashes_and_restarts_are_told_apart_by_their_runner_field_not_their_wording(
    project_root: Path,
) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        key = backplane.live["solo"].key

        def report(runner: str, message: str, level: str) -> None:
            loop.runtime_event(
                TimelineEvent(
                    kind="deployment",
                    time=time.time(),
                    module="solo",
                    level=level,
                    message=message,
                    data={"deployment": key, "pid": 7, "runner": runner},
                )
            )

        report("crashed", "runner of solo went away", "error")
        row = loop.status.get("solo")
        assert row is not None and row.state is ModuleState.CRASHED
        report("restarted", "runner of solo is back (pid 7)", "info")
        row = loop.status.get("solo")
        assert row is not None and row.state is ModuleState.SERVING
        assert [e.kind for e in events[-2:]] == ["crashed", "restarted"]
        # Wording alone means nothing: an info report without the field changes no state.
        report("", "runner of solo restarted", "info")
        assert events[-1].kind == "restarted" and events[-1].message == "runner of solo is back (pid 7)"

    run_loop(project_root, scenario)


def test_a_config_edit_redeploys_the_modules_whose_values_changed(project_root: Path) -> None:
    project_file = project_root / "ftl-project.toml"
    base = project_file.read_text()

    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        backplane.calls.clear()
        project_file.write_text(base + '\n[modules.solo.config]\ngreeting = "Evening"\n')
        await loop.apply(Changes(frozenset(), True, (project_file,)))
        assert [c.modules for c in backplane.calls] == [["solo"]]
        assert backplane.projects[-1] is loop.project  # the engine deploys with the new values

        # A project-level value reaches every module.
        backplane.calls.clear()
        project_file.write_text(
            base + '\n[config]\nlimit = 3\n\n[modules.solo.config]\ngreeting = "Evening"\n'
        )
        await loop.apply(Changes(frozenset(), True, (project_file,)))
        assert [c.modules for c in backplane.calls] == [["clock", "echo", "greeter", "solo"]]

        # Saving it unchanged redeploys nothing.
        backplane.calls.clear()
        await loop.apply(Changes(frozenset(), True, (project_file,)))
        assert backplane.calls == []

    run_loop(project_root, scenario)


def test_a_changed_realm_pin_repins_rewrites_its_clients_and_redeploys_its_users(project_root: Path) -> None:
    project_file = project_root / "ftl-project.toml"
    write_module(project_root, "shop", uses=["bank"])

    def pin(commit: str) -> str:
        return f'\n[realms.egress.bank]\ngit-repo = "file:///nowhere/bank"\ngit-commit = "{commit * 40}"\n'

    def bank(verb: str) -> ast.Realm:
        decl = ast.Verb(verb, ast.Unit(), ast.Unit(), visibility=ast.Visibility.REALM)
        return ast.Realm("bank", (ast.Module("balance", decls=(decl,)),), external=True)

    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        stub = project_root / ".ftl/stubs/ftl_modules/bank/balance.py"
        backplane.calls.clear()
        backplane.external = [bank("withdraw")]
        project_file.write_text(project_file.read_text() + pin("a"))
        await loop.apply(Changes(frozenset(), True, (project_file,)))
        assert [c.modules for c in backplane.calls] == [["shop"]]
        assert [p.name for p in backplane.projects[-1].realms] == ["bank"]
        assert "withdraw" in stub.read_text()

        # `ftl realm update`: the pin moves to another commit.
        backplane.calls.clear()
        backplane.external = [bank("deposit")]
        project_file.write_text(project_file.read_text().replace("a" * 40, "b" * 40))
        await loop.apply(Changes(frozenset(), True, (project_file,)))
        assert [c.modules for c in backplane.calls] == [["shop"]]
        assert "deposit" in stub.read_text() and "withdraw" not in stub.read_text()

        # `ftl realm remove`: its clients go too.
        backplane.calls.clear()
        backplane.external = []
        project_file.write_text(project_file.read_text().split("\n[realms.egress.bank]")[0])
        await loop.apply(Changes(frozenset(), True, (project_file,)))
        assert [c.modules for c in backplane.calls] == [["shop"]]
        assert not stub.exists()

    run_loop(project_root, scenario)


def test_an_edit_that_adds_an_import_makes_the_module_a_dependent(project_root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        src(project_root, "greeter").write_text(
            "from ftl_modules import echo\nfrom ftl_modules import solo\n"
        )
        await loop.apply(changed(project_root, "greeter"))
        backplane.calls.clear()
        await loop.apply(reshaped(project_root, "solo"))
        assert [c.modules for c in backplane.calls] == [["greeter", "solo"]]

    run_loop(project_root, scenario)


def test_no_changeset_asks_the_engine_to_build_in_process(project_root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        await loop.apply(reshaped(project_root, "clock"))
        await loop.apply(reshaped(project_root, "echo", "solo"))
        assert [c.modules for c in backplane.calls[-2:]] == [
            ["clock", "echo", "greeter"],
            ["echo", "greeter", "solo"],
        ]
        assert not any(call.build for call in backplane.calls)

    run_loop(project_root, scenario)


def test_modules_that_use_each_other_go_live_together(tmp_path: Path) -> None:
    (tmp_path / "ftl-project.toml").write_text('realm = "t"\nmodule-dirs = ["modules"]\n')
    write_module(tmp_path, "ping", uses=["pong"])
    write_module(tmp_path, "pong", uses=["ping"])
    write_module(tmp_path, "alone")

    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        assert [(c.modules, c.build) for c in backplane.calls] == [
            (["alone"], False),
            (["ping", "pong"], False),
        ]
        assert events[-1].kind == "ready" and events[-1].modules == ("alone", "ping", "pong")

    run_loop(tmp_path, scenario)


def test_describe_gives_plain_lines() -> None:
    diagnostic = Diagnostic("invalid syntax", Position("echo/__init__.py", 3, 5))
    assert describe(DevEvent("ready", ("a", "b"), duration_ms=812.4)) == [
        "ready: 2 modules serving in 812 ms"
    ]
    assert describe(DevEvent("deployed", ("echo", "greeter"), duration_ms=42.0)) == [
        "deployed echo, greeter in 42 ms"
    ]
    assert describe(DevEvent("failed", ("echo",), (diagnostic,), message="echo v2 still serving")) == [
        "failed: echo (echo v2 still serving)",
        "echo/__init__.py:3:5: invalid syntax",
    ]
    assert describe(DevEvent("failed", (), (diagnostic,))) == ["echo/__init__.py:3:5: invalid syntax"]
    assert describe(DevEvent("crashed", ("echo",), message="runner of echo exited\nTraceback\nBoom")) == [
        "crashed: runner of echo exited",
        "  Traceback",
        "  Boom",
    ]
    assert describe(DevEvent("log", ("echo",), message="one\ntwo")) == ["echo | one", "echo | two"]
    assert describe(DevEvent("removed", ("extra",))) == ["removed extra"]
    assert describe(DevEvent("restarted", ("echo",), message="runner of echo restarted")) == [
        "restarted echo: runner of echo restarted"
    ]


def secrets_changed(root: Path) -> Changes:
    return Changes(paths=(root / ".ftl/secrets.toml",), secrets=True)


def set_secret(loop: DevLoop, key: str, value: str) -> None:
    module, _, name = key.rpartition(".")
    set_value(loop.project, "secret", Key(module, name), value)


def shown_text(loop: DevLoop, events: list[DevEvent]) -> str:
    """Everything `ftl dev` prints for these events, and its status rows."""
    lines = [line for event in events for line in describe(event)]
    return "\n".join(lines) + "\n" + "\n".join(map(repr, loop.status.rows())) + repr(vars(loop))


def test_a_secret_change_redeploys_exactly_the_modules_whose_values_changed(project_root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        backplane.calls.clear()
        set_secret(loop, "echo.apiKey", "s3cr3t-one")
        await loop.apply(secrets_changed(project_root))
        # Not greeter, which imports echo: a secret changes no schema.
        assert [c.modules for c in backplane.calls] == [["echo"]]
        assert events[-1].kind == "deployed" and events[-1].modules == ("echo",)
        row = loop.status.get("echo")
        assert row is not None and row.state is ModuleState.SERVING and row.version == 2

        # Written again with the same values: nothing to do.
        backplane.calls.clear()
        set_secret(loop, "echo.apiKey", "s3cr3t-one")
        await loop.apply(secrets_changed(project_root))
        assert backplane.calls == []

        # A project-level secret reaches every module; unsetting one goes back to the old values.
        set_secret(loop, "token", "s3cr3t-two")
        await loop.apply(secrets_changed(project_root))
        assert [c.modules for c in backplane.calls] == [["clock", "echo", "greeter", "solo"]]
        backplane.calls.clear()
        unset_value(loop.project, "secret", Key("echo", "apiKey"))
        await loop.apply(secrets_changed(project_root))
        assert [c.modules for c in backplane.calls] == [["echo"]]

        # A module's own value overriding the project-level one with the same value changes nothing.
        backplane.calls.clear()
        set_secret(loop, "solo.token", "s3cr3t-two")
        await loop.apply(secrets_changed(project_root))
        assert backplane.calls == []

        text = shown_text(loop, events)
        assert "s3cr3t" not in text

    run_loop(project_root, scenario)


def test_a_secret_change_and_an_edit_in_one_batch_make_one_changeset(project_root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        backplane.calls.clear()
        set_secret(loop, "solo.key", "k")
        await loop.apply(reshaped(project_root, "clock").merge(secrets_changed(project_root)))
        assert [c.modules for c in backplane.calls] == [["clock", "echo", "greeter", "solo"]]

    run_loop(project_root, scenario)


def test_an_unreadable_secrets_file_is_shown_without_its_content_and_retried_once_fixed(
    project_root: Path,
) -> None:
    secrets = project_root / ".ftl/secrets.toml"

    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        set_secret(loop, "solo.key", "s3cr3t-good")
        await loop.apply(secrets_changed(project_root))
        good = secrets.read_text()

        backplane.calls.clear()
        secrets.write_text('[modules.solo.secrets]\nkey = "s3cr3t-bad\n')
        await loop.apply(secrets_changed(project_root))
        await loop.apply(secrets_changed(project_root))
        assert backplane.calls == []
        [failure] = failures(events)
        [diagnostic] = failure.diagnostics
        assert diagnostic.message.startswith("cannot read .ftl/secrets.toml: ")

        # An edit meanwhile fails to deploy (the runner cannot be given its secrets).
        src(project_root, "solo").write_text("X = 2\n")
        await loop.apply(changed(project_root, "solo"))
        row = loop.status.get("solo")
        assert row is not None and row.state is ModuleState.FAILED

        # Fixed back to the values that serve: the failed deploy is retried, nothing else.
        backplane.calls.clear()
        secrets.write_text(good)
        await loop.apply(secrets_changed(project_root))
        assert [c.modules for c in backplane.calls] == [["solo"]]
        row = loop.status.get("solo")
        assert row is not None and row.state is ModuleState.SERVING
        assert "s3cr3t" not in shown_text(loop, events)

    run_loop(project_root, scenario)


def test_a_running_loop_redeploys_on_ftl_secret_set(project_root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        while not any(e.kind == "ready" for e in events):
            await asyncio.sleep(0.01)
        started = len(backplane.calls)
        counter = 0
        # As `ftl secret set` would (again, until the OS watch reports it).
        while not backplane.calls[started:]:
            counter += 1
            set_secret(loop, "greeter.signingKey", f"s3cr3t-{counter}")
            for _ in range(50):
                if backplane.calls[started:]:
                    break
                await asyncio.sleep(0.01)
        assert {tuple(c.modules) for c in backplane.calls[started:]} == {("greeter",)}
        assert "s3cr3t" not in shown_text(loop, events)

    run_whole_loop(project_root, scenario)


# -- a project layout that does not make sense takes nothing down --------------------------------


def test_a_copied_module_dir_is_one_error_and_the_module_keeps_serving(
    project_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project_root)

    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        backplane.calls.clear()
        shutil.copytree(project_root / "modules/solo", project_root / "modules/solo_copy")
        await loop.apply(Changes(frozenset(), True, ()))
        [failure] = failures(events)
        [diagnostic] = failure.diagnostics
        assert str(diagnostic) == (
            "modules/solo_copy/ftl.toml:1:10: duplicate module 'solo': defined in both modules/solo"
            " and modules/solo_copy (rename one in its ftl.toml)"
        )
        assert backplane.calls == [] and "solo" in backplane.live
        row = loop.status.get("solo")
        assert row is not None and row.state is ModuleState.SERVING
        assert not [e for e in events if e.kind in ("removed", "added")]

        # Still there on the next change; an edit of the module still deploys it.
        await loop.apply(Changes(frozenset(), True, ()))
        src(project_root, "solo").write_text("X = 2\n")
        await loop.apply(changed(project_root, "solo"))
        assert [c.modules for c in backplane.calls] == [["solo"]]
        assert len(failures(events)) == 1

        # Fixed: nothing to redeploy, nothing removed.
        backplane.calls.clear()
        shutil.rmtree(project_root / "modules/solo_copy")
        await loop.apply(Changes(frozenset(), True, ()))
        assert backplane.calls == []
        assert not [e for e in events if e.kind in ("removed", "added")]
        assert sorted(loop.modules) == ["clock", "echo", "greeter", "solo"]

    run_loop(project_root, scenario)


def test_a_bad_module_dirs_entry_is_one_error_and_every_module_keeps_serving(
    project_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project_root)
    project_file = project_root / "ftl-project.toml"
    good = project_file.read_text()

    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        backplane.calls.clear()
        project_file.write_text(good.replace('["modules"]', '["modulez"]'))
        await loop.apply(Changes(frozenset(), True, (project_file,)))
        [failure] = failures(events)
        assert [str(d) for d in failure.diagnostics] == [
            "ftl-project.toml:2:16: module-dirs entry 'modulez' is not a directory"
        ]
        assert backplane.calls == [] and sorted(backplane.live) == ["clock", "echo", "greeter", "solo"]
        assert all(row.state is ModuleState.SERVING for row in loop.status.rows())
        assert not [e for e in events if e.kind in ("removed", "added")]

        project_file.write_text(good)
        await loop.apply(Changes(frozenset(), True, (project_file,)))
        assert backplane.calls == [] and len(failures(events)) == 1
        assert not [e for e in events if e.kind in ("removed", "added")]

    run_loop(project_root, scenario)


# -- a module broken is shown once; what imports it waits ------------------------------------------


def test_dependents_of_a_broken_module_wait_for_it_without_errors_of_their_own(project_root: Path) -> None:
    src(project_root, "clock").write_text("BROKEN\n")

    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        [failure] = failures(events)
        assert failure.modules == ("clock",)

        # An edit of a module that imports the broken one: tried without it, it cannot import it.
        src(project_root, "echo").write_text("from ftl_modules import clock\nX = 2\n")
        await loop.apply(changed(project_root, "echo"))
        text = "\n".join(line for event in events for line in describe(event))
        assert "ftl_modules.clock" not in text
        assert describe(failures(events)[-1]) == ["echo: waiting for clock"]
        echo = loop.status.get("echo")
        assert echo is not None and echo.state is ModuleState.FAILED and echo.error == "waiting for clock"

        # Fixed: the broken module and everything waiting for it go live in one changeset.
        backplane.calls.clear()
        src(project_root, "clock").write_text("X = 1\n")
        await loop.apply(changed(project_root, "clock"))
        assert [c.modules for c in backplane.calls] == [["clock", "echo", "greeter"]]
        assert all(r.state is ModuleState.SERVING for r in loop.status.rows())

    run_loop(project_root, scenario)


def test_a_failure_of_a_module_and_its_importer_in_one_changeset_shows_the_first_once(
    project_root: Path,
) -> None:
    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        src(project_root, "echo").write_text("from ftl_modules import clock\nBROKEN\n")
        src(project_root, "greeter").write_text("from ftl_modules import echo\nBROKEN\n")
        await loop.apply(changed(project_root, "echo", "greeter"))
        [failure] = failures(events)
        assert failure.modules == ("echo",)
        assert [Path(d.pos.filename).resolve() for d in failure.diagnostics if d.pos] == [
            src(project_root, "echo").resolve()
        ]
        assert failure.waiting == (("greeter", "echo"),)
        assert describe(failure)[-1] == "greeter: waiting for echo"

        # echo fixed, greeter's own error remains: now it is shown.
        src(project_root, "echo").write_text("from ftl_modules import clock\nX = 2\n")
        await loop.apply(changed(project_root, "echo"))
        assert failures(events)[-1].modules == ("greeter",)

    run_loop(project_root, scenario)


def test_realm_pins_that_did_not_load_are_shown_at_start(project_root: Path) -> None:
    async def main() -> None:
        project = load_project(project_root / "ftl-project.toml")
        backplane = FakeBackplane(project.realm)
        backplane.unloadable = [Diagnostic("realm gone could not be loaded: no such repository")]
        events: list[DevEvent] = []
        loop = DevLoop(project, backplane, events.append)
        try:
            await loop.start()
        finally:
            await loop.close()
        [shown] = [e for e in events if e.kind == "failed" and not e.modules]
        assert [d.message for d in shown.diagnostics] == [
            "realm gone could not be loaded: no such repository"
        ]

    asyncio.run(main())


# -- a module that hangs on import -------------------------------------------------------------------


def run_following(
    root: Path,
    scenario: Callable[[DevLoop, FakeBackplane, list[DevEvent], asyncio.Queue[Changes]], Awaitable[None]],
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    """Like `run_loop`, with `follow` reading batches that the scenario puts in a queue."""

    async def main() -> None:
        project = load_project(root / "ftl-project.toml")
        backplane = FakeBackplane(project.realm)
        backplane.project = project
        events: list[DevEvent] = []
        loop = DevLoop(project, backplane, events.append, clock=clock, slow_after=0.05)
        batches: asyncio.Queue[Changes] = asyncio.Queue()

        async def read() -> AsyncIterator[Changes]:
            while True:
                yield await batches.get()

        try:
            await loop.start()
            following = asyncio.create_task(loop.follow(read()))
            try:
                async with asyncio.timeout(20):
                    await scenario(loop, backplane, events, batches)
            finally:
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await following
        finally:
            await loop.close()

    asyncio.run(main())


async def until(check: Callable[[], object]) -> None:
    while not check():
        await asyncio.sleep(0.005)


def deployed(events: list[DevEvent], name: str) -> list[DevEvent]:
    return [e for e in events if e.kind == "deployed" and name in e.modules]


def test_a_module_hanging_on_import_is_announced_and_other_edits_still_deploy(project_root: Path) -> None:
    async def scenario(
        loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent], batches: asyncio.Queue[Changes]
    ) -> None:
        src(project_root, "clock").write_text("HANG\n")
        batches.put_nowait(changed(project_root, "clock"))
        await until(lambda: any(e.kind == "slow" for e in events))
        [slow] = [e for e in events if e.kind == "slow"]
        assert describe(slow) == ["deploying clock, echo, greeter: still importing after 0.05 s"]

        # An edit of a module importing the hung one cuts in, on the version of it that serves;
        # then the hung one is tried again.
        before = len(deployed(events, "echo"))
        src(project_root, "echo").write_text("from ftl_modules import clock\nX = 2\n")
        batches.put_nowait(changed(project_root, "echo"))
        await until(lambda: len(deployed(events, "echo")) > before)
        assert [c.modules for c in backplane.calls[4:6]] == [
            ["clock", "echo", "greeter"],
            ["echo", "greeter"],
        ]
        assert backplane.hanging == [["clock", "echo", "greeter"]]
        await until(lambda: len([e for e in events if e.kind == "slow"]) == 2)
        assert [c.modules for c in backplane.calls[6:]] == [["clock", "echo", "greeter"]]
        row = loop.status.get("clock")
        assert row is not None and row.state is ModuleState.BUILDING and row.serving

        # So does an unrelated one.
        batches.put_nowait(changed(project_root, "solo"))
        await until(lambda: len(deployed(events, "solo")) == 2)
        assert len(backplane.hanging) == 2

    run_following(project_root, scenario)


def test_a_new_save_of_a_hung_module_cancels_it_and_times_the_reload_from_that_save(
    project_root: Path,
) -> None:
    now = time.time()

    async def scenario(
        loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent], batches: asyncio.Queue[Changes]
    ) -> None:
        source = src(project_root, "echo")
        source.write_text("from ftl_modules import clock\nHANG\n")
        os.utime(source, (now - 100, now - 100))
        batches.put_nowait(changed(project_root, "echo"))
        await until(lambda: any(e.kind == "slow" for e in events))

        source.write_text("from ftl_modules import clock\nX = 2\n")
        os.utime(source, (now - 0.25, now - 0.25))
        batches.put_nowait(changed(project_root, "echo"))
        await until(lambda: len(deployed(events, "echo")) == 2)
        assert backplane.hanging == [["echo", "greeter"]]
        [*_, event] = deployed(events, "echo")
        assert event.modules == ("echo", "greeter") and event.duration_ms == pytest.approx(250)
        row = loop.status.get("echo")
        assert row is not None and row.reload_ms == pytest.approx(250) and row.version == 2

    run_following(project_root, scenario, clock=lambda: now)


def test_a_new_save_cancels_a_changeset_still_importing_before_it_is_slow(project_root: Path) -> None:
    async def scenario(
        loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent], batches: asyncio.Queue[Changes]
    ) -> None:
        loop._slow_after = 3600  # never slow here: only the new save cuts in
        src(project_root, "solo").write_text("HANG\n")
        batches.put_nowait(changed(project_root, "solo"))
        await until(lambda: loop.status.get("solo").state is ModuleState.BUILDING)  # type: ignore[union-attr]
        src(project_root, "solo").write_text("X = 5\n")
        batches.put_nowait(changed(project_root, "solo"))
        await until(lambda: len(deployed(events, "solo")) == 2)
        assert backplane.hanging == [["solo"]]
        assert not [e for e in events if e.kind == "slow"]

    run_following(project_root, scenario)


def test_a_module_hanging_on_import_at_start_up_lets_the_others_go_first(project_root: Path) -> None:
    src(project_root, "solo").write_text("HANG\n")

    async def scenario(
        loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent], batches: asyncio.Queue[Changes]
    ) -> None:
        # Start-up is over: the others serve; solo is being tried again.
        [ready] = [e for e in events if e.kind == "ready"]
        assert ready.modules == ("clock", "echo", "greeter")
        [first_slow, *_] = [e for e in events if e.kind == "slow"]
        assert first_slow.modules == ("solo",)
        assert first_slow.message.startswith("still importing after 0.05 s; deploying ")
        assert first_slow.message.endswith(" first, then trying it again")
        assert backplane.hanging == [["solo"]]
        await until(lambda: backplane.calls[-1].modules == ["solo"])

        # Fixed: the save cancels the retry, and solo goes live.
        src(project_root, "solo").write_text("X = 1\n")
        batches.put_nowait(changed(project_root, "solo"))
        await until(lambda: deployed(events, "solo"))
        assert backplane.hanging == [["solo"], ["solo"]]

    run_following(project_root, scenario)


def test_a_save_during_start_up_cancels_the_module_still_importing(project_root: Path) -> None:
    """The only module left at start-up hangs: it is not set aside, but a save of it cuts in."""
    for name in ("clock", "echo", "greeter"):
        shutil.rmtree(project_root / "modules" / name)
    src(project_root, "solo").write_text("HANG\n")

    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        await until(lambda: any(e.kind == "slow" for e in events))
        [slow] = [e for e in events if e.kind == "slow"]
        assert slow.message == "still importing after 0.05 s"  # nothing queued behind it
        src(project_root, "solo").write_text("X = 5\n")  # the real watcher sees this
        await until(lambda: deployed(events, "solo"))
        assert backplane.hanging == [["solo"]]
        assert [e.kind for e in events].count("ready") == 1

    run_whole_loop(project_root, scenario, slow_after=0.05)


# -- verb failures -------------------------------------------------------------------------------


def call_event(root: Path, request_id: str, **data: object) -> TimelineEvent:
    source = root / "modules/solo/solo/__init__.py"
    runtime = Path(ftl_runtime_file).resolve()
    traceback = (
        "Traceback (most recent call last):\n"
        f'  File "{runtime}", line 240, in _call\n'
        "    result = await bound.handle.func(request, **bound.kwargs)\n"
        f'  File "{source}", line 30, in boom\n'
        "    check(name)\n"
        f'  File "{source}", line 38, in check\n'
        '    raise ValueError(f"bad name {name}")\n'
        "ValueError: bad name x\n"
    )
    fields: dict[str, object] = {"traceback": traceback, "error_kind": "verb_error", **data}
    return TimelineEvent(
        kind="call",
        time=time.time(),
        module="solo",
        verb="boom",
        request_id=request_id,
        level="error",
        message="bad name x",
        data=fields,
    )


def test_a_verb_that_raises_is_shown_once_with_its_user_frames(
    project_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project_root)

    async def scenario(loop: DevLoop, backplane: FakeBackplane, events: list[DevEvent]) -> None:
        loop.runtime_event(call_event(project_root, "req-1"))
        [event] = [e for e in events if e.kind == "call"]
        assert describe(event) == [
            "solo.boom failed: ValueError: bad name x (modules/solo/solo/__init__.py:38)",
            "  modules/solo/solo/__init__.py:30 in boom: check(name)",
            '  modules/solo/solo/__init__.py:38 in check: raise ValueError(f"bad name {name}")',
        ]
        # The same request failing again up the call chain (a caller's FtlCallError): not again.
        loop.runtime_event(call_event(project_root, "req-1", exception="FtlCallError"))
        # Errors that are not the verb's own are the caller's business.
        loop.runtime_event(call_event(project_root, "req-2", error_kind="bad_request"))
        assert len([e for e in events if e.kind == "call"]) == 1
        # `where` and `exception`, when the runner sends them, are used as they are.
        where = f"{project_root / 'modules/solo/solo/__init__.py'}:30"
        loop.runtime_event(call_event(project_root, "req-3", exception="KeyError", where=where))
        assert describe(events[-1])[0] == (
            "solo.boom failed: KeyError: bad name x (modules/solo/solo/__init__.py:30)"
        )

    run_loop(project_root, scenario)


def test_an_unknown_reference_to_a_deleted_module_says_it_was_deleted() -> None:
    from ftl.devserver.dev_failures import deleted_reference as _deleted_reference

    where = Position("beta/beta/__init__.py", 46, 12)
    unknown = Diagnostic('unknown reference "alpha.echo2", is the type annotated and exported?', where)
    explained = _deleted_reference(unknown, {"alpha"})
    assert explained.message == (
        "alpha.echo2: module alpha was deleted but is still used here "
        "(alpha keeps serving until nothing uses it)"
    )
    assert explained.pos == where
    assert _deleted_reference(unknown, {"gamma"}) == unknown
