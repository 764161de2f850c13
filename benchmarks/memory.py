"""Backplane memory with 20 deployed modules and 100k timeline events.

Starts an in-process backplane (as `ftl serve` does), deploys 20 small modules as one changeset,
then fills the timeline with 100k call and log events the way runners report them (each call
event carries its request and response bodies) and checks that it stays bounded when another
100k arrive. Prints the backplane's resident memory (VmRSS) at each step and the runners' own.

    .venv/bin/python benchmarks/memory.py [--modules 20] [--events 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ftl.devserver.backplane import Backplane  # noqa: E402
from ftl.devserver.timeline import Timeline, TimelineEvent  # noqa: E402
from ftl.project import load_project  # noqa: E402

MODULE = """
from dataclasses import dataclass

import ftl


@dataclass
class Request:
    name: str
    count: int | None = None


@dataclass
class Response:
    message: str


@ftl.verb(export=True)
def hello(req: Request) -> Response:
    return Response(message=f"hello {req.name}")


@ftl.ingress("GET", "/{module}/hello")
def http_hello(req: ftl.HttpRequest[None, None, None]) -> ftl.HttpResponse[Response, str]:
    return ftl.HttpResponse(body=Response(message="hi"))
"""


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def write_project(root: Path, count: int) -> list[Path]:
    (root / "ftl-project.toml").write_text('realm = "mem"\nmodule-dirs = ["modules"]\n')
    directories = []
    for i in range(count):
        name = f"m{i:02d}"
        package = root / "modules" / name / name
        package.mkdir(parents=True)
        (package.parent / "ftl.toml").write_text(f'module = "{name}"\n')
        (package / "__init__.py").write_text(textwrap.dedent(MODULE.replace("{module}", name)))
        directories.append(package.parent)
    return directories


def fill(timeline: Timeline, count: int, modules: int) -> None:
    now = time.time()
    for i in range(count):
        module = f"m{i % modules:02d}"
        request_id = f"req-{i:016x}"
        if i % 4 == 3:
            timeline.add(
                TimelineEvent(
                    kind="log",
                    time=now,
                    module=module,
                    verb="hello",
                    request_id=request_id,
                    level="info",
                    message=f"handled request number {i}",
                    data={"logger": module},
                )
            )
        else:
            timeline.add(
                TimelineEvent(
                    kind="call",
                    time=now,
                    module=module,
                    verb="hello",
                    request_id=request_id,
                    duration_ms=0.2,
                    level="info",
                    data={"request": json.dumps({"name": f"user {i}"}), "response": '{"message":"hello"}'},
                )
            )


async def measure(root: Path, directories: list[Path], events: int) -> None:
    baseline = rss_kib()
    project = load_project(root / "ftl-project.toml")
    timeline = Timeline(max_events=events)
    backplane = Backplane(project, realm=project.realm, timeline=timeline)
    await backplane.start()
    try:
        started = time.perf_counter()
        result = await backplane.deploy(directories)
        if result.state != "COMMITTED":
            raise SystemExit("\n".join(str(d) for d in result.diagnostics))
        deploy_s = time.perf_counter() - started
        for deployment in backplane.deployments():
            reply = await backplane.call(deployment.module, "hello", b'{"name": "x"}')
            assert reply.error is None, reply.error
        gc.collect()
        deployed = rss_kib()
        fill(timeline, events, len(directories))
        gc.collect()
        full = rss_kib()
        fill(timeline, events, len(directories))
        gc.collect()
        refilled = rss_kib()
        runners = [backplane.runner_pid(d.key) for d in backplane.deployments()]
        runner_kib = [rss_kib(pid) for pid in runners]
    finally:
        await backplane.stop()
    mib = 1024
    print(f"{len(directories)} modules deployed in one changeset in {deploy_s * 1000:.0f} ms")
    print(f"backplane RSS before start                  {baseline / mib:8.1f} MiB")
    print(f"backplane RSS, {len(directories)} modules live                {deployed / mib:8.1f} MiB")
    print(f"backplane RSS, + {events} timeline events    {full / mib:8.1f} MiB ({len(timeline)} kept)")
    print(f"backplane RSS, + {events} more (bounded)     {refilled / mib:8.1f} MiB ({len(timeline)} kept)")
    print(f"timeline cost per event                       {(full - deployed) * 1024 / events:8.0f} bytes")
    low, high = min(runner_kib) / mib, max(runner_kib) / mib
    print(
        f"runners: {len(runner_kib)} processes, RSS each {low:.1f} to {high:.1f} MiB (forked from one zygote,"
    )
    print("         so much of it is shared copy-on-write)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=20)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ftl-memory-") as tmp:
        root = Path(tmp)
        directories = write_project(root, args.modules)
        asyncio.run(measure(root, directories, args.events))


if __name__ == "__main__":
    main()
