"""Ingress answers without a body, HEAD, and responses that cannot be rendered, through a real `ftl dev`.

One `ftl dev --plain` (port 0 for both servers, its own session) serves a real module over real
sockets; it is stopped with its whole process group. The timeline is read through the admin API
and `ftl logs`, as a developer would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

WAIT_S = 30.0

USERS = """\
from dataclasses import dataclass

import ftl


@dataclass
class ApiError:
    message: str


@dataclass
class UserPath:
    user_id: int


@dataclass
class User:
    name: str


@ftl.ingress("GET", "/users/{user_id}")
def get_user(req: ftl.HttpRequest[None, UserPath, None]) -> ftl.HttpResponse[User, ApiError]:
    return ftl.HttpResponse(body=User(name=f"user {req.path_parameters.user_id}"))


@ftl.ingress("DELETE", "/users/{user_id}")
def delete_user(req: ftl.HttpRequest[None, UserPath, None]) -> ftl.HttpResponse[None, ApiError]:
    return ftl.HttpResponse(status=204)


@ftl.ingress("DELETE", "/sessions/{user_id}")
def end_session(req: ftl.HttpRequest[None, UserPath, None]) -> ftl.HttpResponse[ftl.Empty, ApiError]:
    return ftl.HttpResponse(status=204, body=ftl.Empty())


@ftl.ingress("GET", "/old/users/{user_id}")
def old_user(req: ftl.HttpRequest[None, UserPath, None]) -> ftl.HttpResponse[str, ApiError]:
    return ftl.HttpResponse(status=302, headers={"Location": [f"/users/{req.path_parameters.user_id}"]})


@ftl.ingress("GET", "/broken")
def broken(req: ftl.HttpRequest[None, None, None]) -> ftl.HttpResponse[str, ApiError]:
    return ftl.HttpResponse(body="x", error=ApiError(message="secret-detail"))
"""


@dataclass
class Dev:
    root: Path
    ingress: str
    admin: str
    output: list[str] = field(default_factory=list)

    def ingress_event(self, request_id: str) -> dict[str, Any]:
        """The ingress event of one request, once the backplane has recorded it."""
        deadline = time.monotonic() + WAIT_S
        while True:
            params = {"kind": "ingress", "request_id": request_id}
            events = httpx.get(f"{self.admin}/api/timeline", params=params).json()
            if events:
                [event] = events
                return dict(event)
            assert time.monotonic() < deadline, f"no ingress event for {request_id}"
            time.sleep(0.05)  # polling the API for an event that is recorded right after the answer


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    root = tmp_path_factory.mktemp("ingress_responses")
    (root / "ftl-project.toml").write_text('realm = "s"\nmodule-dirs = ["modules"]\n')
    package = root / "modules" / "users" / "users"
    package.mkdir(parents=True)
    (package.parent / "ftl.toml").write_text('module = "users"\nlanguage = "python"\n')
    (package / "__init__.py").write_text(USERS)
    command = [sys.executable, "-m", "ftl", "dev", "--plain", "--bind", "127.0.0.1:0"]
    command += ["--ingress-bind", "127.0.0.1:0"]
    process = subprocess.Popen(
        command,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield _wait_until_serving(process, root)
    finally:
        # SIGTERM lets `ftl dev` stop its runners; the group SIGKILL is for a backplane that hangs.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=WAIT_S)
        if process.stdout is not None:
            process.stdout.close()


def _wait_until_serving(process: subprocess.Popen[str], root: Path) -> Dev:
    """The running `ftl dev`, once it says every module is serving (or a failure with its output)."""
    lines: list[str] = []
    found: dict[str, str] = {}
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            urls = re.search(r"ingress (http://\S+?), (?:console|admin) (http://\S+)", line)
            if urls:
                found["ingress"], found["admin"] = urls.groups()
            if line.startswith("ready:"):
                ready.set()
        ready.set()  # end of output: the process is gone

    threading.Thread(target=read, daemon=True).start()
    ready.wait(WAIT_S)
    output = "".join(lines)
    assert process.poll() is None and "ingress" in found and "ready:" in output, output
    return Dev(root, found["ingress"], found["admin"], lines)


def _assert_no_server_errors(dev: Dev) -> None:
    output = "".join(dev.output)
    assert "Traceback" not in output and "Exception in ASGI application" not in output, output


def test_a_204_without_a_body_is_an_empty_204(dev: Dev) -> None:
    response = httpx.delete(f"{dev.ingress}/users/5")
    assert (response.status_code, response.content) == (204, b""), response.text
    assert "content-type" not in response.headers and "content-length" not in response.headers
    event = dev.ingress_event(response.headers["x-ftl-request-id"])
    assert (event["level"], event["message"]) == ("info", "DELETE /users/5 204")


def test_a_204_with_an_empty_body_sends_nothing_and_keeps_the_connection_usable(dev: Dev) -> None:
    with httpx.Client(base_url=dev.ingress) as client:
        ended = client.delete("/sessions/5")
        after = client.get("/users/5")  # the same keep-alive connection
    assert (ended.status_code, ended.content) == (204, b"")
    assert "content-type" not in ended.headers and "content-length" not in ended.headers
    assert (after.status_code, after.json()) == (200, {"name": "user 5"})
    _assert_no_server_errors(dev)


def test_a_redirect_goes_out_with_its_location(dev: Dev) -> None:
    moved = httpx.get(f"{dev.ingress}/old/users/3")
    assert (moved.status_code, moved.content) == (302, b"")
    assert moved.headers["location"] == "/users/3"
    followed = httpx.get(f"{dev.ingress}/old/users/3", follow_redirects=True)
    assert (followed.status_code, followed.json()) == (200, {"name": "user 3"})


def test_head_answers_like_get_without_the_body(dev: Dev) -> None:
    got = httpx.get(f"{dev.ingress}/users/7")
    head = httpx.head(f"{dev.ingress}/users/7")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))
    assert head.headers["content-type"] == got.headers["content-type"] == "application/json; charset=utf-8"
    event = dev.ingress_event(head.headers["x-ftl-request-id"])
    assert event["message"] == "HEAD /users/7 200" and event["verb"] == "getUser"


def test_an_unrenderable_response_is_a_bare_500_and_the_timeline_says_why(dev: Dev) -> None:
    response = httpx.get(f"{dev.ingress}/broken")
    assert (response.status_code, response.text) == (500, "Internal Server Error\n")
    request_id = response.headers["x-ftl-request-id"]
    reason = "response could not be rendered: both body and error are set"
    event = dev.ingress_event(request_id)
    assert event["level"] == "error"
    assert event["message"].startswith(f"GET /broken 500: {reason}")
    assert event["data"]["error_kind"] == "bad_response"

    env = {**os.environ, "NO_COLOR": "1"}
    logs = subprocess.run(
        [sys.executable, "-m", "ftl", "logs", "--kind", "ingress", "--plain", "--endpoint", dev.admin],
        cwd=dev.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert logs.returncode == 0, logs.stderr
    [line] = [line for line in logs.stdout.splitlines() if request_id in line]
    assert "ERROR" in line and reason in line
    _assert_no_server_errors(dev)
