"""The zygote and its runners die with the backplane, whatever the backplane dies of.

Real processes throughout. The test plays the backplane: it holds the lifeline's write end and the
control socket, so each test can take away exactly one of them and see which one a process obeys.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import msgspec
import pytest

from ftl.runtime.runner import RunnerSpec
from ftl.runtime.zygote import is_closed

WAIT_S = 30.0

# Hangs for good while being imported: the runner's event loop never gets to run.
HANGS = """
import time
from pathlib import Path

Path(__file__).parents[1].joinpath("importing").write_text("")
time.sleep(600)
"""

IDLE = """
from dataclasses import dataclass

import ftl


@dataclass
class Text:
    text: str


@ftl.verb(export=True)
def echo(req: Text) -> Text:
    return req
"""

# Stands in for the backplane: starts a zygote, reports its pid, then waits to be killed.
PARENT = """
import os, signal, subprocess, sys

stdin = int(sys.argv[1])
lifeline = int(sys.argv[2]) if sys.argv[2] != "own" else os.pipe()[0]  # "own": dies with this process
zygote = subprocess.Popen(
    [sys.executable, "-P", "-m", "ftl.runtime.zygote", str(lifeline)],
    stdin=stdin, stdout=subprocess.PIPE, pass_fds=(lifeline,),
)
print(zygote.pid, flush=True)
if sys.argv[3] == "warm":
    zygote.stdout.readline()
    print("ready", flush=True)
signal.pause()
"""


def write_module(root: Path, name: str, source: str) -> Path:
    directory = root / name
    (directory / name).mkdir(parents=True)
    (directory / "ftl.toml").write_text(f'module = "{name}"\nlanguage = "python"\n')
    (directory / name / "__init__.py").write_text(textwrap.dedent(source))
    return directory


def alive(pid: int) -> bool:
    """Running (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)  # polling the process table or a file: there is no event to wait on


class Lifeline:
    """The backplane's end of the lifeline: a pipe nobody writes to, cut by closing the write end."""

    def __init__(self) -> None:
        self.read, self._write = os.pipe()
        self._open = [self.read, self._write]

    def cut(self) -> None:
        os.close(self._write)
        self._open.remove(self._write)

    def close(self) -> None:
        for fd in self._open:
            os.close(fd)
        self._open.clear()


class Lines:
    """A process's output, line by line, read on a thread so waiting can time out."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(b"")

    def next(self) -> bytes:
        try:
            return self._lines.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"no output line within {WAIT_S} s") from None

    def message(self, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next JSON line that `matches` (the zygote's replies come in any order)."""
        while line := self.next():
            message: dict[str, Any] = json.loads(line)
            if matches(message):
                return message
        raise AssertionError("the process closed its output")


class Processes:
    """Every process a test starts, or learns the pid of, is killed when it ends."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[bytes]] = []
        self.pids: list[int] = []

    def start(self, *command: str, **options: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, start_new_session=True, **options)
        self._started.append(process)
        self.pids.append(process.pid)
        return process

    def kill_all(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in self._started:
            process.wait(timeout=10)


class ControlPort:
    """Where runners connect; the connections stay open until a test closes them."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(WAIT_S)
        self.endpoint = f"127.0.0.1:{self._server.getsockname()[1]}"
        self._connections: list[socket.socket] = []

    def accept(self) -> socket.socket:
        connection, _ = self._server.accept()
        connection.settimeout(WAIT_S)
        self._connections.append(connection)
        return connection

    def close(self) -> None:
        for connection in [*self._connections, self._server]:
            connection.close()


@pytest.fixture
def lifeline() -> Iterator[Lifeline]:
    pipe = Lifeline()
    try:
        yield pipe
    finally:
        pipe.close()


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        started.kill_all()


@pytest.fixture
def control() -> Iterator[ControlPort]:
    port = ControlPort()
    try:
        yield port
    finally:
        port.close()


def spec(module_dir: Path, control: ControlPort) -> RunnerSpec:
    return RunnerSpec(
        deployment=f"dpl-test-{module_dir.name}-1", module_dir=str(module_dir), control=control.endpoint
    )


def start_zygote(processes: Processes, lifeline: Lifeline) -> tuple[subprocess.Popen[bytes], Lines]:
    zygote = processes.start(
        sys.executable,
        "-P",
        "-m",
        "ftl.runtime.zygote",
        str(lifeline.read),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        pass_fds=(lifeline.read,),
    )
    assert zygote.stdout is not None
    return zygote, Lines(zygote.stdout)


def fork(
    zygote: subprocess.Popen[bytes], lines: Lines, request_id: int, runner: RunnerSpec, log: Path
) -> int:
    assert zygote.stdin is not None
    zygote.stdin.write(msgspec.json.encode({"id": request_id, "spec": runner, "log": str(log)}) + b"\n")
    zygote.stdin.flush()
    reply = lines.message(lambda message: message.get("id") == request_id)
    assert "pid" in reply, reply
    return int(reply["pid"])


