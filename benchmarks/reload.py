"""Hot reload: save a verb's file → the first ingress response that shows the change.

Side by side in the same run: `ftl dev` serving one small module, and `uvicorn --reload` serving
an equivalent Starlette app. Both are timed the same way: write the file, then poll the HTTP
route every POLL_S until the new answer comes back. Prints p50/p90 of each and their ratio
(targets: ftl p50 ≤ 100 ms and ≤ 1/3 of uvicorn's).

    .venv/bin/python benchmarks/reload.py [--edits 20] [--only ftl|uvicorn]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

POLL_S = 0.002
TIMEOUT_S = 60.0

FTL_MODULE = """\
from dataclasses import dataclass

import ftl


@dataclass
class Reply:
    n: int


@ftl.ingress("GET", "/bench")
def bench(req: ftl.HttpRequest[None, None, None]) -> ftl.HttpResponse[Reply, str]:
    return ftl.HttpResponse(body=Reply(n={n}))
"""

STARLETTE_APP = """\
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def bench(request):
    return JSONResponse({{"n": {n}}})


app = Starlette(routes=[Route("/bench", bench)])
"""


class Server:
    """A server process in its own session, with its output collected for URL discovery."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def find(self, pattern: str) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := regex.search(line):
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.01)
        raise SystemExit(f"server did not print {pattern!r}:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextlib.contextmanager
def ftl_dev(project: Path, extra: tuple[str, ...] = ()) -> Iterator[tuple[Server, str, str]]:
    """`ftl dev --plain` on `project` with free ports; yields (server, ingress URL, admin URL)."""
    argv = [sys.executable, "-m", "ftl", "dev", "--plain", "--bind", "127.0.0.1:0"]
    server = Server([*argv, "--ingress-bind", "127.0.0.1:0", *extra], project)
    try:
        match = server.find(r"ingress (http://\S+?),? .*(?:console|admin) (http://\S+)")
        yield server, match[1], match[2]
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(client: httpx.Client, url: str, expected: int, timeout: float = TIMEOUT_S) -> float | None:
    """Poll `url` until it answers {"n": expected}; when it did (perf_counter), or None on timeout."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            response = client.get(url)
            if response.status_code == 200 and response.json().get("n") == expected:
                return time.perf_counter()
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(POLL_S)
    return None


def measure(url: str, write: Callable[[int], None], edits: int) -> list[float]:
    """Milliseconds from each write to the first response showing it.

    A warm-up edit comes first, rewritten until it shows: a reloader may still be setting up its
    file watches when the server already answers.
    """
    timings: list[float] = []
    with httpx.Client(timeout=5) as client:
        if wait_for(client, url, 0) is None:
            raise SystemExit(f"{url} never answered")
        for _ in range(int(TIMEOUT_S)):
            write(1)
            if wait_for(client, url, 1, timeout=1.0) is not None:
                break
        else:
            raise SystemExit(f"{url} never picked up an edit")
        for n in range(2, edits + 2):
            started = time.perf_counter()
            write(n)
            seen = wait_for(client, url, n)
            if seen is None:
                raise SystemExit(f"{url} never answered n={n}")
            timings.append((seen - started) * 1000)
    return timings


def bench_ftl(edits: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="ftl-reload-") as tmp:
        root = Path(tmp)
        (root / "ftl-project.toml").write_text('realm = "bench"\nmodule-dirs = ["modules"]\n')
        package = root / "modules/bench/bench"
        package.mkdir(parents=True)
        (root / "modules/bench/ftl.toml").write_text('module = "bench"\n')
        source = package / "__init__.py"
        source.write_text(FTL_MODULE.format(n=0))
        with ftl_dev(root) as (_, ingress, _admin):
            return measure(f"{ingress}/bench", lambda n: source.write_text(FTL_MODULE.format(n=n)), edits)


def bench_uvicorn(edits: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="uvicorn-reload-") as tmp:
        root = Path(tmp)
        source = root / "app.py"
        source.write_text(STARLETTE_APP.format(n=0))
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "app:app",
            "--reload",
            "--port",
            str(port),
            "--log-level",
            "info",
        ]
        server = Server(argv, root)
        try:
            server.find(r"Uvicorn running on")
            return measure(
                f"http://127.0.0.1:{port}/bench",
                lambda n: source.write_text(STARLETTE_APP.format(n=n)),
                edits,
            )
        finally:
            server.stop()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(name: str, timings: list[float]) -> None:
    print(
        f"{name:<16} p50 {statistics.median(timings):7.1f} ms   p90 {percentile(timings, 0.9):7.1f} ms"
        f"   min {min(timings):6.1f} ms   max {max(timings):6.1f} ms   ({len(timings)} edits)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--only", choices=["ftl", "uvicorn"])
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    if args.only in (None, "ftl"):
        results["ftl dev"] = bench_ftl(args.edits)
        report("ftl dev", results["ftl dev"])
    if args.only in (None, "uvicorn"):
        results["uvicorn --reload"] = bench_uvicorn(args.edits)
        report("uvicorn --reload", results["uvicorn --reload"])
    if len(results) == 2:
        ftl_p50 = statistics.median(results["ftl dev"])
        uvicorn_p50 = statistics.median(results["uvicorn --reload"])
        print(f"ratio ftl/uvicorn p50: {ftl_p50 / uvicorn_p50:.2f} (target ≤ 0.33; ftl p50 target ≤ 100 ms)")


if __name__ == "__main__":
    main()
