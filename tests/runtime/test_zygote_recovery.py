"""A killed zygote: the next deploy (and the next runner restart) forks from a fresh one.

Real processes throughout: an in-process backplane, its zygote and the runners forked from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ftl.devserver.backplane import Backplane
from ftl.devserver.timeline import Timeline

pytestmark = pytest.mark.anyio

PINGER = """
from dataclasses import dataclass

import ftl


@dataclass
class Ping:
    text: str


@dataclass
class Pong:
    text: str


@ftl.verb(export=True)
def ping(req: Ping) -> Pong:
    return Pong(f"pong {req.text}")
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def module_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "pinger"
    (directory / "pinger").mkdir(parents=True)
    (directory / "ftl.toml").write_text('module = "pinger"\nlanguage = "python"\n')
    (directory / "pinger" / "__init__.py").write_text(textwrap.dedent(PINGER))
    return directory


@pytest.fixture
async def backplane() -> AsyncIterator[Backplane]:
    plane = Backplane(None, realm="solo", timeline=Timeline())
    await plane.start()
    try:
        yield plane
    finally:
        await plane.stop()


def alive(pid: int) -> bool:
    """Running (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def zygotes() -> set[int]:
    """The live zygotes this test process started."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            command = (entry / "cmdline").read_bytes().split(b"\0")
            pid = int(entry.name)
            if b"ftl.runtime.zygote" in command and parent_of(pid) == os.getpid() and alive(pid):
                found.add(pid)
    return found


async def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)  # polling the process table: there is no event to wait on


async def deploy(backplane: Backplane, module_dir: Path) -> tuple[str, int]:
    """Deploy the module; its deployment key and runner pid, once it answers a call."""
    result = await backplane.deploy([module_dir], build=False)
    assert result.state == "COMMITTED", [str(d) for d in result.diagnostics]
    [key] = result.deployments
    await assert_answers(backplane, "deployed")
    return key, backplane.runner_pid(key)


async def assert_answers(backplane: Backplane, text: str) -> None:
    reply = await backplane.call("pinger", "ping", json.dumps({"text": text}).encode())
    assert reply.error is None, reply.error
    assert reply.body == json.dumps({"text": f"pong {text}"}, separators=(",", ":")).encode()


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


async def test_a_deploy_right_after_the_zygote_is_killed_forks_from_a_new_one(
    backplane: Backplane, module_dir: Path
) -> None:
    _, first_runner = await deploy(backplane, module_dir)
    zygote = parent_of(first_runner)
    pids = [first_runner, zygote]
    try:
        # No waiting in between: the backplane may not have seen the zygote go yet.
        kill(zygote)
        key, runner = await deploy(backplane, module_dir)
        pids.append(runner)
        new_zygote = parent_of(runner)
        pids.append(new_zygote)
        assert new_zygote not in (zygote, 1)
        assert alive(new_zygote)
        assert [d.key for d in backplane.deployments() if d.state == "live"] == [key]
        # The runner forked by the dead zygote was replaced and stopped all the same.
        await until(lambda: not alive(first_runner))
    finally:
        await backplane.stop()
    assert not any(alive(pid) for pid in pids)


async def test_a_killed_zygote_is_replaced_before_the_next_deploy_needs_it(
    backplane: Backplane, module_dir: Path
) -> None:
    _, first_runner = await deploy(backplane, module_dir)
    zygote = parent_of(first_runner)
    assert zygotes() == {zygote}
    kill(zygote)
    await until(lambda: bool(zygotes() - {zygote}))
    [replacement] = zygotes() - {zygote}

    _, runner = await deploy(backplane, module_dir)
    assert parent_of(runner) == replacement
    await until(lambda: not alive(first_runner))
    _, again = await deploy(backplane, module_dir)
    assert parent_of(again) == replacement


async def test_a_runner_orphaned_by_the_zygote_is_still_restarted_when_it_crashes(
    backplane: Backplane, module_dir: Path
) -> None:
    key, first_runner = await deploy(backplane, module_dir)
    zygote = parent_of(first_runner)
    kill(zygote)
    await until(lambda: not alive(zygote))
    await assert_answers(backplane, "still serving")  # the runner outlives its zygote

    kill(first_runner)
    await until(lambda: backplane.runner_pid(key) not in (0, first_runner))
    restarted = backplane.runner_pid(key)
    assert parent_of(restarted) not in (zygote, 1)
    await until(lambda: any(d.key == key and d.endpoint for d in backplane.deployments()))
    await assert_answers(backplane, "restarted")


async def test_a_runner_killed_together_with_its_zygote_is_restarted(
    backplane: Backplane, module_dir: Path
) -> None:
    key, runner = await deploy(backplane, module_dir)
    zygote = parent_of(runner)
    # Its lost lifeline and its zygote's death reach the backplane in either order.
    kill(runner)
    kill(zygote)
    await until(lambda: backplane.runner_pid(key) not in (0, runner))
    restarted = backplane.runner_pid(key)
    await until(lambda: any(d.key == key and d.endpoint for d in backplane.deployments()))
    assert parent_of(restarted) not in (zygote, 1)
    await assert_answers(backplane, "back")


async def test_stopping_while_the_replacement_zygote_starts_leaves_no_process_behind(
    backplane: Backplane, module_dir: Path
) -> None:
    _, runner = await deploy(backplane, module_dir)
    zygote = parent_of(runner)
    kill(zygote)
    await until(lambda: not alive(zygote))
    await asyncio.sleep(0)  # one turn of the loop: the backplane may now be starting a replacement
    await backplane.stop()
    await until(lambda: not alive(runner))
    assert zygotes() == set()