def test_a_runner_exits_when_its_lifeline_is_cut_even_while_its_import_hangs(
    tmp_path: Path, lifeline: Lifeline, processes: Processes, control: ControlPort
) -> None:
    module = write_module(tmp_path, "hangs", HANGS)
    runner = processes.start(
        sys.executable,
        "-m",
        "ftl.runtime.runner",
        msgspec.json.encode(spec(module, control)).decode(),
        str(lifeline.read),
        stderr=subprocess.PIPE,
        pass_fds=(lifeline.read,),
    )
    control.accept()  # its control connection stays open throughout: only the lifeline can end it
    wait_until((module / "importing").exists, "the import to start")
    assert alive(runner.pid)

    lifeline.cut()
    assert runner.wait(timeout=WAIT_S) == 0
    assert runner.stderr is not None
    assert b"the backplane is gone" in runner.stderr.read()


def test_runners_forked_by_the_zygote_exit_when_their_control_closes_or_the_lifeline_is_cut(
    tmp_path: Path, lifeline: Lifeline, processes: Processes, control: ControlPort
) -> None:
    zygote, lines = start_zygote(processes, lifeline)
    assert lines.message(lambda message: "ready" in message)["pid"] == zygote.pid

    # A runner that is up and serving exits when its control connection closes...
    idle = fork(zygote, lines, 1, spec(write_module(tmp_path, "idle", IDLE), control), tmp_path / "idle.log")
    processes.pids.append(idle)
    connection = control.accept()
    assert connection.recv(1)  # its registration: the module is loaded, its loop is running
    connection.close()
    exited = lines.message(lambda message: message.get("exited") == idle)
    assert exited["status"] == 0

    # ...and one that never gets its loop back exits when the lifeline is cut, and so does the zygote.
    hangs = write_module(tmp_path, "hangs", HANGS)
    stuck = fork(zygote, lines, 2, spec(hangs, control), tmp_path / "hangs.log")
    processes.pids.append(stuck)
    control.accept()
    wait_until((hangs / "importing").exists, "the import to start")
    lifeline.cut()
    wait_until(lambda: not alive(stuck), "the stuck runner to exit")
    assert zygote.wait(timeout=WAIT_S) == 0
    assert "the backplane is gone" in (tmp_path / "hangs.log").read_text()


def test_a_zygote_whose_backplane_is_already_gone_exits_before_warming_up(
    lifeline: Lifeline, processes: Processes
) -> None:
    lifeline.cut()  # the backplane died between starting the zygote and the zygote's first line
    zygote, lines = start_zygote(processes, lifeline)
    assert zygote.wait(timeout=WAIT_S) == 0
    assert lines.next() == b""  # never warmed up, never offered to fork


def start_parent(processes: Processes, stdin: int, lifeline: str, warm: bool) -> tuple[int, Lines]:
    """A stand-in backplane that starts a zygote; the zygote's pid once it is started (or warm)."""
    fds = tuple(int(fd) for fd in (str(stdin), lifeline) if fd.isdigit())
    parent = processes.start(
        sys.executable,
        "-c",
        PARENT,
        str(stdin),
        lifeline,
        "warm" if warm else "cold",
        stdout=subprocess.PIPE,
        pass_fds=fds,
    )
    assert parent.stdout is not None
    lines = Lines(parent.stdout)
    zygote = int(lines.next())
    processes.pids.append(zygote)
    return zygote, lines


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_the_zygote_dies_with_its_parent_even_with_its_stdin_and_lifeline_held_open(
    lifeline: Lifeline, processes: Processes
) -> None:
    stdin_read, stdin_write = os.pipe()
    try:
        zygote, lines = start_parent(processes, stdin_read, str(lifeline.read), warm=True)
        assert lines.next() == b"ready\n"
        assert alive(zygote)
        os.kill(processes.pids[0], signal.SIGKILL)
        # This test still holds both pipes open: only the kernel's parent-death signal can end it.
        wait_until(lambda: not alive(zygote), "the zygote to die with its parent")
    finally:
        os.close(stdin_read)
        os.close(stdin_write)


def test_a_zygote_dies_with_its_parent_even_while_warming_up(processes: Processes) -> None:
    stdin_read, stdin_write = os.pipe()  # held open here: not what ends the zygote
    try:
        zygote, _ = start_parent(processes, stdin_read, "own", warm=False)
        os.kill(processes.pids[0], signal.SIGKILL)
        wait_until(lambda: not alive(zygote), "the zygote to die with its parent")
    finally:
        os.close(stdin_read)
        os.close(stdin_write)


def test_a_lifeline_reads_as_closed_only_once_its_write_end_is() -> None:
    pipe = Lifeline()
    try:
        assert not is_closed(pipe.read)
        pipe.cut()
        assert is_closed(pipe.read)
    finally:
        pipe.close()
