"""Ingress throughput and latency of a hello-JSON verb through the runner, beside bare Starlette.

Same run, same load generator, same settings, both on uvicorn with the same server settings
(asyncio's own event loop, uvicorn's default HTTP parser, no Date or Server header), as
`ftl serve` runs its ingress:

  (a) `ftl serve` (a real process) with one module deployed whose ingress verb answers
      GET /hello/world with `{"message": "hello"}`: ingress → router → runner → back;
  (b) a bare Starlette app on uvicorn serving the same JSON from the same handler shape.

Load comes from wrk (Debian package `wrk`) when it is installed, else from a small Python
keep-alive generator (slower: it shares the two cores with the servers, so its absolute figures
are lower; the ratio is still comparable). Target: (a)/(b) ≥ 0.7.

    .venv/bin/python benchmarks/ingress.py [--rounds 3] [--duration 5] [--connections 16] [--async-verb]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

HELLO_SYNC = """
from dataclasses import dataclass

import ftl


@dataclass
class Hello:
    message: str


@ftl.ingress("GET", "/hello/world")
def world(req: ftl.HttpRequest[None, None, None]) -> ftl.HttpResponse[Hello, str]:
    return ftl.HttpResponse(body=Hello("hello"))
"""

HELLO_ASYNC = HELLO_SYNC.replace("def world(", "async def world(")

BARE = """
import socket, sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def world(request):
    return JSONResponse({"message": "hello"})


app = Starlette(routes=[Route("/hello/world", world)])
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.bind(("127.0.0.1", 0))
print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
config = uvicorn.Config(
    app,
    loop="asyncio",
    log_level="warning",
    access_log=False,
    lifespan="off",
    server_header=False,
    date_header=False,
)
uvicorn.Server(config).run(sockets=[sock])
"""


@dataclass(frozen=True)
class Figures:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int

    def line(self, label: str) -> str:
        return (
            f"{label:<34} {self.requests_per_s:>9.0f} req/s   p50 {self.p50_ms:6.2f} ms   "
            f"p99 {self.p99_ms:6.2f} ms   errors {self.errors}"
        )


# ---------------------------------------------------------------------------------------------
# Servers


def _spawn(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def _stop(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def bare_starlette(root: Path) -> Iterator[str]:
    process = _spawn([sys.executable, "-c", BARE], root)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip() + "/hello/world"
    finally:
        _stop(process)


@contextlib.contextmanager
def ftl_serve(root: Path, source: str) -> Iterator[str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ftl-project.toml").write_text('realm = "bench"\nmodule-dirs = ["modules"]\n')
    module = root / "modules" / "hello"
    (module / "hello").mkdir(parents=True)
    (module / "ftl.toml").write_text('module = "hello"\nlanguage = "python"\n')
    (module / "hello" / "__init__.py").write_text(textwrap.dedent(source))
    args = [
        sys.executable,
        "-m",
        "ftl",
        "serve",
        "--plain",
        "--ingress-bind",
        "127.0.0.1:0",
        "--bind",
        "127.0.0.1:0",
    ]
    process = _spawn(args, root)
    try:
        assert process.stdout is not None
        urls: dict[str, str] = {}
        while "admin" not in urls or "ingress" not in urls:
            line = process.stdout.readline()
            if not line:
                raise SystemExit(f"ftl serve exited: {process.stderr.read() if process.stderr else ''}")
            name, _, value = line.strip().partition(" ")
            urls[name] = value
        request = urllib.request.Request(
            urls["admin"] + "/api/deploy",
            data=json.dumps({"module_dirs": [str(module)]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            result = json.load(response)
        if result["state"] != "COMMITTED":
            raise SystemExit(f"deploy failed: {result}")
        yield urls["ingress"] + "/hello/world"
    finally:
        _stop(process)


def _check(url: str) -> None:
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.load(response)
    assert body == {"message": "hello"}, body


# ---------------------------------------------------------------------------------------------
# Load generators


def run_wrk(url: str, duration: float, connections: int) -> Figures:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "--latency", url]
    output = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return Figures(rate, _wrk_percentile(output, "50%"), _wrk_percentile(output, "99%"), errors)


def _wrk_percentile(output: str, which: str) -> float:
    value, unit = re.search(rf"{re.escape(which)}\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def _python_load(url: str, duration: float, connections: int) -> Figures:
    host, port_path = url.removeprefix("http://").split(":", 1)
    port, path = port_path.split("/", 1)
    request = f"GET /{path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
            latencies.append(time.perf_counter() - started)
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return Figures(
        len(latencies) / elapsed,
        latencies[len(latencies) // 2] * 1000,
        latencies[int(len(latencies) * 0.99)] * 1000,
        errors,
    )


def median(rounds: list[Figures]) -> Figures:
    """The round with the median throughput (its own latencies, so the figures belong together)."""
    return sorted(rounds, key=lambda f: f.requests_per_s)[len(rounds) // 2]


def load(url: str, duration: float, connections: int, use_wrk: bool) -> Figures:
    if use_wrk:
        return run_wrk(url, duration, connections)
    return asyncio.run(_python_load(url, duration, connections))


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="Seconds of load per server and round.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds; the median is reported.")
    parser.add_argument("--warmup", type=float, default=2.0, help="Seconds of load before measuring.")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--async-verb", action="store_true", help="Make the FTL verb `async def`.")
    parser.add_argument("--python-load", action="store_true", help="Use the Python load generator, not wrk.")
    options = parser.parse_args()

    use_wrk = not options.python_load and shutil.which("wrk") is not None
    if not use_wrk and not options.python_load:
        print("wrk not found (Debian: apt-get install wrk); using the Python load generator instead")
    generator = "wrk -t1" if use_wrk else "python asyncio"
    print(
        f"load: {generator}, {options.connections} connections, "
        f"{options.rounds} rounds of {options.duration:.0f} s per server (median round)"
    )

    source = HELLO_ASYNC if options.async_verb else HELLO_SYNC
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with bare_starlette(root) as bare_url, ftl_serve(root / "project", source) as ftl_url:
            for url in (bare_url, ftl_url):
                _check(url)
                load(url, options.warmup, options.connections, use_wrk)
            # Alternate short rounds so background load on a shared machine hits both sides alike.
            bare_rounds: list[Figures] = []
            ftl_rounds: list[Figures] = []
            for _ in range(options.rounds):
                bare_rounds.append(load(bare_url, options.duration, options.connections, use_wrk))
                ftl_rounds.append(load(ftl_url, options.duration, options.connections, use_wrk))
    bare, ftl = median(bare_rounds), median(ftl_rounds)
    kind = "async" if options.async_verb else "sync"
    print(bare.line("bare Starlette + uvicorn"))
    print(ftl.line(f"ftl ingress → runner ({kind} verb)"))
    print(f"ratio ftl / bare: {ftl.requests_per_s / bare.requests_per_s:.2f} (target ≥ 0.7)")


if __name__ == "__main__":
    main()
