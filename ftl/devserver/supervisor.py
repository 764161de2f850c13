"""Runner processes: started from a pre-warmed zygote, watched, restarted, stopped.

Every runner connects back to the supervisor's control port and registers; the control
connection is its lifeline both ways: a runner exits when it closes, and the supervisor takes a
control connection that drops without a Stop as a crash. A crash is reported once (with the
runner's stderr tail) and the runner is restarted under the same deployment key with exponential
back-off. Everything started here is in a process group the supervisor kills on `stop()`.

Nothing started here may outlive the backplane either when it cannot run `stop()` (SIGKILL, a
crash): the supervisor holds the only write end of a lifeline pipe whose read end every zygote
and runner inherits, and each of them exits when it closes (see `ftl.runtime.zygote`).

A zygote that dies (killed, out of memory) leaves its runners serving; a warm replacement is
started at once, and a fork that finds the zygote gone is retried once on a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ftl.errors import Diagnostic, Position
from ftl.runtime.protocol import (
    Connection,
    EventRecord,
    Events,
    LoadFailed,
    Message,
    Publish,
    Register,
    Routes,
    RoutesApplied,
    Stop,
    WireDiagnostic,
    join_endpoint,
)
from ftl.runtime.runner import RunnerSpec

REGISTER_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0
ROUTES_TIMEOUT_S = 10.0
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
STABLE_AFTER_S = 30.0  # a runner that ran this long before crashing starts its back-off afresh
TAIL_LINES = 20
TAIL_BYTES = 8192


class RunnerFailed(Exception):
    """A runner could not be started: its module did not load, or it died on the way up."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None) -> None:
        self.diagnostics = diagnostics or [Diagnostic(message)]
        super().__init__(message)


@dataclass(eq=False)
class RunnerProcess:
    """One deployment's runner, across restarts."""

    deployment: str
    module: str
    spec: RunnerSpec
    log_path: Path
    pid: int = 0
    endpoint: str = ""
    state: str = "starting"  # starting → running → (restarting → running)* → stopping → stopped
    started_at: float = 0.0
    control: Connection | None = None
    registered: asyncio.Future[Register] | None = None
    exited: asyncio.Future[int | None] | None = None
    zygote: _Zygote | None = None
    crashes: int = 0
    last_report: str = ""
    routes_waiting: dict[int, asyncio.Future[None]] = field(default_factory=dict)


