"""`ftl dev --plain` end to end: a real process serving a temp project over real sockets.

Each test starts `ftl dev` in its own session with port 0 for both servers, reads the chosen URLs
from its output, waits by polling, and kills its whole process tree in teardown, asserting that
no process it started survives.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
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

pytestmark = pytest.mark.e2e

WAIT_S = 30.0

HELLO = '''\
"""A module whose answer the tests edit."""

import os
from dataclasses import dataclass

import ftl


@dataclass
class Answer:
    message: str


@ftl.verb(export=True)
def message(req: None) -> Answer:
    return Answer(message="{message}")


@ftl.ingress("GET", "/hello")
def hello(req: ftl.HttpRequest[None, None, None]) -> ftl.HttpResponse[Answer, str]:
    return ftl.HttpResponse(body=message(None))


@ftl.ingress("GET", "/hello/crash")
def crash(req: ftl.HttpRequest[None, None, None]) -> ftl.HttpResponse[Answer, str]:
    os._exit(3)
'''

RELAY = '''\
"""Calls `hello` through its generated client."""

from dataclasses import dataclass

from ftl_modules import hello as hello_client

import ftl


@dataclass
class Relayed:
    relayed: str


@ftl.ingress("GET", "/relay")
def relay(req: ftl.HttpRequest[None, None, None]) -> ftl.HttpResponse[Relayed, str]:
    answer = hello_client.message(None)
    return ftl.HttpResponse(body=Relayed(relayed=answer.message))
'''

EXTRA = """\
from dataclasses import dataclass

import ftl


@dataclass
class Extra:
    extra: bool


@ftl.ingress("GET", "/extra")
def extra(req: ftl.HttpRequest[None, None, None]) -> ftl.HttpResponse[Extra, str]:
    return ftl.HttpResponse(body=Extra(extra=True))
"""

GREET = """\
from dataclasses import dataclass
from typing import Annotated

import ftl


@dataclass
class Greeting:
    text: str


@ftl.ingress("GET", "/greet")
def greet(
    req: ftl.HttpRequest[None, None, None], greeting: Annotated[str, ftl.Config("greeting")]
) -> ftl.HttpResponse[Greeting, str]:
    return ftl.HttpResponse(body=Greeting(text=greeting))
"""

BANK = """realm bank {{
  module balance {{
    export realm data {data} {{
      amount Int
    }}
  }}
}}
"""

SHOP = """\
from dataclasses import dataclass

from ftl_modules.bank import balance

import ftl


@dataclass
class Paid:
    {field}: balance.{data}


@ftl.ingress("GET", "/pay")
def pay(req: ftl.HttpRequest[None, None, None]) -> ftl.HttpResponse[Paid, str]:
    return ftl.HttpResponse(body=Paid({field}=balance.{data}(amount={amount})))
