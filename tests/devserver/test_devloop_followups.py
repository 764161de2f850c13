"""The dev loop, continued: a fix that breaks an importer, a module file that cannot be read, live
edits of the project file, reload times of copied files, a layout that changes while it is
scanned, and edits that keep a module's interface.

The backplane double extends the one of test_devloop.py with interfaces: a comment `# verb NAME`
declares a verb of the module (its generated client shows it), and `# calls MODULE.NAME` fails
the changeset, at that line, unless the version of MODULE that the changeset deploys (or that
serves) declares it, as the engine's schema validation would.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from test_devloop import (
    Call,
    FakeBackplane,
    Outcome,
    _module_name,
    _problems,
    _source_of,
    changed,
    failures,
    src,
    write_module,
)

from ftl.build.discover import ModuleInfo
from ftl.build.graph import interface_fingerprint
from ftl.build.watcher import Changes
from ftl.devserver import devloop
from ftl.devserver.dev_events import DevEvent, describe
from ftl.devserver.devloop import DevLoop
from ftl.devserver.status import ModuleState
from ftl.errors import Diagnostic, Position
from ftl.project import load_project
from ftl.runtime.extract.source import recheck_sources
from ftl.schema import ast

VERB = re.compile(r"#\s*verb (\w+)")
CALL = re.compile(r"#\s*calls (\w+)\.(\w+)")


class InterfaceBackplane(FakeBackplane):
    def __init__(self, realm: str) -> None:
        super().__init__(realm)
        self.served: dict[str, str] = {}  # the source of each module's serving version

    async def deploy(
        self, module_dirs: Sequence[Path], *, removals: Sequence[str] = (), build: bool = True
    ) -> Outcome:
        names = [_module_name(d) for d in module_dirs]
        if not any(_problems(d) for d in module_dirs):
            sources = {n: text for n, text in self.served.items() if n not in removals}
            sources |= {name: _source_of(name).read_text() for name in names}
            problems = [
                Diagnostic(
                    f"module {call[1]} has no verb {call[2]}", Position(str(_source_of(name)), number, 1)
                )
                for name, text in sorted(sources.items())
                for number, line in enumerate(text.splitlines(), start=1)
                if (call := CALL.search(line)) and call[2] not in VERB.findall(sources.get(call[1], ""))
            ]
            if problems:
                await asyncio.sleep(0)
                self.calls.append(Call(sorted(names), sorted(removals), build))
                return Outcome("FAILED", problems)
        outcome = await super().deploy(module_dirs, removals=removals, build=build)
        if outcome.state != "FAILED":
            self.served |= {name: _source_of(name).read_text() for name in names}
            for name in removals:
                self.served.pop(name, None)
        return outcome

    def schema(self) -> ast.Schema:
        def verbs(name: str) -> tuple[ast.Decl, ...]:
            found = VERB.findall(self.served.get(name, ""))
            return tuple(ast.Verb(v, ast.Unit(), ast.Unit(), visibility=ast.Visibility.REALM) for v in found)

        modules = tuple(ast.Module(name, decls=verbs(name)) for name in sorted(self.live))
        return ast.Schema((ast.Realm(self.realm, modules), *self.pinned))


CLOCK = "def tick():\n    # verb {verb}\n    return {n}\n"
RELAY = "\n\ndef relay():\n    # calls clock.{verb}\n    return 1\n"
ECHO = "from ftl_modules import clock" + RELAY

Scenario = Callable[[DevLoop, InterfaceBackplane, list[DevEvent]], Awaitable[None]]


def run(root: Path, scenario: Scenario, *, clock: Callable[[], float] = time.time) -> None:
    async def main() -> None:
        project = load_project(root / "ftl-project.toml")
        backplane = InterfaceBackplane(project.realm)
        backplane.project = project
        events: list[DevEvent] = []
        loop = DevLoop(project, backplane, events.append, clock=clock)
        try:
            await loop.start()
            await scenario(loop, backplane, events)
        finally:
            await loop.close()

    asyncio.run(main())


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """clock (verb tick) ← echo (calls clock.tick) ← greeter; solo alone."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ftl-project.toml").write_text('realm = "t"\nmodule-dirs = ["modules"]\n')
    write_module(tmp_path, "clock", body=CLOCK.format(verb="tick", n=1))
    write_module(tmp_path, "echo", uses=["clock"], body=RELAY.format(verb="tick"))
    write_module(tmp_path, "greeter", uses=["echo"])
    write_module(tmp_path, "solo")
    return tmp_path


