"""The backplane end to end: real runner processes, real sockets, the repo's example modules."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ftl.devserver.backplane import Backplane, CallResult
from ftl.devserver.timeline import Timeline, TimelineEvent
from ftl.project import load_project
from ftl.schema import ast

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

CRASHY = """
import logging
import os
import sys
import time
from dataclasses import dataclass

import ftl


@dataclass
class Req:
    text: str


@dataclass
class Resp:
    text: str


@dataclass
class TimeRequest:
    pass


@dataclass
class TimeResponse:
    time: str


LOOP = ftl.VerbClient("crashy", "ping", Req, Resp)


@ftl.verb(export=True)
def ping(req: Req) -> Resp:
    return LOOP(req) if req.text == "loop" else Resp(f"pong {req.text}")


@ftl.verb(export=True)
def explode(req: Req) -> Resp:
    raise RuntimeError(f"exploded on {req.text}")


@ftl.verb(export=True)
def die(req: Req) -> Resp:
    logging.getLogger("crashy").warning("logged before dying")
    print("last words on stdout")  # no flush: a crash report must still have it
    print("about to die: " + req.text, file=sys.stderr, flush=True)
    os._exit(3)


@ftl.verb(export=True)
def spin(req: Req) -> Resp:
    while True:  # a runaway call
        time.sleep(0.01)


@ftl.verb(export=True)
def peek(req: Req) -> Resp:
    # Made while the verb runs, so the build cannot see it: the call is not in +calls.
    clock = ftl.VerbClient("time", "time", TimeRequest, TimeResponse)
    return Resp(clock(TimeRequest()).time)
