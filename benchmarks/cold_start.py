"""Cold start: `ftl dev` on the repo's examples, from process start to every module serving.

Each run copies the example project (ftl-project.toml + examples/) into a fresh temp dir, so no
stubs or bytecode of a previous run help, starts `ftl dev --plain` with free ports, and polls the
admin API until every module has a live deployment (target ≤ 1.5 s).

    .venv/bin/python benchmarks/cold_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reload import TIMEOUT_S, ftl_dev

REPO = Path(__file__).resolve().parent.parent


def example_modules(root: Path) -> set[str]:
    names = set()
    for path in (root / "examples").glob("*/ftl.toml"):
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "module":
                names.add(value.strip().strip('"'))
    return names


def one_run() -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="ftl-cold-") as tmp:
        root = Path(tmp)
        shutil.copy(REPO / "ftl-project.toml", root / "ftl-project.toml")
        shutil.copytree(
            REPO / "examples", root / "examples", ignore=shutil.ignore_patterns("__pycache__", ".ftl")
        )
        wanted = example_modules(root)
        started = time.perf_counter()
        with ftl_dev(root) as (_, _ingress, admin), httpx.Client(timeout=5) as client:
            deadline = started + TIMEOUT_S
            while time.perf_counter() < deadline:
                try:
                    deployments = client.get(f"{admin}/api/deployments").json()
                except (httpx.HTTPError, ValueError):
                    deployments = []
                live = {d["module"] for d in deployments if d.get("state") == "live"}
                if wanted <= live:
                    return (time.perf_counter() - started) * 1000, len(wanted)
                time.sleep(0.005)
        raise SystemExit(f"not every module went live: wanted {sorted(wanted)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    timings = []
    modules = 0
    for _ in range(args.runs):
        elapsed, modules = one_run()
        timings.append(elapsed)
    print(
        f"ftl dev cold start, {modules} example modules to all serving: "
        f"median {statistics.median(timings):.0f} ms, min {min(timings):.0f} ms, max {max(timings):.0f} ms "
        f"({args.runs} runs; target ≤ 1500 ms)"
    )


if __name__ == "__main__":
    main()
