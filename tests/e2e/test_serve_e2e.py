"""`ftl serve` end to end: a real backplane process, `ftl deploy`, `ftl call`, `ps`, `logs`, and HTTP.

The project is the repo's examples (echo → time, greeter → echo) plus a `crashy` module written
here. Everything runs as real processes on free ports; readiness is polled, never slept for.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STARTUP_TIMEOUT = 30.0

CRASHY = """
import logging
import os
from dataclasses import dataclass

import ftl

log = logging.getLogger(__name__)


@dataclass
class Req:
    text: str


@dataclass
class Resp:
    text: str


@dataclass
class Pid:
    pid: int


@ftl.verb(export=True)
def explode(req: Req) -> Resp:
    log.info("about to explode on %s", req.text)
    raise RuntimeError(f"exploded on {req.text}")


@ftl.verb(export=True)
def whoami(req: Req) -> Pid:
    return Pid(os.getpid())


@ftl.ingress("GET", "/crashy/boom")
def boom(req: ftl.HttpRequest[None, None, None]) -> ftl.HttpResponse[str, str]:
    raise RuntimeError("database password is hunter2")
"""


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class Served:
    process: subprocess.Popen[str]
    root: Path
    ingress: str
    admin: str

    def env(self) -> dict[str, str]:
        return {**os.environ, "FTL_ENDPOINT": self.admin, "NO_COLOR": "1"}

    def ftl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "ftl", *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result


def api_call(served: Served, verb: str, body: object) -> httpx.Response:
    return httpx.post(f"{served.admin}/api/call", json={"verb": verb, "body": body}, timeout=30)


def _deployments(served: Served) -> dict[str, str]:
    return {d["module"]: d["key"] for d in httpx.get(f"{served.admin}/api/deployments").json()}


def _make_project(root: Path) -> None:
    (root / "ftl-project.toml").write_text(
        'realm = "shop"\nmodule-dirs = ["modules"]\n\n[modules.greeter.config]\ngreeting = "Hi"\n'
    )
    (root / ".ftl").mkdir()
    (root / ".ftl" / "secrets.toml").write_text('[modules.greeter.secrets]\nsigningKey = "k"\n')
    for name in ("echo", "time", "greeter"):
        shutil.copytree(
            EXAMPLES / name, root / "modules" / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    crashy = root / "modules" / "crashy"
    (crashy / "crashy").mkdir(parents=True)
    (crashy / "ftl.toml").write_text('module = "crashy"\nlanguage = "python"\n')
    (crashy / "crashy" / "__init__.py").write_text(textwrap.dedent(CRASHY))


class Lines:
    """A process's output, line by line, read on a thread so waiting can time out."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def next(self, timeout: float) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output line within {timeout} s") from None
        if line is None:
            raise AssertionError("the process closed its output")
        return line


def _read_urls(process: subprocess.Popen[str]) -> dict[str, str]:
    """The URLs from the first lines `ftl serve` prints (`ingress URL`, `admin URL`)."""
    assert process.stdout is not None
    lines = Lines(process.stdout)
    urls: dict[str, str] = {}
    while "admin" not in urls or "ingress" not in urls:
        name, _, value = lines.next(STARTUP_TIMEOUT).strip().partition(" ")
        urls[name] = value
    return urls


