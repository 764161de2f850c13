"""The web console in a real headless Chromium, against a real `ftl dev` serving the examples.

Debian's `chromium` is driven by Playwright for Python (no browser download). The test calls a
verb from its form, sees the call arrive in the live timeline, opens its trace, and keeps
screenshots under `.ci/artifacts/`. Any console error or uncaught exception on a page fails it.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".ci" / "artifacts"
ANY_PORT = "127.0.0.1:0"
WAIT_S = 30.0
WAIT_MS = WAIT_S * 1000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: apt-get install chromium to run this", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@dataclass
class DevProcess:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    eof: bool = False
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.eof = True
            self._changed.notify_all()

    def wait_line(self, pattern: str) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + WAIT_S
        with self._changed:
            while True:
                for line in self.lines:
                    if match := regex.search(line):
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.eof:
                    raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))
                self._changed.wait(min(remaining, 0.5))


def poll(check: Callable[[], Any], what: str) -> Any:
    """Call `check` until it returns something truthy; fail after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except httpx.HTTPError as problem:
            last = problem
        else:
            if last:
                return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def kill_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM the process group (a clean stop), then SIGKILL whatever is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "ftl-project.toml", root / "ftl-project.toml")
    skip = shutil.ignore_patterns("__pycache__", ".ftl")
    shutil.copytree(REPO / "examples", root / "examples", ignore=skip)
    return root


@pytest.fixture
def console_url(examples: Path) -> Iterator[str]:
    """`ftl dev --plain` on a copy of the examples, every module live; yields the console's URL."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("FTL_PROJECT_FILE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "ftl", "dev", "--plain", "--bind", ANY_PORT, "--ingress-bind", ANY_PORT],
        cwd=examples,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    dev = DevProcess(process)
    threading.Thread(target=dev.read, daemon=True).start()
    try:
        url = dev.wait_line(r"console (http://\S+)")[1]

        def all_live() -> bool:
            deployments = httpx.get(f"{url}/api/deployments", timeout=5).json()
            live = sorted(d["module"] for d in deployments if d["state"] == "live")
            return live == ["echo", "greeter", "time"]

        poll(all_live, "the three example modules to go live")
        home = httpx.get(f"{url}/", timeout=5)
        mounted = home.status_code == 200
        assert mounted, f"the console is not mounted on the admin port (GET / → {home.status_code})"
        yield url
    finally:
        kill_group(process)


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_call_a_verb_then_find_it_in_the_timeline_and_open_its_trace(console_url: str, browser: Any) -> None:
    expect = sync_api.expect
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))

    # The module list shows every example module, live.
    page.goto(console_url + "/")
    for module in ("echo", "greeter", "time"):
        expect(page.locator(f'tr[data-module="{module}"] .state-live')).to_be_visible(timeout=WAIT_MS)
    page.screenshot(path=str(ARTIFACTS / "console-modules.png"), full_page=True)

    # Open echo, then its verb, and call it from the form.
    page.locator("a.module-name", has_text="echo").click()
    expect(page.locator("h1")).to_have_text("echo")
    page.locator("#decl-echo a").click()
    expect(page.locator("#call-form")).to_have_attribute("data-verb", "echo.echo")
    assert '"name"' in page.locator("#call-body").input_value()  # prefilled from EchoRequest
    page.locator("#call-body").fill('{"name": "Ada"}')
    page.locator("#call-button").click()
    expect(page.locator("#call-status")).to_have_text("ok", timeout=WAIT_MS)
    expect(page.locator("#call-output")).to_contain_text("Hello, Ada!")
    trace_href = page.locator("#call-trace").get_attribute("href")
    assert trace_href and trace_href.startswith("/trace/req-")
    page.screenshot(path=str(ARTIFACTS / "console-verb.png"), full_page=True)

    # A request that does not fit the verb's type is shown as an error, not logged as a page error.
    page.locator("#call-body").fill('{"name": 5}')
    page.locator("#call-button").click()
    expect(page.locator("#call-status")).to_contain_text("400 bad_request", timeout=WAIT_MS)
    expect(page.locator("#call-output")).to_contain_text("name")

    # The call is in the timeline (live, or already there when the page loads).
    page.locator("nav a", has_text="Timeline").click()
    expect(page.locator("#live-badge")).to_have_text("live", timeout=WAIT_MS)
    row = page.locator(f'tr.event[data-href="{trace_href}"]', has_text="echo.echo")
    expect(row).to_be_visible(timeout=WAIT_MS)
    expect(row).to_contain_text("Ada")

    # A second call, made while the timeline is open, arrives live.
    answer = httpx.post(
        f"{console_url}/api/call", json={"verb": "echo.echo", "body": {"name": "Grace"}}, timeout=10
    ).json()
    live_row = page.locator(f'tr.event[data-href="/trace/{answer["request_id"]}"]', has_text="echo.echo")
    expect(live_row).to_be_visible(timeout=WAIT_MS)
    page.screenshot(path=str(ARTIFACTS / "console-timeline.png"), full_page=True)

    # Clicking the first call's row opens its trace: echo.echo with time.time nested under it.
    row.locator("td.what").click()
    page.wait_for_url(f"**{trace_href}")
    outer = page.locator('ol.trace li[style="--depth: 0"]', has_text="echo.echo")
    inner = page.locator('ol.trace li[style="--depth: 1"]', has_text="time.time")
    expect(outer).to_be_visible(timeout=WAIT_MS)
    expect(inner).to_be_visible(timeout=WAIT_MS)
    outer.locator("summary").click()
    expect(outer.locator(".span-details")).to_contain_text('"name": "Ada"')
    page.screenshot(path=str(ARTIFACTS / "console-trace.png"), full_page=True)

    # The graph draws the three modules and who calls whom.
    page.locator("nav a", has_text="Graph").click()
    expect(page.locator("svg.module-graph g.node")).to_have_count(3)
    for source, target in (("greeter", "echo"), ("echo", "time")):
        edge = f'svg.module-graph g.edge-calls[data-source="{source}"][data-target="{target}"]'
        expect(page.locator(edge)).to_have_count(1)

    page.locator("nav a", has_text="Realms").click()
    expect(page.locator("h1")).to_have_text("External realms")

    assert problems == [], "console errors on the pages:\n" + "\n".join(problems)


# -- a page that falls behind the live stream -------------------------------------------------------


@dataclass
class NoModules:
    """A backplane with nothing deployed: the live timeline is all this test looks at."""

    realm: str = "burst"
    project: None = None

    def schema(self) -> Any:
        from ftl.schema import ast

        return ast.Schema()

    def deployments(self) -> list[Any]:
        return []


@dataclass
class ThreadServed:
    url: str
    timeline: Any
    loop: Any

    def add_at_once(self, events: list[Any]) -> None:
        """Add every event in one turn of the server's loop, before any stream can read one."""
        done = threading.Event()

        def add() -> None:
            self.timeline.add_many(events)
            done.set()

        self.loop.call_soon_threadsafe(add)
        assert done.wait(WAIT_S), "the server's loop did not run the burst"


