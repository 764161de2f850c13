"""Cron jobs and pub/sub under a real `ftl dev --plain`: real runners, real sockets, free ports.

Each test starts `ftl dev` in its own session, reads its URLs from the output, waits by polling the
timeline API (never a fixed sleep), and kills its whole process group in teardown.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

WAIT_S = 30.0

TICKER = """\
import ftl


@ftl.cron("1s")
def tick() -> None:
    print("tick")
"""

SHOP = """\
from dataclasses import dataclass

import ftl


@dataclass
class Order:
    id: int


orders = ftl.topic("orders", Order, export=True)


@ftl.verb(export=True)
def place(req: Order) -> None:
    orders.publish(req)
"""

AUDIT = """\
from ftl_modules import shop

import ftl


@ftl.subscribe(shop.orders, from_="beginning")
def record(event: shop.Order) -> None:
    print(f"audited order {event.id}")


@ftl.retry(2, "1s")
@ftl.subscribe(shop.orders)
def flaky(event: shop.Order) -> None:
    raise ValueError(f"cannot take order {event.id}")
"""


class Dev:
    """A running `ftl dev`, its output collected by a thread."""

    def __init__(self, project: Path) -> None:
        env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        env.pop("FTL_PROJECT_FILE", None)
        command = [sys.executable, "-m", "ftl", "dev", "--plain"]
        command += ["--bind", "127.0.0.1:0", "--ingress-bind", "127.0.0.1:0"]
        self.process = subprocess.Popen(
            command,
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        urls = poll(lambda: self.line(r"(?:console|admin) (http://\S+)"), "ftl dev to print its URLs")
        self.admin = urls[1]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def line(self, pattern: str) -> re.Match[str] | None:
        return next((m for line in list(self.lines) if (m := re.search(pattern, line))), None)

    def timeline(self, **filters: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.admin}/api/timeline", params={**filters, "limit": "500"}, timeout=5)
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()
        return events

    def call(self, verb: str, body: object) -> dict[str, Any]:
        response = httpx.post(f"{self.admin}/api/call", json={"verb": verb, "body": body}, timeout=10)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def poll(check: Callable[[], Any], what: str) -> Any:
    """Call `check` until it returns something truthy; fail after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except httpx.HTTPError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def at_least(count: int, events: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return events if len(events) >= count else None


def write_module(root: Path, name: str, source: str) -> None:
    directory = root / "modules" / name
    (directory / name).mkdir(parents=True)
    (directory / "ftl.toml").write_text(f'module = "{name}"\nlanguage = "python"\n')
    (directory / name / "__init__.py").write_text(source)


@pytest.fixture
def start_dev(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Dev]]:
    started: list[Dev] = []

    def start(modules: dict[str, str]) -> Dev:
        root = tmp_path / "proj"
        root.mkdir()
        (root / "ftl-project.toml").write_text('realm = "cronsub"\nmodule-dirs = ["modules"]\n')
        for name, source in modules.items():
            write_module(root, name, source)
        dev = Dev(root)
        started.append(dev)
        return dev

    yield start
    for dev in started:
        print(f"--- ftl dev output (pid {dev.process.pid}) ---", *dev.lines, sep="\n")
        dev.kill()


def test_a_cron_verb_fires_on_its_schedule(start_dev: Callable[[dict[str, str]], Dev]) -> None:
    dev = start_dev({"ticker": TICKER})
    fired = poll(
        lambda: at_least(2, [e for e in dev.timeline(kind="cron", module="ticker") if e["level"] == "info"]),
        "two firings of ticker.tick",
    )[:2]
    assert all(e["verb"] == "tick" for e in fired)
    request_ids = {e["request_id"] for e in fired}
    assert len(request_ids) == 2
    calls = poll(
        lambda: at_least(
            2, [e for e in dev.timeline(kind="call", module="ticker") if e["request_id"] in request_ids]
        ),
        "the runner's call events of the firings",
    )
    assert all(e["data"].get("caller") == "cron" for e in calls)


def test_a_published_event_reaches_subscribers_and_a_failing_one_is_retried(
    start_dev: Callable[[dict[str, str]], Dev],
) -> None:
    dev = start_dev({"shop": SHOP, "audit": AUDIT})
    poll(lambda: dev.line(r"ready: 2 modules"), "both modules to serve")
    request_id = dev.call("shop.place", {"id": 7})["request_id"]

    delivered = poll(
        lambda: [
            e
            for e in dev.timeline(kind="call", module="audit", verb="record")
            if e["request_id"] == request_id and e["level"] == "info"
        ],
        "audit.record to receive the order",
    )
    assert delivered[0]["data"]["topic"] == "shop.orders"
    poll(lambda: dev.line(r"audit \| audited order 7"), "the subscriber's print in the output")

    gave_up = poll(
        lambda: [
            e
            for e in dev.timeline(kind="log", module="audit", verb="flaky")
            if e["level"] == "error" and "gave up" in e["message"]
        ],
        "audit.flaky to give up after its retries",
    )
    assert gave_up[0]["data"]["attempts"] == 3
    attempts = poll(
        lambda: at_least(
            3,
            [
                e
                for e in dev.timeline(kind="call", module="audit", verb="flaky")
                if e["request_id"] == request_id and e["level"] == "error"
            ],
        ),
        "the runner's events of the three attempts",
    )
    assert len(attempts) == 3  # the first try and two retries, as `@ftl.retry(2, "1s")` says
    assert all(e["data"]["topic"] == "shop.orders" for e in attempts)
