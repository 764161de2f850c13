"""`ftl call` and `ftl logs` against a real `ftl dev`: what a verb raised and where, unknown names,
time order, usage errors, and the trace link only when a console serves it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

WAIT_S = 60.0
BIND_ANY_PORT = ("--bind", "127.0.0.1:0", "--ingress-bind", "127.0.0.1:0")

ORDERS = """\
import logging
from dataclasses import dataclass

import ftl


@dataclass
class EchoRequest:
    name: str


@dataclass
class EchoResponse:
    message: str


@dataclass
class NamePath:
    name: str


@ftl.verb(export=True)
def echo(req: EchoRequest) -> EchoResponse:
    return EchoResponse(message=f"Hello, {req.name}!")


def check(name: str) -> None:
    raise ValueError(f"bad name {name}")


@ftl.verb
def boom(req: EchoRequest) -> EchoResponse:
    logging.getLogger(__name__).info("about to fail")
    check(req.name)
    return EchoResponse(message="never")


@ftl.ingress("GET", "/orders/boom/{name}")
def boom_http(req: ftl.HttpRequest[None, NamePath, None]) -> ftl.HttpResponse[EchoResponse, str]:
    check(req.path_parameters.name)
    return ftl.HttpResponse(body=EchoResponse(message="never"))
"""
RAISE_LINE = ORDERS.splitlines().index('    raise ValueError(f"bad name {name}")') + 1
WHERE = f"orders/orders/__init__.py:{RAISE_LINE}"


def clean_env(**extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("FTL_", "PYTEST_", "NO_COLOR"))}
    return {**environment, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", **extra}


def ftl(cwd: Path, *args: str, endpoint: str = "") -> subprocess.CompletedProcess[str]:
    env = clean_env(FTL_ENDPOINT=endpoint) if endpoint else clean_env()
    return subprocess.run(
        [sys.executable, "-m", "ftl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def write_project(root: Path) -> Path:
    (root / "orders" / "orders").mkdir(parents=True)
    (root / "ftl-project.toml").write_text('realm = "s"\nmodule-dirs = ["."]\n')
    (root / "orders" / "ftl.toml").write_text('module = "orders"\nlanguage = "python"\n')
    (root / "orders" / "orders" / "__init__.py").write_text(ORDERS)
    return root


@dataclass
class Dev:
    root: Path
    process: subprocess.Popen[str]
    ingress: str = ""
    admin: str = ""
    lines: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.lines.append("<eof>")
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
                if remaining <= 0 or "<eof>" in self.lines:
                    raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))
                self._changed.wait(min(remaining, 0.5))


@contextlib.contextmanager
def running_dev(root: Path, *extra: str) -> Iterator[Dev]:
    process = subprocess.Popen(
        [sys.executable, "-m", "ftl", "dev", "--plain", *BIND_ANY_PORT, *extra],
        cwd=root,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    dev = Dev(root, process)
    threading.Thread(target=dev.read, daemon=True).start()
    try:
        match = dev.wait_line(r"ingress (http://\S+?),? .*(?:console|admin) (http://\S+)")
        dev.ingress, dev.admin = match[1], match[2]
        dev.wait_line(r"^ready: 1 module serving")
        yield dev
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM the process group (a clean stop), SIGKILL it if it does not stop in time."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    with running_dev(write_project(tmp_path_factory.mktemp("call") / "s")) as started:
        yield started


def wait_for_events(dev: Dev, request_id: str, kinds: set[str]) -> list[dict[str, object]]:
    """The request's timeline events once all `kinds` are in (runners report in batches)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        trace = httpx.get(f"{dev.admin}/api/timeline", params={"request_id": request_id}, timeout=5).json()
        if kinds <= {event["kind"] for event in trace}:
            return list(trace)
        assert time.monotonic() < deadline, f"no {kinds} events for {request_id}: {trace}"
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# ftl call


def test_a_verb_that_raises_says_what_and_where(dev: Dev) -> None:
    result = ftl(dev.root, "call", "orders.boom", '{"name": "x"}', endpoint=dev.admin)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"ftl: error: orders.boom raised ValueError: bad name x ({WHERE})\n"


