"""No process FTL starts outlives `ftl serve` or `ftl dev`, whatever ends it: Ctrl-C, SIGTERM, SIGKILL.

The runners are made as hard to stop as user code can make them: one holds its event loop in a
blocking call, one never finishes importing its module, and some were forked by a zygote that was
killed since (they belong to no one but the backplane now). Every process below the ftl process,
and every process in the process groups and sessions they are in, is collected first; after the
signal, all of them must be gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WAIT_S = 60.0
BINDS = ("--bind", "127.0.0.1:0", "--ingress-bind", "127.0.0.1:0")

# An async verb that blocks its runner's event loop for good once called.
HOG = """
import time
from dataclasses import dataclass
from pathlib import Path

import ftl


@dataclass
class Text:
    text: str


@ftl.verb(export=True)
async def hog(req: Text) -> Text:
    Path(__file__).parents[1].joinpath("hogging").write_text("")
    time.sleep(600)
    return req
"""

# Never finishes importing in a runner (the build imports it too, and must get through).
HANGS = """
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import ftl

if getattr(sys.modules["__main__"].__spec__, "name", "") == "ftl.runtime.zygote":
    Path(__file__).parents[1].joinpath("importing").write_text("")
    time.sleep(600)


@dataclass
class Text:
    text: str


@ftl.verb(export=True)
def nap(req: Text) -> Text:
    return req
"""


@dataclass(frozen=True)
class Stat:
    state: str
    parent: int
    group: int
    session: int


def process_table() -> dict[int, Stat]:
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        table[int(entry)] = Stat(fields[0], int(fields[1]), int(fields[2]), int(fields[3]))
    return table


def descendants(table: dict[int, Stat], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, stat in table.items():
        children.setdefault(stat.parent, []).append(pid)
    found: set[int] = set()
    frontier = [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def poll(check: Callable[[], Any], what: str) -> Any:
    """Call `check` until it returns something truthy; fail after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)  # polling a file or the process table: there is no event to wait on
    return result