"""


def pin_bank(project: Path, commit: str, data: str) -> str:
    """A pin of realm `bank` whose public schema is in the project's cache, as `ftl realm update`
    leaves it (so no git server is needed)."""
    from ftl.project import RealmPin
    from ftl.realm import cache

    pin = RealmPin("bank", "file:///nowhere/bank", "", commit * 40, "ftl-public-schema.ftl")
    cache.store(project / ".ftl", pin, BANK.format(data=data))
    return f'\n[realms.egress.bank]\ngit-repo = "{pin.git_repo}"\ngit-commit = "{pin.git_commit}"\n'


def write_module(root: Path, name: str, source: str) -> Path:
    directory = root / "modules" / name
    (directory / name).mkdir(parents=True, exist_ok=True)
    (directory / "ftl.toml").write_text(f'module = "{name}"\nlanguage = "python"\n')
    path = directory / name / "__init__.py"
    path.write_text(source)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "ftl-project.toml").write_text('realm = "devtest"\nmodule-dirs = ["modules"]\n')
    write_module(root, "hello", HELLO.format(message="v1"))
    write_module(root, "relay", RELAY)
    return root


@dataclass
class DevProcess:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    seen_pids: set[int] = field(default_factory=set)
    ingress: str = ""
    admin: str = ""
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

    def wait_line(self, pattern: str, *, after: int = 0) -> re.Match[str]:
        """The first output line from index `after` on that matches `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + WAIT_S
        with self._changed:
            while True:
                for line in self.lines[after:]:
                    if match := regex.search(line):
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.eof:
                    raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))
                self._changed.wait(min(remaining, 0.5))

    def count(self, pattern: str) -> int:
        regex = re.compile(pattern)
        with self._changed:
            return sum(1 for line in self.lines if regex.search(line))

    def remember_descendants(self) -> None:
        self.seen_pids |= descendants(self.process.pid)


def descendants(root: int) -> set[int]:
    """Every live process below `root`, found through /proc parent links."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found: set[int] = set()
    frontier = [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


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
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture
def start_dev(project: Path) -> Iterator[Callable[..., DevProcess]]:
    started: list[DevProcess] = []

    def start(*extra: str, cwd: Path = project) -> DevProcess:
        env = dev_env()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ftl",
                "dev",
                "--plain",
                "--bind",
                "127.0.0.1:0",
                "--ingress-bind",
                "127.0.0.1:0",
                *extra,
            ],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        dev = DevProcess(process)
        started.append(dev)
        threading.Thread(target=dev.read, daemon=True).start()
        match = dev.wait_line(r"ingress (http://\S+?),? .*(?:console|admin) (http://\S+)")
        dev.ingress, dev.admin = match[1], match[2]
        return dev

    yield start
    for dev in started:
        print(f"--- ftl dev output (pid {dev.process.pid}) ---", *dev.lines, sep="\n")
        dev.remember_descendants()
        if dev.process.poll() is None:
            kill_tree(dev.process.pid)
            dev.process.wait(timeout=10)
        for pid in dev.seen_pids:
            if alive(pid):
                kill_tree(pid)
    for dev in started:
        assert poll(functools.partial(all_exited, dev.seen_pids), "child processes to exit")


def all_exited(pids: set[int]) -> bool:
    return not [pid for pid in pids if alive(pid)]


def dev_env() -> dict[str, str]:
    """The environment `ftl` commands run in: no colours, and nothing that points elsewhere."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("FTL_PROJECT_FILE", None)
    for name in [n for n in env if n.startswith("FTL_SECRET_")]:
        del env[name]
    return env


def kill_tree(pid: int) -> None:
    """SIGKILL the process group led by `pid`, or else the process itself."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def get(dev: DevProcess, path: str) -> httpx.Response:
    return httpx.get(dev.ingress + path, timeout=5)


def answer(dev: DevProcess, path: str, key: str) -> Any:
    response = get(dev, path)
    return response.json().get(key) if response.status_code == 200 else None


def test_dev_edit_break_fix_add_delete_and_stop(project: Path, start_dev: Callable[..., DevProcess]) -> None:
    dev = start_dev()
    poll(lambda: answer(dev, "/hello", "message") == "v1", "the first deploy")
    poll(lambda: answer(dev, "/relay", "relayed") == "v1", "the dependent module")
    assert httpx.get(dev.admin + "/", timeout=5).status_code == 200  # the console
    dev.remember_descendants()

    # Edit a verb: the new answer serves, and the module that calls it sees it too.
    source = project / "modules/hello/hello/__init__.py"
    source.write_text(HELLO.format(message="v2"))
    poll(lambda: answer(dev, "/hello", "message") == "v2", "the edited verb")
    poll(lambda: answer(dev, "/relay", "relayed") == "v2", "the dependent's view of the edit")
    dev.remember_descendants()

    # Break it: one error with file:line:col, while the last good version keeps answering.
    broken_from = len(dev.lines)
    source.write_text(HELLO.format(message="v3").replace("class Answer:", "class Answer(:"))
    error = dev.wait_line(r"modules/hello/hello/__init__\.py:(\d+):(\d+): ", after=broken_from)
    assert int(error[1]) == 10
    assert answer(dev, "/hello", "message") == "v2"

    # Fix it: the new answer serves; the error was shown exactly once.
    source.write_text(HELLO.format(message="v3"))
    poll(lambda: answer(dev, "/hello", "message") == "v3", "the fixed verb")
    assert dev.count(r"modules/hello/hello/__init__\.py:\d+:\d+: ") == 1

    # A new module starts serving; a deleted one stops.
    write_module(project, "extra", EXTRA)
    poll(lambda: answer(dev, "/extra", "extra") is True, "the added module")
    dev.remember_descendants()
    shutil.rmtree(project / "modules/extra")
    poll(lambda: get(dev, "/extra").status_code == 404, "the deleted module to go")
    dev.wait_line(r"^removed extra")
    dev.remember_descendants()

    # Ctrl-C stops everything.
    os.killpg(dev.process.pid, signal.SIGINT)
    assert dev.process.wait(timeout=WAIT_S) == 0
    dev.wait_line(r"^stopped$")
    poll(lambda: not [p for p in dev.seen_pids if alive(p)], "every runner to stop")


def test_ctrl_c_with_a_log_follower_connected_stops_cleanly(
    project: Path, start_dev: Callable[..., DevProcess]
) -> None:
    dev = start_dev()
    poll(lambda: answer(dev, "/hello", "message") == "v1", "the first deploy")
    follower = subprocess.Popen(
        [sys.executable, "-m", "ftl", "logs", "-f", "-n", "0", "--kind", "all", "--endpoint", dev.admin],
        cwd=project,
        env=dev_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    followed: list[str] = []

    def read() -> None:
        assert follower.stdout is not None
        followed.extend(follower.stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # Only the stream prints new events (`-n 0`): a printed line means the follower is connected.
        poll(lambda: get(dev, "/hello") and followed, "the follower to print a new event")
        first = len(dev.lines)
        os.killpg(dev.process.pid, signal.SIGINT)
        assert dev.process.wait(timeout=WAIT_S) == 0
        dev.wait_line(r"^stopped$", after=first)
        follower.wait(timeout=WAIT_S)
        assert follower.stderr is not None
        err = follower.stderr.read()
    finally:
        if follower.poll() is None:
            os.killpg(follower.pid, signal.SIGKILL)
            follower.wait(timeout=WAIT_S)
    output = "\n".join(dev.lines)
    assert "Exception in ASGI application" not in output and "Traceback" not in output, output
    assert follower.returncode == 0 and "stopped" in err


def test_dev_redeploys_only_what_an_edit_reshapes_and_shows_an_importer_a_fix_breaks(
    project: Path, start_dev: Callable[..., DevProcess]
) -> None:
    dev = start_dev()
    poll(lambda: answer(dev, "/relay", "relayed") == "v1", "the first deploy")
    dev.remember_descendants()

    # A verb's body edited: its interface is the same, so the module importing it is left alone.
    source = project / "modules/hello/hello/__init__.py"
    edited_from = len(dev.lines)
    source.write_text(HELLO.format(message="v2"))
    poll(lambda: answer(dev, "/relay", "relayed") == "v2", "the edited verb, through the importer")
    assert dev.wait_line(r"^deployed .*", after=edited_from)[0].startswith("deployed hello in ")
    dev.remember_descendants()

    # Broken, then in one save fixed and its verb renamed: the importer's own error shows, and
    # the line says that the fixed module is not live either.
    broken_from = len(dev.lines)
    source.write_text(HELLO.format(message="v3").replace("class Answer:", "class Answer(:"))
    dev.wait_line(r"^failed: hello", after=broken_from)
    renamed_from = len(dev.lines)
    renamed = HELLO.format(message="v3").replace("def message(", "def message2(")
    source.write_text(renamed.replace("body=message(None)", "body=message2(None)"))
    dev.wait_line(
        r"^failed: relay \(relay v1 still serving; hello not deployed either: hello v2 still serving\)$",
        after=renamed_from,
    )
    dev.wait_line(r"^modules/relay/relay/__init__\.py:\d+:\d+: .*\bmessage\b", after=renamed_from)
    assert answer(dev, "/hello", "message") == "v2"
    dev.remember_descendants()


def test_dev_reports_a_runner_crash_once_and_restarts_it(
    project: Path, start_dev: Callable[..., DevProcess]
) -> None:
    dev = start_dev("--no-console")
    poll(lambda: answer(dev, "/hello", "message") == "v1", "the first deploy")
    assert httpx.get(dev.admin + "/api/status", timeout=5).status_code == 200
    assert httpx.get(dev.admin + "/", timeout=5).status_code == 404
    assert get(dev, "/hello/crash").status_code >= 500
    dev.wait_line(r"^crashed: .*hello")
    poll(lambda: answer(dev, "/hello", "message") == "v1", "the restarted runner")
    assert dev.count(r"^crashed: ") == 1
    dev.remember_descendants()
    dev.process.send_signal(signal.SIGTERM)
    assert dev.process.wait(timeout=WAIT_S) == 0


def test_dev_serves_new_config_values_after_the_project_file_changes(
    project: Path, start_dev: Callable[..., DevProcess]
) -> None:
    project_file = project / "ftl-project.toml"
    base = project_file.read_text()
    project_file.write_text(base + '\n[modules.greet.config]\ngreeting = "morning"\n')
    write_module(project, "greet", GREET)
    dev = start_dev()
    poll(lambda: answer(dev, "/greet", "text") == "morning", "the first deploy")
    dev.remember_descendants()
    project_file.write_text(base + '\n[modules.greet.config]\ngreeting = "evening"\n')
    poll(lambda: answer(dev, "/greet", "text") == "evening", "the module to get its new config value")
    dev.remember_descendants()


def test_dev_follows_a_realm_pin_update_that_breaks_a_module_until_it_is_fixed(
    project: Path, start_dev: Callable[..., DevProcess]
) -> None:
    project_file = project / "ftl-project.toml"
    base = project_file.read_text()
    project_file.write_text(base + pin_bank(project, "a", "Receipt"))
    shop = write_module(project, "shop", SHOP.format(field="receipt", data="Receipt", amount=1))
    dev = start_dev()
    poll(lambda: answer(dev, "/pay", "receipt") == {"amount": 1}, "the shop built against bank v1")
    dev.remember_descendants()

    # `ftl realm update` to a version without the type the shop uses: the shop fails, once, at
    # its use of it, and the old version keeps serving.
    updated_from = len(dev.lines)
    project_file.write_text(base + pin_bank(project, "b", "Statement"))
    dev.wait_line(r"^failed: shop", after=updated_from)
    assert answer(dev, "/pay", "receipt") == {"amount": 1}

    # Fixed against the new version: the shop and the new pin go live together.
    shop.write_text(SHOP.format(field="statement", data="Statement", amount=2))
    poll(lambda: answer(dev, "/pay", "statement") == {"amount": 2}, "the shop built against bank v2")
    realms = httpx.get(dev.admin + "/api/schema", params={"format": "text"}, timeout=5).text
    assert "data Statement" in realms and "data Receipt" not in realms
    dev.remember_descendants()


def test_dev_without_console_advertises_no_console_url(start_dev: Callable[..., DevProcess]) -> None:
    dev = start_dev("--no-console")
    status = httpx.get(dev.admin + "/api/status", timeout=5).json()
    assert status["admin_url"] == dev.admin
    assert not status["console_url"]


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A copy of the repository's example project (modules and project file, no state)."""
    root = tmp_path / "examples-copy"
    root.mkdir()
    shutil.copy(REPO / "ftl-project.toml", root / "ftl-project.toml")
    junk = shutil.ignore_patterns("__pycache__", ".ftl", "*.egg-info", ".pytest_cache")
    shutil.copytree(REPO / "examples", root / "examples", ignore=junk)
    return root


def call_verb(dev: DevProcess, verb: str, body: Any) -> httpx.Response:
    return httpx.post(dev.admin + "/api/call", json={"verb": verb, "body": body}, timeout=5)


def test_dev_serves_a_secret_set_while_it_runs(examples: Path, start_dev: Callable[..., DevProcess]) -> None:
    secret = "s3cr3t-signing-key"
    dev = start_dev(cwd=examples)
    dev.wait_line(r"^ready: 3 modules serving")

    def failing() -> httpx.Response | None:
        response = call_verb(dev, "greeter.greet", {"name": "Ada"})
        return response if response.status_code >= 400 else None

    # Serving, but the verb cannot run without its secret.
    response = poll(failing, "greeter to answer with an error")
    message = response.json()["error"]["message"]
    assert "secret" in message and "signingKey" in message and "not set" in message
    dev.remember_descendants()

    set_from = len(dev.lines)
    done = subprocess.run(
        [sys.executable, "-m", "ftl", "secret", "set", "greeter.signingKey", f'"{secret}"'],
        cwd=examples,
        env=dev_env(),
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    # No save of any other file: the secret alone makes greeter redeploy with it.
    def greeted() -> Any:
        response = call_verb(dev, "greeter.greet", {"name": "Ada"})
        return response.json()["body"] if response.status_code == 200 else None

    body = poll(greeted, "greeter to serve with its new secret")
    signature = hmac.new(secret.encode(), body["text"].encode(), hashlib.sha256).hexdigest()
    assert body["signature"] == signature
    dev.wait_line(r"^deployed greeter in ", after=set_from)
    dev.remember_descendants()

    # Only greeter was redeployed, and the value is shown nowhere.
    deployments = httpx.get(dev.admin + "/api/deployments", timeout=5).json()
    versions = {d["module"]: d["version"] for d in deployments if d["state"] == "live"}
    assert versions == {"echo": 1, "greeter": 2, "time": 1}
    timeline = httpx.get(dev.admin + "/api/timeline", params={"limit": 1000}, timeout=5)
    assert timeline.status_code == 200
    assert secret not in timeline.text
    assert not [line for line in dev.lines if secret in line]


OOPS = """\
from dataclasses import dataclass

import ftl


@dataclass
class Out:
    text: str


def check(name: str) -> None:
    raise ValueError(f"bad name {name}")


@ftl.verb(export=True)
def boom(req: None) -> Out:
    check("x")
    return Out(text="unreachable")
"""


def test_dev_ignores_test_and_doc_edits_and_shows_a_verb_failure_with_its_frames(
    project: Path, start_dev: Callable[..., DevProcess]
) -> None:
    tests = project / "modules/hello/tests"
    tests.mkdir()
    (tests / "test_hello.py").write_text("def test_nothing() -> None:\n    pass\n")
    write_module(project, "oops", OOPS)
    dev = start_dev()
    dev.wait_line(r"^ready: 3 modules serving")
    dev.remember_descendants()

    # Tests and notes are no reason to redeploy; the edit after them is the sync point.
    edited_from = len(dev.lines)
    (tests / "test_hello.py").write_text("def test_something() -> None:\n    pass\n")
    (project / "modules/hello/NOTES.md").write_text("notes\n")
    (project / "modules/oops/oops/__init__.py").write_text(OOPS + "\nX = 1\n")
    dev.wait_line(r"^deployed oops in ", after=edited_from)
    assert not [line for line in dev.lines[edited_from:] if re.match(r"^deployed .*hello", line)]

    called_from = len(dev.lines)
    response = call_verb(dev, "oops.boom", {})
    assert response.status_code >= 400
    dev.wait_line(
        r"^oops\.boom failed: ValueError: bad name x \(modules/oops/oops/__init__\.py:12\)$",
        after=called_from,
    )
    frames = dev.wait_line(
        r"^  modules/oops/oops/__init__\.py:12 in check: raise ValueError", after=called_from
    )
    assert frames
    assert dev.count(r"^oops\.boom failed") == 1
    assert not [line for line in dev.lines[called_from:] if "ftl/runtime" in line]
    dev.remember_descendants()


def test_dev_keeps_serving_through_a_copied_module_dir_and_recovers(
    project: Path, start_dev: Callable[..., DevProcess]
) -> None:
    dev = start_dev()
    poll(lambda: answer(dev, "/hello", "message") == "v1", "the first deploy")
    dev.remember_descendants()

    copied_from = len(dev.lines)
    shutil.copytree(project / "modules/hello", project / "modules/hello_copy")
    dev.wait_line(
        r"^modules/hello_copy/ftl\.toml:1:10: duplicate module 'hello': defined in both modules/hello"
        r" and modules/hello_copy",
        after=copied_from,
    )
    assert answer(dev, "/hello", "message") == "v1"
    assert answer(dev, "/relay", "relayed") == "v1"

    shutil.rmtree(project / "modules/hello_copy")
    (project / "modules/hello/hello/__init__.py").write_text(HELLO.format(message="v2"))
    poll(lambda: answer(dev, "/hello", "message") == "v2", "the edit after the fix")
    assert not [line for line in dev.lines[copied_from:] if line.startswith(("removed", "added"))]
    assert dev.count("duplicate module") == 1
    dev.remember_descendants()


def test_dev_announces_a_module_hanging_on_import_and_deploys_other_edits_meanwhile(
    project: Path, start_dev: Callable[..., DevProcess]
) -> None:
    dev = start_dev()
    poll(lambda: answer(dev, "/hello", "message") == "v1", "the first deploy")
    dev.remember_descendants()

    hung_from = len(dev.lines)
    source = project / "modules/hello/hello/__init__.py"
    source.write_text(
        HELLO.format(message="v2").replace("import ftl\n", "import ftl\nimport time\n\ntime.sleep(1000)\n")
    )
    dev.wait_line(r"^deploying hello, relay: still importing after 5 s$", after=hung_from)
    dev.remember_descendants()

    # A new module goes live while the hung one waits; then the hung one is tried again.
    write_module(project, "extra", EXTRA)
    poll(lambda: answer(dev, "/extra", "extra") is True, "the module added meanwhile")
    assert answer(dev, "/hello", "message") == "v1"
    dev.remember_descendants()

    # Saving the hung module again cancels its stuck deploy and deploys the new save at once.
    source.write_text(HELLO.format(message="v3"))
    poll(lambda: answer(dev, "/hello", "message") == "v3", "the fixed module")
    assert answer(dev, "/relay", "relayed") == "v3"
    dev.remember_descendants()
    assert not [line for line in dev.lines[hung_from:] if "did not start within" in line]