class Supervisor:
    """Starts, watches and stops runner processes; owns the control port they connect to."""

    def __init__(
        self,
        *,
        on_events: Callable[[RunnerProcess, list[EventRecord]], None],
        on_endpoint: Callable[[RunnerProcess], None],
        on_report: Callable[[RunnerProcess, str, str, str], None],
        on_publish: Callable[[RunnerProcess, Publish], None] | None = None,
        host: str = "127.0.0.1",
        cwd: Path | None = None,
    ) -> None:
        self._on_events = on_events
        self._on_publish = on_publish
        self._on_endpoint = on_endpoint  # a runner's endpoint changed (down: "", or up again)
        self._on_report = on_report  # (runner, level, message, stderr tail)
        self._host = host
        self._cwd = cwd
        self._runners: dict[str, RunnerProcess] = {}
        self._by_connection: dict[Connection, RunnerProcess] = {}
        self._zygote: _Zygote | None = None
        self._zygotes: list[_Zygote] = []
        self._zygote_lock = asyncio.Lock()
        self._stopping = False
        self._server: asyncio.Server | None = None
        self._log_dir: Path | None = None  # created by start(); stop() removes only that
        self._lifeline: tuple[int, int] | None = None  # (read, write), from start() until stop()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.control_endpoint = ""

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        _remove_stale_log_dirs()
        self._log_dir = Path(tempfile.mkdtemp(prefix=f"{LOG_DIR_PREFIX}{os.getpid()}-"))
        self._server = await loop.create_server(lambda: Connection(self._received, self._lost), self._host, 0)
        port = self._server.sockets[0].getsockname()[1]
        self.control_endpoint = join_endpoint(self._host, port)
        self._lifeline = _lifeline_pipe()
        # Warms up while the caller goes on (builds, binds its ports); the first fork waits for it.
        await self._running_zygote()

    def runner(self, deployment: str) -> RunnerProcess | None:
        return self._runners.get(deployment)

    def runners(self) -> list[RunnerProcess]:
        return list(self._runners.values())

    # -- starting -------------------------------------------------------------------------------

    async def start_runner(self, module: str, spec: RunnerSpec) -> RunnerProcess:
        """Fork a runner for `spec.deployment`; `wait_registered` then waits for it to come up."""
        spec = msgspec.structs.replace(spec, control=self.control_endpoint, host=self._host)
        runner = RunnerProcess(spec.deployment, module, spec, self._logs() / f"{spec.deployment}.log")
        self._runners[spec.deployment] = runner
        await self._launch(runner)
        return runner

    async def _launch(self, runner: RunnerProcess) -> None:
        loop = asyncio.get_running_loop()
        runner.registered = loop.create_future()
        runner.exited = loop.create_future()
        runner.endpoint = ""
        zygote, runner.pid = await self._fork(runner)
        runner.zygote = zygote
        zygote.children[runner.pid] = runner
        runner.started_at = time.time()

    async def _fork(self, runner: RunnerProcess) -> tuple[_Zygote, int]:
        zygote = await self._ready_zygote()
        try:
            return zygote, await zygote.fork(runner.spec, runner.log_path)
        except RunnerFailed:
            if zygote.alive:
                raise
        # It died before we noticed (its exit is read concurrently): once more, on a fresh one.
        zygote = await self._ready_zygote()
        return zygote, await zygote.fork(runner.spec, runner.log_path)

    async def wait_registered(self, runner: RunnerProcess, timeout: float = REGISTER_TIMEOUT_S) -> Register:
        """The runner's registration; RunnerFailed if its module did not load or it died first."""
        assert runner.registered is not None and runner.exited is not None
        registered, exited = runner.registered, runner.exited
        either: set[asyncio.Future[Any]] = {registered, exited}
        done, _ = await asyncio.wait(either, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if registered in done:
            register = registered.result()  # raises RunnerFailed for LoadFailed
            runner.state = "running"
            return register
        if exited in done:
            status = describe_status(exited.result())
            raise RunnerFailed(
                f"the runner of module {runner.module} exited during start-up ({status})"
                + _indent(self.stderr_tail(runner))
            )
        self._kill(runner)
        raise RunnerFailed(
            f"the runner of module {runner.module} did not start within {timeout:.0f} s: "
            "does its code block while it is imported (a loop, a sleep, a network call at top level)?"
        )

    # -- control connections --------------------------------------------------------------------

    def _received(self, connection: Connection, message: Message) -> None:
        runner = self._by_connection.get(connection)
        if runner is None:
            self._first_message(connection, message)
        elif isinstance(message, Events):
            self._on_events(runner, message.events)
        elif isinstance(message, Publish):
            if self._on_publish is not None:
                self._on_publish(runner, message)
        elif isinstance(message, RoutesApplied):
            for version in [v for v in runner.routes_waiting if v <= message.version]:
                _resolve(runner.routes_waiting.pop(version))

    def _first_message(self, connection: Connection, message: Message) -> None:
        if not isinstance(message, Register | LoadFailed):
            connection.close()
            return
        runner = self._runners.get(message.deployment)
        if (
            runner is None
            or runner.registered is None
            or runner.registered.done()
            or runner.pid not in (0, message.pid)  # 0: the zygote's fork reply is still on its way
        ):
            connection.close()  # a stale runner of a deployment (or an incarnation) we no longer run
            return
        if isinstance(message, LoadFailed):
            module = runner.module
            diagnostics = [_diagnostic(d) for d in message.diagnostics] or [
                Diagnostic(f"module {module} failed to load")
            ]
            runner.registered.set_exception(RunnerFailed(f"module {module} failed to load", diagnostics))
            connection.close()
            return
        runner.control = connection
        runner.endpoint = message.endpoint
        self._by_connection[connection] = runner
        runner.registered.set_result(message)

    def _lost(self, connection: Connection, exc: Exception | None) -> None:
        runner = self._by_connection.pop(connection, None)
        if runner is None or runner.control is not connection:
            return
        runner.control = None
        for waiter in runner.routes_waiting.values():
            _resolve(waiter)
        runner.routes_waiting.clear()
        if (
            runner.zygote is not None
            and not runner.zygote.alive
            and runner.exited
            and not runner.exited.done()
        ):
            runner.exited.set_result(None)  # its zygote is gone: no one will report the exit
        if runner.state == "running":
            self._spawn_task(self._recover(runner))

    # -- routes ---------------------------------------------------------------------------------

    async def push_routes(self, routes: Mapping[str, Routes], timeout: float = ROUTES_TIMEOUT_S) -> None:
        """Send each runner its routes; return once all have applied them (or gone away)."""
        loop = asyncio.get_running_loop()
        waiting = []
        for deployment, table in routes.items():
            runner = self._runners.get(deployment)
            if runner is None or runner.control is None:
                continue
            waiter = runner.routes_waiting.get(table.version)
            if waiter is None:
                waiter = runner.routes_waiting[table.version] = loop.create_future()
            runner.control.send(table)
            waiting.append(waiter)
        if waiting:
            await asyncio.wait(waiting, timeout=timeout)

    # -- crashes --------------------------------------------------------------------------------

    async def _recover(self, runner: RunnerProcess) -> None:
        while runner.state in ("running", "restarting"):
            uptime = time.time() - runner.started_at
            runner.state = "restarting"
            if runner.endpoint:
                runner.endpoint = ""
                self._on_endpoint(runner)
            status = await self._exit_status(runner)
            tail = self.stderr_tail(runner)
            self._report_crash(runner, f"exited unexpectedly ({describe_status(status)})", tail, uptime)
            while runner.state == "restarting":
                delay = min(BACKOFF_FIRST_S * 2**runner.crashes, BACKOFF_MAX_S)
                runner.crashes += 1
                await asyncio.sleep(delay)  # back-off between restarts, not a synchronisation
                if runner.state != "restarting":
                    return
                try:
                    await self._launch(runner)
                    if runner.state != "restarting":  # stopped while it was being forked
                        self._kill(runner)
                        return
                    register = await self.wait_registered(runner)
                except RunnerFailed as failure:
                    self._report_crash(runner, "failed to restart", str(failure), 0.0)
                    continue
                runner.endpoint = register.endpoint
                self._on_report(runner, "info", f"restarted (pid {runner.pid})", "")
                self._on_endpoint(runner)
                return

    def _report_crash(self, runner: RunnerProcess, what: str, tail: str, uptime: float) -> None:
        if uptime > STABLE_AFTER_S:
            runner.crashes = 0
            runner.last_report = ""
        # The same failure over and over (a crash loop) is reported once, not on every restart.
        key = f"{what}\n{tail}"
        if key == runner.last_report:
            return
        runner.last_report = key
        self._on_report(runner, "error", what, tail)

    async def _exit_status(self, runner: RunnerProcess) -> int | None:
        assert runner.exited is not None
        try:
            return await asyncio.wait_for(asyncio.shield(runner.exited), STOP_TIMEOUT_S)
        except TimeoutError:
            self._kill(runner)  # its lifeline is gone; it must not linger
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(runner.exited), 1.0)
        return None

    def stderr_tail(self, runner: RunnerProcess) -> str:
        try:
            with runner.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - TAIL_BYTES))
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.strip("\n").splitlines()[-TAIL_LINES:])

    # -- stopping -------------------------------------------------------------------------------

    async def stop_runner(self, runner: RunnerProcess, timeout: float = STOP_TIMEOUT_S) -> None:
        """Ask the runner to finish and exit; kill it if it does not within `timeout`."""
        runner.state = "stopping"
        if runner.control is not None:
            runner.control.send(Stop())
        elif runner.registered is not None and not runner.registered.done():
            self._kill(runner)
        if runner.exited is not None and runner.pid:
            try:
                await asyncio.wait_for(asyncio.shield(runner.exited), timeout)
            except TimeoutError:
                self._kill(runner)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(runner.exited), 1.0)
        runner.state = "stopped"
        if self._runners.get(runner.deployment) is runner:
            del self._runners[runner.deployment]

    async def stop(self) -> None:
        """Stop every runner and zygote, then the control port."""
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        # Settled before going on: a zygote being started when cancelled is gone once this returns.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(self.stop_runner(r, timeout=2.0) for r in list(self._runners.values())))
        for zygote in self._zygotes:
            await zygote.stop()
        self._zygotes.clear()
        self._zygote = None
        if self._lifeline is not None:
            for fd in self._lifeline:
                os.close(fd)  # the write end last: whatever the kills above missed exits now
            self._lifeline = None
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self._by_connection):
            connection.abort()
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None

    def _logs(self) -> Path:
        if self._log_dir is None:
            raise RuntimeError("the supervisor is not started")
        return self._log_dir

    def _lifeline_read(self) -> int:
        if self._lifeline is None:
            raise RuntimeError("the supervisor is not started")
        return self._lifeline[0]

    def _kill(self, runner: RunnerProcess) -> None:
        if runner.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(runner.pid, signal.SIGKILL)

    # -- zygotes --------------------------------------------------------------------------------

    async def _running_zygote(self) -> _Zygote:
        async with self._zygote_lock:  # one replacement, however many forks find the old one gone
            if self._zygote is None or not self._zygote.alive:
                self._zygote = _Zygote(
                    self._logs() / "zygote.log",
                    self._cwd,
                    self._lifeline_read(),
                    self._child_exited,
                    self._zygote_gone,
                )
                self._zygotes.append(self._zygote)
                await self._zygote.start()
            return self._zygote

    async def _ready_zygote(self) -> _Zygote:
        zygote = await self._running_zygote()
        await zygote.wait_ready()
        return zygote

    def _child_exited(self, runner: RunnerProcess, status: int | None) -> None:
        if runner.exited is not None and not runner.exited.done():
            runner.exited.set_result(status)

    def _zygote_gone(self, zygote: _Zygote) -> None:
        for runner in zygote.children.values():
            registered = runner.registered is not None and runner.registered.done()
            if runner.zygote is zygote and registered and runner.control is None:
                self._child_exited(runner, None)  # its lifeline is gone and no one will report its exit
        if zygote is self._zygote and zygote.warmed and not self._stopping:
            # Warm a replacement now, so the next deploy does not wait for it; one that never got
            # warm is only retried by the next fork, which reports it if it fails again.
            self._spawn_task(self._running_zygote())

    def _spawn_task(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _Zygote:
    """The pre-warmed process runners are forked from (see `ftl.runtime.zygote`)."""

    def __init__(
        self,
        log_path: Path,
        cwd: Path | None,
        lifeline: int,
        on_exit: Callable[[RunnerProcess, int | None], None],
        on_gone: Callable[[_Zygote], None],
    ) -> None:
        self._log_path = log_path
        self._cwd = cwd
        self._lifeline = lifeline
        self._on_exit = on_exit
        self._on_gone = on_gone
        self._process: asyncio.subprocess.Process | None = None
        self._ready: asyncio.Future[None] | None = None
        self._forks: dict[int, asyncio.Future[int]] = {}
        self._next_id = 0
        self._reader: asyncio.Task[None] | None = None
        self.children: dict[int, RunnerProcess] = {}
        self.alive = False
        self.warmed = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        # Its failure is reported to whoever waits for it; nobody waiting is fine too.
        self._ready.add_done_callback(lambda ready: ready.cancelled() or ready.exception())
        with self._log_path.open("ab") as log:
            # -P: never import from the current directory; the zygote must stay free of user code.
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-P",
                "-m",
                "ftl.runtime.zygote",
                str(self._lifeline),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                cwd=self._cwd,
                start_new_session=True,
                pass_fds=(self._lifeline,),
            )
        self.alive = True
        self._reader = loop.create_task(self._read())

    async def wait_ready(self) -> None:
        assert self._ready is not None
        await asyncio.shield(self._ready)

    async def fork(self, spec: RunnerSpec, log_path: Path) -> int:
        assert self._process is not None and self._process.stdin is not None
        if not self.alive:
            raise RunnerFailed("the runner zygote is not running")
        self._next_id += 1
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._forks[self._next_id] = waiter
        request = {"id": self._next_id, "spec": spec, "log": str(log_path)}
        self._process.stdin.write(msgspec.json.encode(request) + b"\n")
        return await waiter

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        try:
            while line := await self._process.stdout.readline():
                self._dispatch(msgspec.json.decode(line))
        finally:
            self.alive = False
            problem = RunnerFailed(f"the runner zygote exited: {self._tail()}")
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(problem)
            for waiter in self._forks.values():
                if not waiter.done():
                    waiter.set_exception(problem)
            self._on_gone(self)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "ready" in message:
            self.warmed = True
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
        elif "exited" in message:
            runner = self.children.pop(message["exited"], None)
            if runner is not None:
                self._on_exit(runner, message["status"])
        else:
            waiter = self._forks.pop(message.get("id", 0), None)
            if waiter is not None and not waiter.done():
                if "pid" in message:
                    waiter.set_result(message["pid"])
                else:
                    waiter.set_exception(RunnerFailed(str(message.get("error", "fork failed"))))

    def _tail(self) -> str:
        try:
            return self._log_path.read_text("utf-8", "replace").strip()[-2000:] or "no output"
        except OSError:
            return "no output"

    async def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 2.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        # Runners forked from it share its process group: none may outlive the backplane.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if self._reader is not None:
            await self._reader
        self.alive = False


def _lifeline_pipe() -> tuple[int, int]:
    """A pipe nobody writes to; its read end sees end of file once this process is gone."""
    read, write = os.pipe()  # neither end inherited by anything but what pass_fds names
    if read < 3:
        # Started with stdin closed, the pipe may take descriptor 0, which the zygote's stdio replaces.
        high = fcntl.fcntl(read, fcntl.F_DUPFD_CLOEXEC, 3)
        os.close(read)
        read = high
    return read, write


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _diagnostic(wire: WireDiagnostic) -> Diagnostic:
    if not wire.file:
        return Diagnostic(wire.message)
    return Diagnostic(wire.message, Position(_relative(wire.file), wire.line, wire.column))


def _relative(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def _indent(text: str) -> str:
    return "".join(f"\n    {line}" for line in text.splitlines())


LOG_DIR_PREFIX = "ftl-runners-"


def _remove_stale_log_dirs() -> None:
    """Log dirs of backplanes that died without stopping (SIGKILL): their pid is in the name."""
    for directory in Path(tempfile.gettempdir()).glob(f"{LOG_DIR_PREFIX}*-*"):
        pid = directory.name.removeprefix(LOG_DIR_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe_status(status: int | None) -> str:
    if status is None:
        return "exit status unknown"
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"