def lines(events: list[DevEvent]) -> list[str]:
    return [line for event in events for line in describe(event)]


# -- 1. a save that fixes a module but breaks a module importing it ----------------------------------


def test_a_save_fixing_a_module_but_breaking_its_importer_shows_the_importers_error(root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: InterfaceBackplane, events: list[DevEvent]) -> None:
        src(root, "clock").write_text("BROKEN\n" + CLOCK.format(verb="tick", n=1))
        await loop.apply(changed(root, "clock"))
        assert failures(events)[-1].modules == ("clock",)

        # One save: the syntax fixed, the verb renamed. The importer's own error shows at once.
        src(root, "clock").write_text(CLOCK.format(verb="tock", n=1))
        await loop.apply(changed(root, "clock"))
        failure = failures(events)[-1]
        assert describe(failure) == [
            "failed: echo (echo v1 still serving; clock not deployed either: clock v1 still serving)",
            "modules/echo/echo/__init__.py:5:1: module clock has no verb tick",
        ]
        row = loop.status.get("clock")
        assert row is not None and row.state is ModuleState.FAILED and row.serving
        assert row.error == "not deployed: echo failed"
        assert row.version == 1

        # Saving the importer again shows the same, not "waiting for clock".
        before = len(failures(events))
        await loop.apply(changed(root, "echo"))
        assert len(failures(events)) == before + 1
        assert describe(failures(events)[-1]) == describe(failure)
        assert not any("waiting for" in line for line in lines(events[-1:]))

        # The importer fixed: both go live together.
        src(root, "echo").write_text(ECHO.format(verb="tock"))
        await loop.apply(changed(root, "echo"))
        assert events[-1].kind == "deployed" and {"clock", "echo"} <= set(events[-1].modules)
        assert all(row.state is ModuleState.SERVING for row in loop.status.rows())

    run(root, scenario)


# -- 2. an ftl.toml that cannot be read ---------------------------------------------------------------


def test_a_module_file_that_cannot_be_read_keeps_the_module_for_its_importers(root: Path) -> None:
    module_file = root / "modules/clock/ftl.toml"
    good = module_file.read_text()

    async def scenario(loop: DevLoop, backplane: InterfaceBackplane, events: list[DevEvent]) -> None:
        backplane.calls.clear()
        module_file.write_text(good + 'watch = "oops"\n')
        await loop.apply(Changes(frozenset(), True, (module_file,)))
        [failure] = failures(events)
        assert [d.pos.filename for d in failure.diagnostics if d.pos] == ["modules/clock/ftl.toml"]
        assert backplane.calls == [] and "clock" in loop.modules and "clock" in backplane.live
        row = loop.status.get("clock")
        assert row is not None and row.state is ModuleState.FAILED and row.serving

        # Its importers build against the version that serves, on every edit.
        for n in (2, 3):
            src(root, "echo").write_text(ECHO.format(verb="tick") + f"Y = {n}\n")
            await loop.apply(changed(root, "echo"))
            assert events[-1].kind == "deployed" and "echo" in events[-1].modules
        assert len(failures(events)) == 1
        assert not any("unknown" in line for line in lines(events))

        # Fixed: deployed again, serving as before.
        module_file.write_text(good)
        await loop.apply(Changes(frozenset(), True, (module_file,)))
        assert ["clock"] in [c.modules[:1] for c in backplane.calls]
        row = loop.status.get("clock")
        assert row is not None and row.state is ModuleState.SERVING
        assert not [e for e in events if e.kind == "removed"]

    run(root, scenario)


# -- 3. live edits of ftl-project.toml ------------------------------------------------------------------


