"""Ingress answers to bad requests, through a real `ftl dev` serving a real module over real sockets.

One `ftl dev --plain` for the module (port 0 for both servers, its own session), stopped with its
whole process group.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest

pytestmark = pytest.mark.e2e

WAIT_S = 30.0

ORDERS = """\
from dataclasses import dataclass

import ftl


@dataclass
class LineItem:
    sku: str
    qty: int


@dataclass
class Order:
    order_id: str
    items: list[LineItem]


@dataclass
class Placed:
    count: int
    query_was_none: bool


@ftl.ingress("POST", "/orders")
def place(req: ftl.HttpRequest[Order, None, None]) -> ftl.HttpResponse[Placed, str]:
    return ftl.HttpResponse(body=Placed(count=len(req.body.items), query_was_none=req.query is None))
"""


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("ingress_errors")
    (root / "ftl-project.toml").write_text('realm = "shop"\nmodule-dirs = ["modules"]\n')
    package = root / "modules" / "orders" / "orders"
    package.mkdir(parents=True)
    (package.parent / "ftl.toml").write_text('module = "orders"\nlanguage = "python"\n')
    (package / "__init__.py").write_text(ORDERS)
    command = [sys.executable, "-m", "ftl", "dev", "--plain", "--bind", "http://127.0.0.1:0"]
    command += ["--ingress-bind", "http://127.0.0.1:0"]
    process = subprocess.Popen(
        command,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield _wait_until_serving(process)
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


def _wait_until_serving(process: subprocess.Popen[str]) -> str:
    """The ingress URL, once `ftl dev` says every module is serving (or a failure with its output)."""
    lines: list[str] = []
    found: dict[str, str] = {}
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            url = re.search(r"ingress (http://\S+?),", line)
            if url:
                found["ingress"] = url.group(1)
            if line.startswith("ready:"):
                ready.set()
        ready.set()  # end of output: the process is gone

    threading.Thread(target=read, daemon=True).start()
    ready.wait(WAIT_S)
    output = "".join(lines)
    assert process.poll() is None and "ingress" in found and "ready:" in output, output
    return found["ingress"]


def test_a_wrong_type_names_its_path_from_the_request_root(ingress: str) -> None:
    body = {
        "orderId": "o1",
        "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}, {"sku": "c", "qty": "x"}],
    }
    response = httpx.post(f"{ingress}/orders", json=body)
    assert response.status_code == 400
    assert response.text.startswith("req.body.items[2].qty")
    assert "Int" in response.text and response.text.endswith("\n")


def test_an_empty_body_says_it_is_empty_and_what_it_should_hold(ingress: str) -> None:
    response = httpx.post(f"{ingress}/orders", content=b"")
    assert (response.status_code, response.text) == (
        400,
        "request body is empty; expected a JSON orders.Order\n",
    )


def test_a_query_string_on_a_route_without_a_query_type_is_ignored(ingress: str) -> None:
    body = {"orderId": "o1", "items": [{"sku": "a", "qty": 1}]}
    response = httpx.post(f"{ingress}/orders?x=1&utm_source=mail", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"count": 1, "queryWasNone": True}
