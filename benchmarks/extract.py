"""Extraction + validation time: the example project, and a generated 50-module project.

Each run is a whole `build_project` (discover, order, import and extract every module in this
process, write stubs, validate the merged schema), as `ftl build` does it; the first run of each
project is reported separately because it also pays for Python's bytecode compilation.

Then `load_module` per example module as a runner pays for it: each run is a fresh process that has
imported the runner (as the zygote has before it forks) and times one `load_module` call.

    .venv/bin/python benchmarks/extract.py [--modules 50] [--repeat 5] [--loads 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ftl.build import build_project, scan_modules, stubs_dir  # noqa: E402
from ftl.project import Project, load_project  # noqa: E402
from ftl.schema import ast, validate_schema  # noqa: E402


def generated_module(index: int) -> str:
    """A module with 5 data types (an enum, a generic), 4 verbs, config, and a call to the previous module."""
    uses_previous = index > 0
    previous = f"m{index - 1:02d}"
    imports = f"from ftl_modules import {previous}\n" if uses_previous else ""
    call = f"    {previous}.lookup({previous}.Item(sku='x', qty=1, tags=[]))\n" if uses_previous else ""
    return textwrap.dedent(
        """\
        from __future__ import annotations

        import datetime
        from dataclasses import dataclass
        from enum import StrEnum
        from typing import Annotated, Generic, TypeVar

        import ftl
        {imports}
        T = TypeVar("T")


        class Status(StrEnum):
            OPEN = "open"
            CLOSED = "closed"


        @dataclass
        class Item:
            sku: str
            qty: int
            tags: list[str]
            note: str | None = None


        @dataclass
        class OrderPath:
            order_id: int


        @dataclass
        class Page(Generic[T]):
            items: list[T]
            next_token: str | None = None


        @dataclass
        class Order:
            id: int
            status: Status
            placed_at: datetime.datetime
            items: list[Item]
            extra: dict[str, str] | None = None


        @ftl.verb(export=True)
        def lookup(req: Item) -> Order:
            '''Look an item up.'''
        {call}    now = datetime.datetime.now(datetime.UTC)
            return Order(id=1, status=Status.OPEN, placed_at=now, items=[])


        @ftl.verb(export=True)
        def list_orders(req: Page[Item], limit: Annotated[int, ftl.Config("limit")]) -> Page[Order]:
            return Page(items=[])


        @ftl.verb
        async def refresh() -> None:
            pass


        @ftl.ingress("GET", "/m{index:02d}/orders/{{order_id}}")
        def get_order(req: ftl.HttpRequest[None, OrderPath, None]) -> ftl.HttpResponse[Order, str]:
            return ftl.HttpResponse(body=lookup(Item(sku=str(req.path_parameters.order_id), qty=1, tags=[])))
        """
    ).format(imports=imports, call=call, index=index)


def generate_project(root: Path, modules: int) -> Project:
    (root / "ftl-project.toml").write_text('realm = "bench"\nmodule-dirs = ["modules"]\n')
    for index in range(modules):
        name = f"m{index:02d}"
        directory = root / "modules" / name
        (directory / name).mkdir(parents=True)
        (directory / "ftl.toml").write_text(f'module = "{name}"\nlanguage = "python"\n')
        (directory / name / "__init__.py").write_text(generated_module(index))
    return load_project(root / "ftl-project.toml")


def measure(label: str, project: Project, repeat: int) -> None:
    timings: list[float] = []
    validations: list[float] = []
    modules = 0
    for _ in range(repeat + 1):
        started = time.perf_counter()
        result = build_project(project)
        timings.append(time.perf_counter() - started)
        if result.diagnostics:
            raise SystemExit("\n".join(str(d) for d in result.diagnostics))
        modules = len(result.modules)
        merged = ast.Schema((ast.Realm(project.realm, tuple(result.module_schemas.values())),))
        started = time.perf_counter()
        validate_schema(merged)
        validations.append(time.perf_counter() - started)
    first, rest = timings[0], timings[1:]
    median = statistics.median(rest)
    validation = statistics.median(validations[1:])
    print(
        f"{label:<10} {modules:>3} modules: build first {first * 1000:6.1f} ms, "
        f"median {median * 1000:6.1f} ms ({median * 1000 / modules:5.2f} ms/module; "
        f"validation {validation * 1000:6.1f} ms), min {min(rest) * 1000:.1f} ms over {len(rest)} runs"
    )


LOAD_ONCE = """
import sys, time
from pathlib import Path
from ftl.runtime import runner  # what the zygote imports before it forks a runner
from ftl.runtime.loader import load_module
started = time.perf_counter()
load_module(Path(sys.argv[1]), stubs=Path(sys.argv[2]))
print((time.perf_counter() - started) * 1000)
"""


def measure_loads(project: Project, runs: int) -> None:
    """Median `load_module` time of each module, each run in a fresh process (after `ftl build`)."""
    stubs = stubs_dir(project.root)
    infos, _ = scan_modules(project)
    for directory in sorted(info.directory for info in infos):
        timings = [
            float(
                subprocess.run(
                    [sys.executable, "-c", LOAD_ONCE, str(directory), str(stubs)],
                    check=True,
                    capture_output=True,
                    text=True,
                    cwd=project.root,
                ).stdout
            )
            for _ in range(runs)
        ]
        print(
            f"load_module {directory.name:<10} median {statistics.median(timings):6.2f} ms, "
            f"min {min(timings):6.2f} ms, max {max(timings):6.2f} ms over {runs} fresh processes"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--loads", type=int, default=20, help="fresh processes per load_module timing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ftl-bench-extract-") as scratch:
        root = Path(scratch)
        shutil.copytree(REPO / "examples", root / "examples", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(REPO / "ftl-project.toml", root / "ftl-project.toml")
        examples = load_project(root / "ftl-project.toml")
        measure("examples", examples, args.repeat)
        measure_loads(examples, args.loads)
        generated = root / "generated"
        generated.mkdir()
        measure("generated", generate_project(generated, args.modules), args.repeat)


if __name__ == "__main__":
    main()