def test_a_null_request_is_null_not_an_empty_object(dev: Dev) -> None:
    result = ftl(dev.root, "call", "orders.echo", "null", endpoint=dev.admin)
    assert result.returncode == 1
    assert "request: expected orders." in result.stderr and "got null" in result.stderr


def test_verbose_adds_the_request_id_trace_link_and_user_code_traceback(dev: Dev) -> None:
    result = ftl(dev.root, "call", "-v", "orders.boom", '{"name": "y"}', endpoint=dev.admin)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    request_id = lines[0].removeprefix("request id: ")
    assert request_id.startswith("req-")
    assert lines[1] == f"trace: {dev.admin}/trace/{request_id}"
    assert httpx.get(lines[1].removeprefix("trace: "), timeout=5).status_code == 200
    traceback = "\n".join(lines[2:-1])
    assert traceback.startswith("Traceback (most recent call last):")
    assert f'File "orders/orders/__init__.py", line {RAISE_LINE}, in check' in traceback
    assert "ftl/runtime" not in traceback and traceback.endswith("ValueError: bad name y")
    assert lines[-1] == f"ftl: error: orders.boom raised ValueError: bad name y ({WHERE})"


def test_ingress_clients_learn_nothing_of_the_exception(dev: Dev) -> None:
    response = httpx.get(f"{dev.ingress}/orders/boom/secret-name", timeout=10)
    assert (response.status_code, response.text) == (500, "Internal Server Error\n")


def test_a_verb_without_its_module_is_a_usage_error_that_suggests_the_module(dev: Dev) -> None:
    result = ftl(dev.root, "call", "echo", "{}", endpoint=dev.admin)
    assert result.returncode == 2, result.stderr
    flat = " ".join(result.stderr.replace("│", " ").split())
    assert "expected MODULE.VERB, got 'echo' (did you mean orders.echo?)" in flat


def test_a_verb_without_its_module_is_a_usage_error_with_no_backplane(tmp_path: Path) -> None:
    result = ftl(tmp_path, "call", "echo", "{}", endpoint=f"http://127.0.0.1:{closed_port()}")
    assert result.returncode == 2
    flat = " ".join(result.stderr.replace("│", " ").split())
    assert "expected MODULE.VERB (e.g. users.get_user), got 'echo'" in flat


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_without_a_console_no_trace_link_is_printed(tmp_path: Path) -> None:
    with running_dev(write_project(tmp_path / "s"), "--no-console") as quiet:
        result = ftl(quiet.root, "call", "-v", "orders.echo", '{"name": "z"}', endpoint=quiet.admin)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"message": "Hello, z!"}
    assert result.stderr.startswith("request id: req-") and "trace:" not in result.stderr


# ---------------------------------------------------------------------------------------------
# ftl logs


def test_logs_of_an_unknown_module_or_verb_fail_with_close_names(dev: Dev) -> None:
    nosuch = ftl(dev.root, "logs", "nosuch", endpoint=dev.admin)
    assert (nosuch.returncode, nosuch.stderr) == (1, "ftl: error: unknown module nosuch\n")
    close = ftl(dev.root, "logs", "order", endpoint=dev.admin)
    assert close.returncode == 1
    assert close.stderr == "ftl: error: unknown module order (did you mean orders?)\n"
    verb = ftl(dev.root, "logs", "orders.bom", endpoint=dev.admin)
    assert verb.returncode == 1
    assert verb.stderr == "ftl: error: module orders has no verb bom (did you mean orders.boom?)\n"


def test_logs_take_a_verb_in_either_spelling(dev: Dev) -> None:
    request_id = httpx.get(f"{dev.ingress}/orders/boom/snake", timeout=10).headers["x-ftl-request-id"]
    wait_for_events(dev, request_id, {"call"})
    for spelling in ("orders.boom_http", "orders.boomHttp"):
        result = ftl(dev.root, "logs", spelling, "--kind", "call", endpoint=dev.admin)
        assert result.returncode == 0, result.stderr
        assert request_id in result.stdout