def test_project_file_edits_show_a_realm_rename_new_warnings_and_a_fix(root: Path) -> None:
    project_file = root / "ftl-project.toml"
    good = project_file.read_text()
    layout = Changes(frozenset(), True, (project_file,))

    async def scenario(loop: DevLoop, backplane: InterfaceBackplane, events: list[DevEvent]) -> None:
        backplane.calls.clear()
        project_file.write_text(good.replace('"t"', '"t2"'))
        await loop.apply(layout)
        await loop.apply(layout)
        [notice] = [e for e in events if e.kind == "notice"]
        assert describe(notice) == [
            "ftl-project.toml: realm 't2' takes effect when `ftl dev` restarts (serving realm 't' until then)"
        ]
        assert loop.project.realm == "t" and backplane.projects[-1].realm == "t"
        assert backplane.calls == []

        project_file.write_text(good + "modul_dirs = 1\n")
        await loop.apply(layout)
        await loop.apply(layout)
        [warning] = [e for e in events if e.kind == "warning"]
        assert describe(warning) == [
            "ftl-project.toml:3:1: warning: unknown key `modul_dirs` is ignored (did you mean `module-dirs`?)"
        ]
        project_file.write_text(good + "modul_dirs = 1\nsecrets = 2\n")
        await loop.apply(layout)
        assert len([e for e in events if e.kind == "warning"]) == 2

        project_file.write_text(good + "realm = \n")
        await loop.apply(layout)
        assert [str(d) for d in failures(events)[-1].diagnostics] == [
            "ftl-project.toml:3:9: invalid TOML: Invalid value"
        ]
        project_file.write_text(good)
        await loop.apply(layout)
        assert describe(events[-1]) == ["ftl-project.toml: ok again"]
        await loop.apply(layout)
        assert describe(events[-1]) == ["ftl-project.toml: ok again"]
        assert len([e for e in events if e.kind == "notice"]) == 2

    run(root, scenario)


# -- 4. reload time of a file whose mtime is not when it changed -------------------------------------


def test_saved_at_takes_the_newest_mtime_unless_it_predates_the_events_or_is_in_the_future(
    tmp_path: Path,
) -> None:
    now = time.time()
    old, fresh, future = (tmp_path / name for name in ("old", "fresh", "future"))
    for path, stamp in ((old, now - 7200), (fresh, now - 0.05), (future, now + 3600)):
        path.write_text("x")
        os.utime(path, (stamp, stamp))
    arrived = now - 0.02
    assert devloop._saved_at([old, fresh], arrived, now) == pytest.approx(now - 0.05)
    assert devloop._saved_at([old], arrived, now) == arrived
    assert devloop._saved_at([future], arrived, now) == arrived
    assert devloop._saved_at([old], None, now) == pytest.approx(now - 7200)
    assert devloop._saved_at([], None, now) == now


def test_a_copied_old_file_counts_its_reload_from_the_events_arrival(root: Path) -> None:
    now = time.time()

    async def scenario(loop: DevLoop, backplane: InterfaceBackplane, events: list[DevEvent]) -> None:
        source = src(root, "solo")
        source.write_text("X = 2\n")
        os.utime(source, (now - 7200, now - 7200))
        batch = Changes(frozenset({"solo"}), False, (source,), arrived=now - 0.5)
        await loop.apply(batch)
        assert events[-1].kind == "deployed" and events[-1].duration_ms == pytest.approx(500)

    run(root, scenario, clock=lambda: now)


# -- 5. a layout that changes between its scan and its watch ---------------------------------------------


def test_a_rename_finished_while_the_layout_was_being_read_is_not_lost(root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: InterfaceBackplane, events: list[DevEvent]) -> None:
        write_module(root, "stock")
        await loop.apply(Changes(frozenset(), True, ()))
        assert "stock" in backplane.live

        watcher = loop._watcher
        assert watcher is not None
        replan = watcher.replan
        finished = False

        async def late_edits(plan: object) -> None:
            # The rest of the rename lands after the directory was scanned, before it is watched.
            nonlocal finished
            if not finished:
                finished = True
                (root / "modules/inventory/stock").rename(root / "modules/inventory/inventory")
                (root / "modules/inventory/ftl.toml").write_text('module = "inventory"\n')
            await replan(plan)  # type: ignore[arg-type]

        watcher.replan = late_edits  # type: ignore[method-assign]
        (root / "modules/stock").rename(root / "modules/inventory")
        await loop.apply(Changes(frozenset(), True, ()))
        assert finished
        assert "inventory" in loop.modules and "stock" not in loop.modules
        assert "inventory" in backplane.live and "stock" not in backplane.live
        assert [m.name for m in watcher.plan.modules if m.name == "inventory"] == ["inventory"]

    run(root, scenario)