class Family:
    """Every process the ftl process started, directly or not, and the groups and sessions they are in."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.pids: set[int] = set()
        self.groups: set[int] = set()
        self._own = {os.getpgrp(), os.getsid(0)}

    def collect(self) -> set[int]:
        table = process_table()
        self.pids |= descendants(table, self.root)
        for pid in self.pids & table.keys():
            self.groups |= {table[pid].group, table[pid].session} - self._own
        return self.pids

    def living(self) -> list[int]:
        """The members still running: known ones, and any other process in their groups or sessions."""
        return sorted(
            pid
            for pid, stat in process_table().items()
            if stat.state != "Z"
            and pid != os.getpid()
            and (pid in self.pids or stat.group in self.groups or stat.session in self.groups)
        )

    def kill(self) -> None:
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        for pid in self.living():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass
class Ftl:
    process: subprocess.Popen[bytes]
    root: Path
    output: Path
    admin: str
    family: Family

    def post(self, path: str, payload: object) -> httpx.Response:
        return httpx.post(f"{self.admin}{path}", json=payload, timeout=WAIT_S * 2)

    def in_background(self, path: str, payload: object) -> None:
        """POST without waiting for the answer (which may never come)."""

        def post() -> None:
            with contextlib.suppress(httpx.HTTPError):
                self.post(path, payload)

        threading.Thread(target=post, daemon=True).start()

    def live_modules(self) -> set[str]:
        try:
            deployments = httpx.get(f"{self.admin}/api/deployments", timeout=5).json()
        except httpx.HTTPError:
            return set()
        return {d["module"] for d in deployments if d["state"] == "live" and d["endpoint"]}

    def zygotes(self) -> set[int]:
        """The live zygotes (its runners share its command line, but not its parent)."""
        self.family.collect()
        return {
            pid
            for pid, stat in process_table().items()
            if stat.parent == self.process.pid and b"ftl.runtime.zygote" in command_line(pid)
        }


def write_module(root: Path, name: str, source: str) -> None:
    directory = root / "modules" / name
    (directory / name).mkdir(parents=True)
    (directory / "ftl.toml").write_text(f'module = "{name}"\nlanguage = "python"\n')
    (directory / name / "__init__.py").write_text(source)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = (tmp_path / "shop").resolve()
    root.mkdir()
    (root / "ftl-project.toml").write_text(
        'realm = "shop"\nmodule-dirs = ["modules"]\n\n[modules.greeter.config]\ngreeting = "Hi"\n'
    )
    (root / ".ftl").mkdir()
    (root / ".ftl" / "secrets.toml").write_text('[modules.greeter.secrets]\nsigningKey = "k"\n')
    for name in ("echo", "time", "greeter"):
        shutil.copytree(
            EXAMPLES / name, root / "modules" / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    write_module(root, "hog", HOG)
    return root


@pytest.fixture
def start_ftl(project: Path, tmp_path: Path) -> Iterator[Callable[..., Ftl]]:
    started: list[Ftl] = []

    def start(*command: str) -> Ftl:
        output = tmp_path / f"ftl-{len(started)}.log"
        env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        env.pop("FTL_PROJECT_FILE", None)
        with output.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "ftl", *command, "--plain", *BINDS],
                cwd=project,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        ftl = Ftl(process, project, output, "", Family(process.pid))
        started.append(ftl)
        found = poll(lambda: re.search(r"\badmin (http://[^\s,]+)", output.read_text()), "the admin URL")
        ftl.admin = found[1]
        return ftl

    yield start
    for ftl in started:
        print(f"--- ftl output (pid {ftl.process.pid}) ---\n{ftl.output.read_text()}")
        ftl.family.collect()
        ftl.family.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(ftl.process.pid, signal.SIGKILL)
        ftl.process.wait(timeout=10)


def assert_all_exit(ftl: Ftl, signum: signal.Signals) -> None:
    assert len(ftl.family.collect()) >= 4, "expected a zygote and runners below the ftl process"
    os.kill(ftl.process.pid, signum)
    ftl.process.wait(timeout=WAIT_S)
    # Bounded, never a fixed sleep: every process must be gone well within WAIT_S.
    poll(lambda: not ftl.family.living(), f"every process started by ftl to exit ({ftl.family.living()})")


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_ftl_serve_leaves_no_process_behind(start_ftl: Callable[..., Ftl], signum: signal.Signals) -> None:
    ftl = start_ftl("serve")
    modules = [f"modules/{name}" for name in ("echo", "time", "greeter", "hog")]
    deployed = ftl.post("/api/deploy", {"module_dirs": modules})
    assert deployed.json()["state"] == "COMMITTED", deployed.text

    # Its zygote dies: its runners keep serving, belonging to the backplane alone now.
    [zygote] = poll(ftl.zygotes, "the zygote")
    orphans = descendants(process_table(), zygote)
    assert len(orphans) == 4
    os.kill(zygote, signal.SIGKILL)
    poll(lambda: ftl.zygotes() - {zygote}, "a replacement zygote")
    ftl.family.pids |= orphans

    ftl.in_background("/api/call", {"verb": "hog.hog", "body": {"text": "stuck"}})
    poll((ftl.root / "modules" / "hog" / "hogging").exists, "the hog verb to take its runner's loop")
    write_module(ftl.root, "hangs", HANGS)
    ftl.in_background("/api/deploy", {"module_dirs": ["modules/hangs"]})
    poll((ftl.root / "modules" / "hangs" / "importing").exists, "a runner to hang in its import")

    assert_all_exit(ftl, signum)


def test_ftl_dev_killed_leaves_no_process_behind(start_ftl: Callable[..., Ftl]) -> None:
    ftl = start_ftl("dev", "--no-console")
    poll(lambda: ftl.live_modules() >= {"echo", "time", "greeter", "hog"}, "the first deploy")
    ftl.in_background("/api/call", {"verb": "hog.hog", "body": {"text": "stuck"}})
    poll((ftl.root / "modules" / "hog" / "hogging").exists, "the hog verb to take its runner's loop")

    assert_all_exit(ftl, signal.SIGKILL)
