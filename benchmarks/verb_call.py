"""Verb → verb call latency, runner to runner, beside a keep-alive loopback HTTP call.

Deploys two modules into an in-process backplane: `bench_callee` (a sync and an async `ping`) and
`bench_caller`, whose verbs time N calls to the callee from inside the runner (perf_counter_ns
around each call) and return p50/p99. In the same run, the caller also times N keep-alive HTTP
requests (http.client) to a tiny Starlette app on uvicorn serving the same ping: the peer the
architecture compares against. Target: p50 ≤ 150 µs.

    .venv/bin/python benchmarks/verb_call.py [--calls 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ftl.devserver.backplane import Backplane  # noqa: E402
from ftl.devserver.timeline import Timeline  # noqa: E402
from ftl.project import load_project  # noqa: E402

CALLEE = """
from dataclasses import dataclass

import ftl


@dataclass
class Ping:
    n: int


@dataclass
class Pong:
    n: int


@ftl.verb(export=True)
def ping(req: Ping) -> Pong:
    return Pong(req.n)


@ftl.verb(export=True)
async def aping(req: Ping) -> Pong:
    return Pong(req.n)
"""

CALLER = """
import http.client
import time
from dataclasses import dataclass

from ftl_modules import bench_callee

import ftl


@dataclass
class Run:
    calls: int
    url: str


@dataclass
class Figures:
    p50_us: float
    p99_us: float
    mean_us: float


def figures(samples: list[int]) -> Figures:
    samples.sort()
    return Figures(
        p50_us=samples[len(samples) // 2] / 1000,
        p99_us=samples[int(len(samples) * 0.99)] / 1000,
        mean_us=sum(samples) / len(samples) / 1000,
    )


@ftl.verb(export=True)
def sync_to_sync(req: Run) -> Figures:
    samples = []
    for i in range(req.calls):
        start = time.perf_counter_ns()
        bench_callee.ping(bench_callee.Ping(n=i))
        samples.append(time.perf_counter_ns() - start)
    return figures(samples)


@ftl.verb(export=True)
def sync_to_async(req: Run) -> Figures:
    samples = []
    for i in range(req.calls):
        start = time.perf_counter_ns()
        bench_callee.aping(bench_callee.Ping(n=i))
        samples.append(time.perf_counter_ns() - start)
    return figures(samples)


@ftl.verb(export=True)
async def async_to_async(req: Run) -> Figures:
    samples = []
    for i in range(req.calls):
        start = time.perf_counter_ns()
        await bench_callee.aping.call_async(bench_callee.Ping(n=i))
        samples.append(time.perf_counter_ns() - start)
    return figures(samples)


@ftl.verb(export=True)
def http_keep_alive(req: Run) -> Figures:
    host, port = req.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port))
    samples = []
    for i in range(req.calls):
        start = time.perf_counter_ns()
        body = b'{"n": %d}' % i
        connection.request("POST", "/ping", body=body, headers={"Content-Type": "application/json"})
        connection.getresponse().read()
        samples.append(time.perf_counter_ns() - start)
    connection.close()
    return figures(samples)
"""

HTTP_APP = """
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"n": (await request.json())["n"]})


app = Starlette(routes=[Route("/ping", ping, methods=["POST"])])
"""


def write_project(root: Path) -> None:
    (root / "ftl-project.toml").write_text('realm = "bench"\nmodule-dirs = ["modules"]\n')
    for name, source in (("bench_callee", CALLEE), ("bench_caller", CALLER)):
        package = root / "modules" / name / name
        package.mkdir(parents=True)
        (package.parent / "ftl.toml").write_text(f'module = "{name}"\n')
        (package / "__init__.py").write_text(textwrap.dedent(source))
    (root / "http_app.py").write_text(textwrap.dedent(HTTP_APP))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def uvicorn_app(root: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "http_app:app", "--port", str(port), "--log-level", "warning"],
        cwd=root,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


async def measure(root: Path, calls: int, url: str) -> dict[str, dict[str, float]]:
    project = load_project(root / "ftl-project.toml")
    backplane = Backplane(project, realm=project.realm, timeline=Timeline())
    await backplane.start()
    try:
        modules = root / "modules"
        result = await backplane.deploy([modules / "bench_callee", modules / "bench_caller"])
        if result.state != "COMMITTED":
            raise SystemExit("\n".join(str(d) for d in result.diagnostics))
        figures = {}
        for verb in ("sync_to_sync", "sync_to_async", "async_to_async", "http_keep_alive"):
            body = json.dumps({"calls": min(calls, 200), "url": url}).encode()
            await backplane.call("bench_caller", verb, body)  # warm-up: connections, code paths
            reply = await backplane.call(
                "bench_caller", verb, json.dumps({"calls": calls, "url": url}).encode()
            )
            if reply.error is not None or reply.body is None:
                raise SystemExit(f"{verb}: {reply.error}")
            figures[verb] = json.loads(reply.body)
        return figures
    finally:
        await backplane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ftl-bench-") as tmp:
        root = Path(tmp)
        write_project(root)
        with uvicorn_app(root) as url:
            figures = asyncio.run(measure(root, args.calls, str(url)))
    labels = {
        "sync_to_sync": "verb → verb, sync caller → sync callee",
        "sync_to_async": "verb → verb, sync caller → async callee",
        "async_to_async": "verb → verb, async caller → async callee",
        "http_keep_alive": "keep-alive loopback HTTP (http.client → uvicorn)",
    }
    print(f"{args.calls} calls each, measured inside the calling runner (target p50 ≤ 150 µs)")
    print(f"{'':52} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8}")
    for verb, label in labels.items():
        f = figures[verb]
        print(f"{label:52} {f['p50Us']:8.1f} {f['p99Us']:8.1f} {f['meanUs']:8.1f}")


if __name__ == "__main__":
    main()