@pytest.fixture
def tiny_queue_console() -> Iterator[ThreadServed]:
    """The admin app with the console, on a real socket, whose streams hold only 4 unread events."""
    import asyncio

    import uvicorn

    from ftl.devserver.admin import ServerUrls, create_admin_app
    from ftl.devserver.console import console_routes
    from ftl.devserver.server import bind_socket, socket_url
    from ftl.devserver.timeline import Timeline

    timeline = Timeline(stream_queue_size=4)
    backend = NoModules()
    sock = bind_socket(ANY_PORT)
    url = socket_url(sock)
    app = create_admin_app(
        backend,  # type: ignore[arg-type]
        timeline,
        ServerUrls("", url, url),
        extra_routes=console_routes(backend, timeline),
    )
    config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(server.serve(sockets=[sock])), daemon=True
    )
    thread.start()
    try:
        poll(lambda: server.started, "the console server to start")
        yield ThreadServed(url, timeline, loop)
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
        loop.close()
        sock.close()


def test_a_timeline_page_that_fell_behind_fetches_what_the_stream_dropped(
    tiny_queue_console: ThreadServed, browser: Any
) -> None:
    from ftl.devserver.timeline import TimelineEvent

    expect = sync_api.expect
    served = tiny_queue_console
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.goto(served.url + "/timeline")
    expect(page.locator("#live-badge")).to_have_text("live", timeout=WAIT_MS)
    poll(lambda: served.timeline.subscriber_count() == 1, "the page's stream to subscribe")

    # 30 events in one go: the stream keeps the newest 4, tells the page it dropped 26, and the
    # page asks again from the newest event it has.
    burst = [TimelineEvent(kind="log", time=time.time(), module="m", message=f"burst {i}") for i in range(30)]
    served.add_at_once(burst)
    rows = page.locator("tbody tr.event")
    expect(rows).to_have_count(30, timeout=WAIT_MS)
    ids = [int(row.get_attribute("data-id")) for row in rows.all()]
    assert ids == list(range(30, 0, -1))
    expect(page.locator("#live-badge")).to_have_text("live")
    assert problems == [], "console errors on the page:\n" + "\n".join(problems)