# -- 6. an edit that keeps a module's interface ------------------------------------------------------------


def test_an_edit_inside_function_bodies_deploys_the_module_without_its_importers(root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: InterfaceBackplane, events: list[DevEvent]) -> None:
        backplane.calls.clear()
        src(root, "clock").write_text(CLOCK.format(verb="tick", n=2))
        await loop.apply(changed(root, "clock"))
        assert [c.modules for c in backplane.calls] == [["clock"]]
        assert events[-1].kind == "deployed" and events[-1].modules == ("clock",)

        # Outside a function body: maybe the interface, so its importers go with it, as before.
        backplane.calls.clear()
        src(root, "clock").write_text(CLOCK.format(verb="tick", n=3) + "LIMIT = 3\n")
        await loop.apply(changed(root, "clock"))
        assert [c.modules for c in backplane.calls] == [["clock", "echo", "greeter"]]

    run(root, scenario)


def test_importers_follow_when_the_client_changed_after_all(root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: InterfaceBackplane, events: list[DevEvent]) -> None:
        # A new verb in a comment inside a body: the sources say "same interface", the client differs.
        backplane.calls.clear()
        src(root, "clock").write_text(
            CLOCK.format(verb="tick", n=2).replace("    return", "    # verb tock\n    return")
        )
        await loop.apply(changed(root, "clock"))
        assert [c.modules for c in backplane.calls] == [["clock"], ["echo", "greeter"]]
        assert [e.modules for e in events[-2:]] == [("clock",), ("echo", "greeter")]

    run(root, scenario)


def test_an_interface_its_importers_do_not_fit_is_deployed_with_them_to_show_their_errors(root: Path) -> None:
    async def scenario(loop: DevLoop, backplane: InterfaceBackplane, events: list[DevEvent]) -> None:
        backplane.calls.clear()
        src(root, "clock").write_text(CLOCK.format(verb="tock", n=1))
        await loop.apply(changed(root, "clock"))
        assert [c.modules for c in backplane.calls] == [["clock"], ["clock", "echo", "greeter"]]
        assert describe(failures(events)[-1]) == [
            "failed: echo (echo v1 still serving; clock not deployed either: clock v1 still serving)",
            "modules/echo/echo/__init__.py:5:1: module clock has no verb tick",
        ]

    run(root, scenario)


def test_the_interface_fingerprint_ignores_function_bodies_and_nothing_else(tmp_path: Path) -> None:
    source = write_module(tmp_path, "shop")
    info = ModuleInfo("shop", source.parent.parent, "shop", ())
    base = (
        '@ftl.verb\ndef buy(req: Req) -> Resp:\n    """Buys."""\n    return Resp(1)\n\n\n'
        "class C:\n    def m(self):\n        return 1\n"
    )

    def fingerprint(text: str) -> str | None:
        source.write_text(text)
        recheck_sources(source.parent)
        return interface_fingerprint(info)

    same = fingerprint(base)
    assert same is not None
    assert fingerprint(base.replace("Resp(1)", "Resp(2)\n    # verb x")) == same
    assert fingerprint(base.replace("return 1", "x = 1\n        return x")) == same
    assert fingerprint("# moved down\n\n" + base) == same
    for different in (
        base.replace('"""Buys."""', '"""Sells."""'),
        base.replace("@ftl.verb\n", "@ftl.verb(export=True)\n"),
        base.replace("req: Req", "req: Other"),
        base + "LIMIT = 3\n",
    ):
        assert fingerprint(different) != same, different
    assert fingerprint(base + "def broken(:\n") is None
    source.write_text(base)
    (source.parent / "extra.py").write_text("X = 1\n")
    recheck_sources(source.parent)
    assert interface_fingerprint(info) != same