"""


def write_module(root: Path, name: str, source: str) -> Path:
    directory = root / name
    (directory / name).mkdir(parents=True, exist_ok=True)
    (directory / "ftl.toml").write_text(f'module = "{name}"\nlanguage = "python"\n')
    (directory / name / "__init__.py").write_text(textwrap.dedent(source))
    return directory


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shop")
    (root / "ftl-project.toml").write_text(
        'realm = "shop"\nmodule-dirs = ["modules"]\n\n[modules.greeter.config]\ngreeting = "Hi"\n'
    )
    (root / ".ftl").mkdir()
    (root / ".ftl" / "secrets.toml").write_text('[modules.greeter.secrets]\nsigningKey = "k"\n')
    for name in ("echo", "time", "greeter"):
        shutil.copytree(
            EXAMPLES / name, root / "modules" / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    write_module(root / "modules", "crashy", CRASHY)
    return root


class Watcher:
    """Wakes waiters whenever the schema state changes or the timeline gets an event."""

    def __init__(self, backplane: Backplane) -> None:
        self.changed = asyncio.Event()
        backplane.on_change(lambda event, state: self.changed.set())

    async def until(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture(scope="module")
async def backplane(project_dir: Path) -> AsyncIterator[Backplane]:
    project = load_project(project_dir / "ftl-project.toml")
    plane = Backplane(project, realm=project.realm, timeline=Timeline())
    await plane.start()
    try:
        modules = project_dir / "modules"
        result = await plane.deploy(
            [modules / "time", modules / "echo", modules / "greeter", modules / "crashy"]
        )
        assert result.state == "COMMITTED", [str(d) for d in result.diagnostics]
        yield plane
    finally:
        await plane.stop()


async def call(backplane: Backplane, target: str, body: object) -> CallResult:
    module, verb = target.split(".")
    return await backplane.call(module, verb, json.dumps(body).encode())


def events(backplane: Backplane, **query: str) -> list[TimelineEvent]:
    return backplane.timeline.query(**query, limit=1000)  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent that never reaps it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


async def until_gone(pids: list[int], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while any(alive(pid) for pid in pids):
            await asyncio.sleep(0.02)  # polling the process table: there is no event to wait on


async def test_deployed_modules_serve_and_call_each_other(backplane: Backplane) -> None:
    assert {d.module for d in backplane.deployments() if d.state == "live"} == {
        "time",
        "echo",
        "greeter",
        "crashy",
    }
    assert all(d.key.startswith(f"dpl-shop-{d.module}-") for d in backplane.deployments())

    result = await call(backplane, "greeter.greet", {"name": "Ada"})
    assert result.error is None, result.error
    assert result.body is not None
    reply = json.loads(result.body)
    assert reply["text"].startswith("Hi! Hello, Ada! It is ")
    assert len(reply["signature"]) == 64

    # One request id across the whole chain greeter → echo → time, reported by each runner.
    async with asyncio.timeout(10):
        while len(events(backplane, kind="call", request_id=result.request_id)) < 3:
            await asyncio.sleep(0.01)
    chain = {
        (e.module, e.verb, e.data.get("caller", "")) for e in events(backplane, request_id=result.request_id)
    }
    assert chain == {
        ("greeter", "greet", ""),
        ("echo", "echo", "greeter.greet"),
        ("time", "time", "echo.echo"),
    }


async def test_a_verb_error_says_what_was_raised_and_where_in_the_users_code(
    backplane: Backplane, project_dir: Path
) -> None:
    exploded = await call(backplane, "crashy.explode", {"text": "purpose"})
    error = exploded.error
    assert error is not None and error.exception == "RuntimeError"
    source = project_dir / "modules" / "crashy" / "crashy" / "__init__.py"
    raise_line = (
        source.read_text().splitlines().index('    raise RuntimeError(f"exploded on {req.text}")') + 1
    )
    assert Path(error.where.rpartition(":")[0]).resolve() == source.resolve()
    assert error.where.endswith(f":{raise_line}")
    assert "in explode" in error.traceback and "ftl/runtime" not in error.traceback
    assert error.traceback.endswith("RuntimeError: exploded on purpose\n")


async def test_call_errors_are_typed(backplane: Backplane) -> None:
    unknown_verb = await call(backplane, "echo.nope", {})
    assert unknown_verb.error is not None
    assert (unknown_verb.error.kind, unknown_verb.error.message) == (
        "not_found",
        "module echo has no verb nope",
    )
    unknown_module = await call(backplane, "nowhere.echo", {})
    assert unknown_module.error is not None and unknown_module.error.kind == "not_found"

    bad = await call(backplane, "echo.echo", {"name": 42})
    assert bad.error is not None
    assert bad.error.kind == "bad_request"
    assert "name" in bad.error.message

    exploded = await call(backplane, "crashy.explode", {"text": "purpose"})
    assert exploded.error is not None
    assert (exploded.error.kind, exploded.error.message) == ("verb_error", "exploded on purpose")

    snake = await call(
        backplane,
        "echo.echo_json",
        {
            "method": "POST",
            "path": "/echo",
            "pathParameters": {},
            "query": {},
            "headers": {},
            "body": {"name": "Bo"},
        },
    )
    assert snake.error is None, snake.error


async def test_calls_outside_the_callers_plus_calls_are_denied(backplane: Backplane) -> None:
    result = await call(backplane, "crashy.peek", {"text": ""})
    assert result.error is not None
    assert result.error.kind == "denied"
    assert "crashy.peek may not call time.time" in result.error.message


async def test_a_call_loop_is_stopped_with_a_clear_error(backplane: Backplane) -> None:
    result = await call(backplane, "crashy.ping", {"text": "loop"})
    assert result.error is not None
    assert result.error.kind == "loop"
    assert "call depth limit 32 exceeded" in result.error.message
    assert (await call(backplane, "crashy.ping", {"text": "again"})).body == b'{"text":"pong again"}'


async def test_a_crashed_runner_is_reported_once_and_restarted(backplane: Backplane) -> None:
    watcher = Watcher(backplane)
    [crashy] = [d for d in backplane.deployments() if d.module == "crashy"]
    first_pid = backplane.runner_pid(crashy.key)
    assert crashy.started_at > 0

    died = await call(backplane, "crashy.die", {"text": "on purpose"})
    assert died.error is not None and died.error.kind == "crashed"
    await watcher.until(
        lambda: backplane.runner_pid(crashy.key) != first_pid and _endpoint(backplane, "crashy")
    )
    assert (await call(backplane, "crashy.ping", {"text": "back"})).body == b'{"text":"pong back"}'
    # `ftl ps` STARTED is the restarted runner's start, not the deploy's.
    [restarted] = [d for d in backplane.deployments() if d.module == "crashy"]
    assert restarted.key == crashy.key and restarted.started_at > crashy.started_at

    reports = [e for e in events(backplane, kind="deployment", module="crashy") if e.level == "error"]
    assert len(reports) == 1
    assert "exited unexpectedly (exit status 3)" in reports[0].message
    assert (
        "WARNING crashy: logged before dying\nlast words on stdout\nabout to die: on purpose"
        in (reports[0].data["stderr"])
    )
    # Crashes and restarts are told apart by a field, not by their wording.
    runner_events = [e.data.get("runner") for e in events(backplane, kind="deployment", module="crashy")]
    assert runner_events[:2] == ["restarted", "crashed"]  # newest first
    assert reports[0].data["runner"] == "crashed"

    # Killed from outside: the same, and the deployment key stays.
    second_pid = backplane.runner_pid(crashy.key)
    os.kill(second_pid, signal.SIGKILL)
    await watcher.until(
        lambda: backplane.runner_pid(crashy.key) not in (0, second_pid) and _endpoint(backplane, "crashy")
    )
    assert (await call(backplane, "crashy.ping", {"text": "again"})).body == b'{"text":"pong again"}'
    assert [d.key for d in backplane.deployments() if d.module == "crashy"] == [crashy.key]
    killed = [e for e in events(backplane, kind="deployment", module="crashy") if e.level == "error"]
    assert "killed by SIGKILL" in killed[0].message


def _endpoint(backplane: Backplane, module: str) -> bool:
    return any(d.module == module and d.state == "live" and d.endpoint for d in backplane.deployments())


async def test_a_redeploy_during_a_stream_of_calls_fails_no_call(
    backplane: Backplane, project_dir: Path
) -> None:
    [old] = [d for d in backplane.deployments() if d.module == "echo"]
    old_pid = backplane.runner_pid(old.key)
    failures: list[object] = []
    done = 0
    stop = asyncio.Event()

    async def caller(target: str, body: object) -> None:
        nonlocal done
        while not stop.is_set():
            result = await call(backplane, target, body)
            if result.error is not None:
                failures.append(result.error)
            done += 1

    callers = [asyncio.create_task(caller("echo.echo", {"name": "x"})) for _ in range(4)]
    callers += [asyncio.create_task(caller("greeter.greet", {"name": "y"})) for _ in range(2)]
    for _ in range(2):
        result = await backplane.deploy([project_dir / "modules" / "echo"])
        assert result.state == "COMMITTED", result.diagnostics
    await backplane.wait_drained()
    stop.set()
    await asyncio.gather(*callers)
    assert done > 0
    assert failures == []
    [new] = [d for d in backplane.deployments() if d.module == "echo"]
    assert new.version == old.version + 2
    assert not alive(old_pid)


async def test_a_replaced_deployment_with_a_runaway_call_is_stopped_after_the_drain_timeout(
    backplane: Backplane, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backplane._deployer, "drain_timeout", 0.2)
    [old] = [d for d in backplane.deployments() if d.module == "crashy"]
    old_pid = backplane.runner_pid(old.key)
    runaway = asyncio.create_task(call(backplane, "crashy.spin", {"text": "forever"}))
    async with asyncio.timeout(30):
        while backplane._router.in_flight(old.key) != 1:
            await asyncio.sleep(0.01)  # polled: nothing signals a call being sent
    result = await backplane.deploy([project_dir / "modules" / "crashy"])
    assert result.state == "COMMITTED", result.diagnostics
    async with asyncio.timeout(30):
        await backplane.wait_drained()
        failed = await runaway
    assert failed.error is not None and failed.error.kind == "crashed"
    assert (
        failed.error.message
        == "module crashy stopped during the call (its old version ran 0.2 s after a new one went live)"
    )
    assert not alive(old_pid)
    [warning] = [e for e in events(backplane, kind="log", module="crashy") if e.level == "warn"]
    assert warning.message.startswith(f"the replaced version of crashy ({old.key}) was still running a call")
    assert (await call(backplane, "crashy.ping", {"text": "new"})).body == b'{"text":"pong new"}'


async def test_a_changeset_that_breaks_a_dependent_fails_and_the_old_version_serves(
    backplane: Backplane, project_dir: Path
) -> None:
    echo = project_dir / "modules" / "echo"
    source = (echo / "echo" / "__init__.py").read_text()
    before = [d.key for d in backplane.deployments()]
    try:
        (echo / "echo" / "__init__.py").write_text(source.replace("def echo(", "def echo_renamed("))
        result = await backplane.deploy([echo])
    finally:
        (echo / "echo" / "__init__.py").write_text(source)
    assert result.state == "FAILED"
    assert result.diagnostics
    assert [d.key for d in backplane.deployments()] == before
    assert (await call(backplane, "greeter.greet", {"name": "z"})).error is None
    failure = backplane.failed_deploys()["echo"]
    assert failure.changeset == result.changeset
    assert failure.diagnostics == tuple(str(d) for d in result.diagnostics)
    assert "greeter" not in backplane.failed_deploys()
    [noted] = [e for e in backplane.timeline.query(kind="deployment", module="echo") if e.level == "error"][
        :1
    ]  # newest first
    assert noted.message.startswith("echo deploy failed (v") and "still serving" in noted.message

    assert (await backplane.deploy([echo])).state == "COMMITTED"
    assert "echo" not in backplane.failed_deploys()  # the newest attempt went live


async def test_a_module_that_does_not_import_fails_with_its_position(
    backplane: Backplane, project_dir: Path
) -> None:
    broken = write_module(project_dir / "modules", "broken", "import ftl\n\nVALUE = 1 / 0\n")
    try:
        result = await backplane.deploy([broken])
    finally:
        shutil.rmtree(broken)
    assert result.state == "FAILED"
    [problem] = result.diagnostics
    assert "ZeroDivisionError" in problem.message
    assert backplane.failed_deploys()["broken"].reason
    assert problem.pos is not None and problem.pos.line == 3


async def test_stop_leaves_no_process_behind(project_dir: Path) -> None:
    # Without a project too: a module directory on its own, no stubs, no config.
    plane = Backplane(None, realm="solo", timeline=Timeline())
    await plane.start()
    try:
        result = await plane.deploy([project_dir / "modules" / "time"])
        assert result.state == "COMMITTED", result.diagnostics
        assert result.deployments[0].startswith("dpl-solo-time-")
        assert (await call(plane, "time.time", {})).error is None
        pids = [plane.runner_pid(key) for key in result.deployments]
        pids.append(parent_of(pids[0]))  # the zygote
        assert all(alive(pid) for pid in pids)
    finally:
        await plane.stop()
    assert not any(alive(pid) for pid in pids)


BACKPLANE_SCRIPT = """
import asyncio, sys
from pathlib import Path
from ftl.devserver.backplane import Backplane
from ftl.devserver.timeline import Timeline
from ftl.project import load_project