def test_logs_show_logs_and_errors_of_every_kind_by_default(dev: Dev) -> None:
    ok = ftl(dev.root, "call", "-v", "orders.echo", '{"name": "quiet"}', endpoint=dev.admin)
    ok_id = ok.stderr.splitlines()[0].removeprefix("request id: ")
    request_id = httpx.get(f"{dev.ingress}/orders/boom/default", timeout=10).headers["x-ftl-request-id"]
    wait_for_events(dev, request_id, {"call"})
    wait_for_events(dev, ok_id, {"call"})
    shown = ftl(dev.root, "logs", "orders.boomHttp", endpoint=dev.admin)
    assert shown.returncode == 0, shown.stderr
    assert any(
        request_id in line and "call failed: ValueError: bad name default" in line
        for line in shown.stdout.splitlines()
    )
    everything = ftl(dev.root, "logs", endpoint=dev.admin).stdout
    assert ok_id not in everything  # a call that went well is no log line
    only_logs = ftl(dev.root, "logs", "orders.boomHttp", "--kind", "log", endpoint=dev.admin).stdout
    assert not any(request_id in line and "call failed" in line for line in only_logs.splitlines())


def test_logs_of_all_kinds_are_in_time_order_with_calls_shown_as_calls(dev: Dev) -> None:
    ok = ftl(dev.root, "call", "-v", "orders.echo", '{"name": "w"}', endpoint=dev.admin)
    assert ok.returncode == 0, ok.stderr
    wait_for_events(dev, ok.stderr.splitlines()[0].removeprefix("request id: "), {"call"})
    request_id = httpx.get(f"{dev.ingress}/orders/boom/ordered", timeout=10).headers["x-ftl-request-id"]
    wait_for_events(dev, request_id, {"call", "ingress"})

    as_json = ftl(dev.root, "logs", "--kind", "all", "--json", endpoint=dev.admin)
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    times = [event["time"] for event in events]
    assert times == sorted(times)
    kinds = [event["kind"] for event in events if event["request_id"] == request_id]
    assert kinds.index("call") < kinds.index("ingress")  # the call started before the answer went out

    text = ftl(dev.root, "logs", "--kind", "all", endpoint=dev.admin).stdout.splitlines()
    assert any(re.search(r" INFO  orders\.echo req-\S+ call ok \(\d+\.\d ms\)$", line) for line in text)
    failed = next(n for n, line in enumerate(text) if request_id in line and " call failed" in line)
    assert re.search(
        rf" ERROR orders\.boomHttp {request_id} call failed: ValueError: bad name ordered "
        rf"\({re.escape(WHERE)}\) \(\d+\.\d ms\)$",
        text[failed],
    )
    traceback = []
    for line in text[failed + 1 :]:
        if not line.startswith("    "):
            break
        traceback.append(line[4:])
    assert traceback[0] == "Traceback (most recent call last):"
    assert f'  File "orders/orders/__init__.py", line {RAISE_LINE}, in check' in traceback
    assert traceback[-1] == "ValueError: bad name ordered"


# ---------------------------------------------------------------------------------------------
# help


def test_optional_arguments_are_bracketed_once_in_help(tmp_path: Path) -> None:
    usages = {command: ftl(tmp_path, command, "--help").stdout for command in ("logs", "call", "deploy")}
    assert "ftl logs [OPTIONS] [MODULE[.VERB]]" in usages["logs"]
    assert "ftl call [OPTIONS] {MODULE.VERB} [JSON]" in usages["call"]
    assert "ftl deploy [OPTIONS] [DIR]..." in usages["deploy"]
    assert not any("[[" in usage for usage in usages.values())


# ---------------------------------------------------------------------------------------------
# Bad input, `-n 0`, and finding the project's own backplane


@pytest.mark.parametrize(
    ("request_text", "problem"),
    [
        ("NaN", "NaN is not a JSON number (JSON has no NaN or Infinity)"),
        ('{"x": [Infinity]}', "Infinity is not a JSON number (JSON has no NaN or Infinity)"),
        ("1e999", "1e999 is too large for a JSON number (a 64-bit float)"),
        ("9" * 5000, "an integer of 5000 digits is too large"),
    ],
)
def test_a_request_that_is_not_json_is_bad_input(tmp_path: Path, request_text: str, problem: str) -> None:
    result = ftl(tmp_path, "call", "beta.flt", request_text, endpoint=f"http://127.0.0.1:{closed_port()}")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"ftl: error: the request is not valid JSON: {problem}\n"