def _processes_in(root: Path) -> list[int]:
    """Processes whose working directory is inside the project (runners run there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd == root or root in cwd.parents:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("shop").resolve()
    _make_project(root)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftl",
            "serve",
            "--ingress-bind",
            "127.0.0.1:0",
            "--bind",
            "127.0.0.1:0",
            "--plain",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        urls = _read_urls(process)
        wait_until(lambda: _status_ok(urls["admin"]), STARTUP_TIMEOUT, "the admin API")
        served = Served(process, root, urls["ingress"], urls["admin"])
        deployed = served.ftl("deploy")
        assert "committed" in deployed.stdout
        yield served
    finally:
        _shut_down(process, root)


def _status_ok(admin: str) -> bool:
    try:
        return httpx.get(f"{admin}/api/status", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _shut_down(process: subprocess.Popen[str], root: Path) -> None:
    try:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    finally:
        for pid in [process.pid, *_processes_in(root)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------


def test_status_reports_the_urls(served: Served) -> None:
    status = httpx.get(f"{served.admin}/api/status").json()
    assert status == {
        "realm": "shop",
        "ingress_url": served.ingress,
        "admin_url": served.admin,
        "console_url": served.admin,
    }


def test_serve_serves_the_console_beside_the_admin_api(served: Served) -> None:
    page = httpx.get(f"{served.admin}/")
    assert page.status_code == 200
    assert "greeter" in page.text and "text/html" in page.headers["content-type"]


def test_ps_lists_the_live_deployments(served: Served) -> None:
    rows = json.loads(served.ftl("ps", "--json").stdout)
    assert {row["module"] for row in rows if row["state"] == "live"} == {"echo", "time", "greeter", "crashy"}
    assert all(row["key"].startswith(f"dpl-shop-{row['module']}-") for row in rows)
    table = served.ftl("ps").stdout.splitlines()
    assert table[0].split() == ["MODULE", "DEPLOYMENT", "STATE", "ENDPOINT", "STARTED"]


def test_call_a_verb_that_calls_other_modules(served: Served) -> None:
    result = served.ftl("call", "greeter.greet", '{"name": "Ada"}', "-v")
    body = json.loads(result.stdout)
    assert body["text"].startswith("Hi! Hello, Ada! It is ")
    request_id = result.stderr.split("request id: ")[1].split()[0]
    assert f"{served.admin}/trace/{request_id}" in result.stderr
    trace = httpx.get(f"{served.admin}/api/timeline", params={"request_id": request_id}).json()
    assert {"greeter", "echo", "time"} <= {e["module"] for e in trace}


def test_call_accepts_both_spellings_and_suggests_close_names(served: Served) -> None:
    hello = served.ftl("call", "echo.echo_json", json.dumps(_http_request({"name": "Bo"})))
    assert json.loads(hello.stdout)["body"]["message"].startswith("Hello, Bo!")
    unknown = served.ftl("call", "echo.ecko", check=False)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("ftl: error: module echo has no verb ecko")
    assert "echo.echo" in unknown.stderr


def _http_request(body: object) -> dict[str, object]:
    return {"method": "POST", "path": "/echo", "pathParameters": {}, "query": {}, "headers": {}, "body": body}


def test_http_ingress(served: Served) -> None:
    hello = httpx.get(f"{served.ingress}/echo/hello")
    assert hello.status_code == 200 and hello.json()["message"].startswith("Hello, world!")
    posted = httpx.post(f"{served.ingress}/echo", json={"name": "Cy"})
    assert posted.status_code == 200 and posted.json()["message"].startswith("Hello, Cy!")
    user = httpx.get(f"{served.ingress}/echo/users/0")
    assert (user.status_code, user.text) == (404, "no such user")
    bad = httpx.get(f"{served.ingress}/echo/users/abc")
    assert bad.status_code == 400 and "userId" in bad.text
    bad_body = httpx.post(f"{served.ingress}/echo", json={"nome": "Cy"})
    assert bad_body.status_code == 400 and ".body.name is required" in bad_body.text
    assert httpx.get(f"{served.ingress}/nowhere").status_code == 404
    wrong_method = httpx.delete(f"{served.ingress}/echo/hello")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "GET, HEAD"
    # The ingress and call events of one request share its request id.
    request_id = hello.headers["x-ftl-request-id"]

    def kinds() -> set[str]:
        trace = httpx.get(f"{served.admin}/api/timeline", params={"request_id": request_id}).json()
        return {e["kind"] for e in trace}

    # Runners report their call events in batches, so they may trail the answer a little.
    wait_until(lambda: {"ingress", "call"} <= kinds(), 30, "the ingress and call events")


def test_a_crashing_verb(served: Served) -> None:
    called = served.ftl("call", "crashy.explode", '{"text": "purpose"}', check=False)
    assert called.returncode == 1
    assert "exploded on purpose" in called.stderr and called.stderr.startswith("ftl: error: ")
    boom = httpx.get(f"{served.ingress}/crashy/boom")
    assert (boom.status_code, boom.text) == (500, "Internal Server Error\n")
    assert "hunter2" not in boom.text
    logs = served.ftl("logs", "crashy").stdout
    assert "about to explode on purpose" in logs


def test_a_killed_runner_is_restarted(served: Served) -> None:
    pid = api_call(served, "crashy.whoami", {"text": ""}).json()["body"]["pid"]
    os.kill(pid, signal.SIGKILL)

    def restarted() -> bool:
        response = api_call(served, "crashy.whoami", {"text": ""})
        return response.status_code == 200 and response.json()["body"]["pid"] != pid

    wait_until(restarted, 60, "the crashy runner to come back")


def test_logs_follow_streams_new_events(served: Served) -> None:
    api_call(served, "crashy.explode", {"text": "before"})
    follower = subprocess.Popen(
        [sys.executable, "-m", "ftl", "logs", "crashy.explode", "-f", "-n", "1"],
        cwd=served.root,
        env=served.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert follower.stdout is not None
        lines = Lines(follower.stdout)
        # The backlog line proves the stream is subscribed: what happens next must arrive live.
        assert "crashy.explode" in lines.next(30)
        api_call(served, "crashy.explode", {"text": "streamed"})
        wait_until(lambda: "about to explode on streamed" in lines.next(30), 30, "the streamed log line")
    finally:
        os.killpg(follower.pid, signal.SIGKILL)
        follower.wait(timeout=10)


def test_a_redeploy_during_a_stream_of_calls_fails_no_call(served: Served) -> None:
    source = served.root / "modules" / "echo" / "echo" / "__init__.py"
    source.write_text(source.read_text().replace('f"Hello, {req.name}!', 'f"Howdy, {req.name}!'))
    before = _deployments(served)
    failures: list[str] = []
    answers: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                response = http.get(f"{served.ingress}/echo/hello")
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")
                else:
                    answers.append(response.json()["message"])

    callers = [threading.Thread(target=hammer) for _ in range(2)]
    for caller in callers:
        caller.start()
    try:
        wait_until(lambda: len(answers) > 5, 30, "calls before the redeploy")
        deployed = served.ftl("deploy", "modules/echo")
        assert "committed" in deployed.stdout
        wait_until(lambda: any(a.startswith("Howdy") for a in answers), 30, "the new version to answer")
        seen = len(answers)
        wait_until(lambda: len(answers) > seen + 5, 30, "calls after the redeploy")
    finally:
        stop.set()
        for caller in callers:
            caller.join(timeout=30)
    assert failures == []
    after = _deployments(served)
    assert after["echo"] != before["echo"] and after["time"] == before["time"]
    assert answers[-1].startswith("Howdy")


def test_ports_in_use_are_a_clear_error(served: Served) -> None:
    port = served.admin.rsplit(":", 1)[1]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ftl",
            "serve",
            "--ingress-bind",
            "127.0.0.1:0",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=served.root,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"ftl: error: cannot listen on 127.0.0.1:{port}")


# Last on purpose: it stops the module's server.
def test_ctrl_c_stops_every_runner_and_then_nothing_answers(served: Served) -> None:
    assert _processes_in(served.root), "the runners run in the project directory"
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(timeout=30) == 0
    wait_until(lambda: not _processes_in(served.root), 10, "every runner to stop")
    unreachable = served.ftl("ps", check=False)
    assert unreachable.returncode == 1
    assert unreachable.stderr.strip() == (
        f"ftl: error: no backplane at {served.admin} (start one with ftl dev or ftl serve)"
    )