async def main():
    project = load_project(Path(sys.argv[1]))
    plane = Backplane(project, realm=project.realm, timeline=Timeline())
    await plane.start()
    result = await plane.deploy([Path(sys.argv[2])], build=False)
    print(*(plane.runner_pid(key) for key in result.deployments), flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
"""


async def test_runners_and_the_zygote_exit_when_the_backplane_dies(project_dir: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BACKPLANE_SCRIPT,
        str(project_dir / "ftl-project.toml"),
        str(project_dir / "modules" / "time"),
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    pids: list[int] = []
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        [runner] = [int(pid) for pid in line.split()]
        pids = [runner, parent_of(runner)]  # the runner and the zygote it was forked from
        assert all(alive(pid) for pid in pids)
        process.kill()
        await process.wait()
        await until_gone(pids)
    finally:
        for pid in [process.pid, *pids]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# -- changesets of a module and its importers, without an in-process build --------------------

STAMP = """
from dataclasses import dataclass

import ftl


@dataclass
class StampRequest:
    text: str


@dataclass
class Stamp:
    text: str{extra_field}


@ftl.verb(export=True)
def stamp(req: StampRequest) -> Stamp:
    return Stamp(text=f"[{{req.text}}]"{extra_value})
"""

STAMPER = """
from dataclasses import dataclass

from ftl_modules import stamp as stamp_client

import ftl

{broken}


@dataclass
class Note:
    text: str


@ftl.verb(export=True)
def note(req: Note) -> Note:
    stamped = stamp_client.stamp(stamp_client.StampRequest(text=req.text))
    return Note(text=stamped.{field})
"""


def write_stamp_modules(root: Path, *, extra: bool = False, broken: bool = False) -> list[Path]:
    stamp = STAMP.format(
        extra_field="\n    extra: str" if extra else "", extra_value=', extra="new"' if extra else ""
    )
    stamper = STAMPER.format(broken="VALUE = 1 / 0" if broken else "", field="extra" if extra else "text")
    return [
        write_module(root / "modules", "stamp", stamp),
        write_module(root / "modules", "stamper", stamper),
    ]


@pytest.fixture
async def fresh(tmp_path: Path) -> AsyncIterator[Backplane]:
    (tmp_path / "ftl-project.toml").write_text('realm = "fresh"\nmodule-dirs = ["modules"]\n')
    project = load_project(tmp_path / "ftl-project.toml")
    plane = Backplane(project, realm=project.realm, timeline=Timeline())
    await plane.start()
    try:
        yield plane
    finally:
        await plane.stop()


async def test_a_module_and_its_importer_deploy_together_without_a_build(fresh: Backplane) -> None:
    assert fresh.project is not None
    root = fresh.project.root
    stub = root / ".ftl/stubs/ftl_modules/stamp.py"
    assert not stub.exists()  # only the changeset itself can provide the client stamper imports

    result = await fresh.deploy(write_stamp_modules(root), build=False)
    assert result.state == "COMMITTED", [str(d) for d in result.diagnostics]
    assert (await call(fresh, "stamper.note", {"text": "a"})).body == b'{"text":"[a]"}'
    assert "class Stamp" in stub.read_text()

    # The importer sees the new client at once: its runner starts after the dependency reported.
    result = await fresh.deploy(write_stamp_modules(root, extra=True), build=False)
    assert result.state == "COMMITTED", [str(d) for d in result.diagnostics]
    assert (await call(fresh, "stamper.note", {"text": "b"})).body == b'{"text":"new"}'
    serving = stub.read_text()

    # A failed changeset puts back the client of the version that serves.
    dirs = write_stamp_modules(root, broken=True)
    result = await fresh.deploy(dirs, build=False)
    assert result.state == "FAILED"
    assert any("ZeroDivisionError" in d.message for d in result.diagnostics)
    assert stub.read_text() == serving
    assert (await call(fresh, "stamper.note", {"text": "c"})).body == b'{"text":"new"}'


async def test_modules_importing_each_others_clients_fail_with_the_cycle(fresh: Backplane) -> None:
    assert fresh.project is not None
    modules = fresh.project.root / "modules"
    ping = write_module(modules, "ping", "from ftl_modules import pong\n")
    pong = write_module(modules, "pong", "from ftl_modules import ping\n")
    result = await fresh.deploy([ping, pong], build=False)
    assert result.state == "FAILED"
    assert [d.message for d in result.diagnostics] == ["found cycle in dependencies: ping -> pong -> ping"]


# -- the project file changes under a running backplane ------------------------------------------

BANK = """realm bank {{
  module balance {{
    export realm data {data} {{
      amount Int
    }}

    export realm verb {verb}(Unit) balance.{data}
  }}
}}
"""

SHOP = """
from dataclasses import dataclass

from ftl_modules.bank import balance

import ftl


@dataclass
class Paid:
    receipt: balance.{data}


@ftl.verb(export=True)
def pay(req: None) -> Paid:
    return Paid(receipt=balance.{data}(amount=1))
"""


def pin_realm(root: Path, commit: str, verb: str, data: str = "Receipt") -> str:
    """A pin of realm `bank` whose public schema is already in the cache (so no git is needed)."""
    from ftl.project import RealmPin
    from ftl.realm import cache

    pin = RealmPin("bank", "file:///nowhere/bank", "", commit * 40, "ftl-public-schema.ftl")
    cache.store(root / ".ftl", pin, BANK.format(verb=verb, data=data))
    return f'\n[realms.egress.bank]\ngit-repo = "{pin.git_repo}"\ngit-commit = "{pin.git_commit}"\n'


async def test_set_project_repins_changed_realms_and_unpins_dropped_ones(tmp_path: Path) -> None:
    project_file = tmp_path / "ftl-project.toml"
    base = 'realm = "shop"\nmodule-dirs = ["modules"]\n'
    project_file.write_text(base + pin_realm(tmp_path, "a", "withdraw"))
    plane = Backplane(load_project(project_file), realm="shop", timeline=Timeline())
    await plane.start()
    try:

        def bank_verbs() -> list[str]:
            realm = plane.schema().realm("bank")
            balance = realm.module("balance") if realm is not None else None
            return [d.name for d in balance.decls if isinstance(d, ast.Verb)] if balance else []

        assert bank_verbs() == ["withdraw"]
        project_file.write_text(base + pin_realm(tmp_path, "b", "deposit"))
        assert await plane.set_project(load_project(project_file)) == []
        assert bank_verbs() == ["deposit"]

        project_file.write_text(base)
        assert await plane.set_project(load_project(project_file)) == []
        assert plane.schema().realm("bank") is None
        assert [e.message for e in events(plane, kind="changeset")][:2] == [
            "external realm bank unpinned",
            "external realm bank pinned",
        ]
    finally:
        await plane.stop()


async def test_set_project_reports_a_realm_that_cannot_be_loaded(tmp_path: Path) -> None:
    project_file = tmp_path / "ftl-project.toml"
    project_file.write_text('realm = "shop"\nmodule-dirs = ["modules"]\n')
    plane = Backplane(load_project(project_file), realm="shop", timeline=Timeline())
    await plane.start()
    try:
        project_file.write_text(
            project_file.read_text()
            + f'\n[realms.egress.bank]\ngit-repo = "{(tmp_path / "no-repo").as_uri()}"\n'
            + f'git-commit = "{"c" * 40}"\n'
        )
        problems = await plane.set_project(load_project(project_file))
        assert problems and problems[0].message.startswith("realm bank could not be loaded: ")
        assert plane.schema().realm("bank") is None
    finally:
        await plane.stop()


async def test_one_pin_that_cannot_be_loaded_keeps_no_other_realm_out(tmp_path: Path) -> None:
    project_file = tmp_path / "ftl-project.toml"
    broken = (
        f'\n[realms.egress.gone]\ngit-repo = "{(tmp_path / "no-repo").as_uri()}"\ngit-commit = "{"c" * 40}"\n'
    )
    project_file.write_text(
        'realm = "shop"\nmodule-dirs = ["modules"]\n' + pin_realm(tmp_path, "a", "withdraw") + broken
    )
    plane = Backplane(load_project(project_file), realm="shop", timeline=Timeline())
    await plane.start()
    try:
        assert plane.schema().realm("bank") is not None
        [problem, *_] = plane.realm_problems()
        assert problem.message.startswith("realm gone could not be loaded: ")
        # Still there when the file is read again (no change of pins: nothing reloaded).
        assert await plane.set_project(load_project(project_file)) == []
        assert plane.realm_problems()[0] == problem
    finally:
        await plane.stop()


async def test_a_realm_version_the_live_modules_do_not_fit_goes_live_with_modules_built_for_it(
    tmp_path: Path,
) -> None:
    from ftl.build.stubs import write_realm_stubs

    project_file = tmp_path / "ftl-project.toml"
    base = 'realm = "shop"\nmodule-dirs = ["modules"]\n'
    project_file.write_text(base + pin_realm(tmp_path, "a", "withdraw"))
    plane = Backplane(load_project(project_file), realm="shop", timeline=Timeline())
    await plane.start()

    async def deploy_shop(data: str) -> str:
        for realm in plane.external_realms():  # what `ftl dev` builds against
            write_realm_stubs(tmp_path, realm)
        shop = write_module(tmp_path / "modules", "shop", SHOP.format(data=data))
        result = await plane.deploy([shop], build=False)
        return result.state

    def live_bank_types() -> list[str]:
        realm = plane.schema().realm("bank")
        balance = realm.module("balance") if realm is not None else None
        return [d.name for d in balance.decls if isinstance(d, ast.Data)] if balance else []

    try:
        assert await deploy_shop("Receipt") == "COMMITTED"
        # `ftl realm update` to a version that renames the type the live shop uses.
        project_file.write_text(base + pin_realm(tmp_path, "b", "withdraw", data="Statement"))
        assert await plane.set_project(load_project(project_file)) == []
        assert live_bank_types() == ["Receipt"]  # the live shop does not fit the new version yet
        [waiting] = plane.external_realms()
        balance = waiting.module("balance")
        assert balance is not None and balance.decl("Statement") is not None

        assert await deploy_shop("Receipt") == "FAILED"  # built against the new version: no Receipt
        assert live_bank_types() == ["Receipt"]
        assert await deploy_shop("Statement") == "COMMITTED"
        assert live_bank_types() == ["Statement"]
        pins = [e for e in events(plane, kind="changeset") if e.message == "external realm bank pinned"]
        assert len(pins) == 2  # at start, and with the changeset that brought the fitting shop
        assert (await call(plane, "shop.pay", {})).body == b'{"receipt":{"amount":1}}'

        # Unpinned while the shop uses it: it stays until the shop no longer does.
        project_file.write_text(base)
        assert await plane.set_project(load_project(project_file)) == []
        assert plane.schema().realm("bank") is not None and plane.external_realms() == []
        plain = write_module(
            tmp_path / "modules", "shop", "import ftl\n\n\n@ftl.verb\ndef pay(req: None) -> None:\n    pass\n"
        )
        assert (await plane.deploy([plain], build=False)).state == "COMMITTED"
        assert plane.schema().realm("bank") is None
    finally:
        await plane.stop()