def test_logs_with_limit_zero_print_no_past_events(dev: Dev) -> None:
    assert ftl(dev.root, "call", "orders.echo", '{"name": "past"}', endpoint=dev.admin).returncode == 0
    assert ftl(dev.root, "logs", "--kind", "all", endpoint=dev.admin).stdout != ""
    none = ftl(dev.root, "logs", "-n", "0", "--kind", "all", endpoint=dev.admin)
    assert (none.returncode, none.stdout, none.stderr) == (0, "", "")
    negative = ftl(dev.root, "logs", "-n", "-1", endpoint=dev.admin)
    assert negative.returncode == 2


def test_following_logs_with_limit_zero_prints_only_new_events(dev: Dev) -> None:
    assert ftl(dev.root, "call", "orders.echo", '{"name": "before"}', endpoint=dev.admin).returncode == 0
    follower = subprocess.Popen(
        [sys.executable, "-m", "ftl", "logs", "-f", "-n", "0", "--kind", "call", "--json"],
        cwd=dev.root,
        env=clean_env(FTL_ENDPOINT=dev.admin),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    printed = Dev(dev.root, follower)
    threading.Thread(target=printed.read, daemon=True).start()
    made: set[str] = set()
    try:
        # Calls until the follower prints one: only then is it certainly subscribed.
        deadline = time.monotonic() + WAIT_S
        while not printed.lines:
            assert time.monotonic() < deadline, "ftl logs -f printed nothing"
            answer = httpx.post(
                f"{dev.admin}/api/call", json={"verb": "orders.echo", "body": {"name": "new"}}, timeout=10
            ).json()
            made.add(answer["request_id"])
            with printed._changed:
                printed._changed.wait_for(lambda: bool(printed.lines), timeout=0.2)
        first = json.loads(printed.lines[0])
        assert first["request_id"] in made
    finally:
        stop_group(follower)


def test_call_ps_and_logs_find_the_projects_dev_server_on_any_port(dev: Dev) -> None:
    advertised = json.loads((dev.root / ".ftl" / "endpoint").read_text())
    assert advertised["admin_url"] == dev.admin
    for cwd in (dev.root, dev.root / "orders" / "orders"):
        called = ftl(cwd, "call", "orders.echo", '{"name": "found"}')  # no --endpoint, no $FTL_ENDPOINT
        assert called.returncode == 0, called.stderr
        assert json.loads(called.stdout) == {"message": "Hello, found!"}
    listed = ftl(dev.root, "ps", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [d["module"] for d in json.loads(listed.stdout)] == ["orders"]
    assert ftl(dev.root, "logs", "orders", "--kind", "call").returncode == 0
    elsewhere = ftl(dev.root, "call", "orders.echo", endpoint=f"http://127.0.0.1:{closed_port()}")
    assert elsewhere.returncode == 1 and "no backplane at" in elsewhere.stderr  # $FTL_ENDPOINT still wins


def test_the_endpoint_file_goes_when_the_dev_server_stops(tmp_path: Path) -> None:
    root = write_project(tmp_path / "s")
    with running_dev(root, "--no-console") as started:
        assert json.loads((root / ".ftl" / "endpoint").read_text())["admin_url"] == started.admin
    assert started.process.returncode == 0
    assert not (root / ".ftl" / "endpoint").exists()


def test_ftl_serve_advertises_its_endpoint_too(tmp_path: Path) -> None:
    root = write_project(tmp_path / "s")
    process = subprocess.Popen(
        [sys.executable, "-m", "ftl", "serve", "--plain", *BIND_ANY_PORT],
        cwd=root,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    served = Dev(root, process)
    threading.Thread(target=served.read, daemon=True).start()
    try:
        admin = served.wait_line(r"^admin (http://\S+)")[1]
        assert json.loads((root / ".ftl" / "endpoint").read_text())["admin_url"] == admin
        listed = ftl(root, "ps", "--json")
        assert (listed.returncode, json.loads(listed.stdout or "null")) == (0, []), listed.stderr
    finally:
        stop_group(process)
    assert process.returncode == 0
    assert not (root / ".ftl" / "endpoint").exists()
