"""Schema parse / validate / print throughput, and the whole `ftl schema validate` process.

Generates a realm of 200 modules x (20 data + 20 verbs), about 1 MB and 49k lines, with realistic
fields, cross-module references and metadata, then prints MiB/s and lines/s for each stage.
Target (spec decision 6): the whole process at >= 0.6 MiB/s on a 2-core CI-class machine.

    .venv/bin/python benchmarks/schema_parse.py [--modules 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def generate_schema(modules: int = 200, data_per_module: int = 20, verbs_per_module: int = 20) -> str:
    """A valid realm: every module refers only to itself and to modules before it (no cycles)."""
    lines = ["realm bench {"]
    for index in range(modules):
        if index:
            lines.append("")
        lines.extend(
            "  " + line if line else "" for line in _module(index, data_per_module, verbs_per_module)
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _module(index: int, data_count: int, verb_count: int) -> list[str]:
    name = f"mod{index:03d}"
    upstream = f"mod{index - 1:03d}" if index else name
    out = [f"// Module {index}: generated for the schema benchmark.", f"module {name} {{"]
    out += ["  config apiUrl String", "  secret apiKey String", ""]
    for d in range(data_count):
        if d % 4 == 0:
            out.append(f"  // Rec {d} of {name}.")
        out.append(f"  export data Rec{d} {{")
        out.append('    id String +alias json "id"')
        out.append("    createdAt Time")
        out.append("    amount Float?")
        out.append("    tags [String]")
        if d % 2 == 0:
            out.append("    labels {String: String}")
        if d % 3 == 0:
            out.append(f"    parent {upstream}.Rec{(d + 1) % data_count}?")
        if d % 4 == 1:
            out.append(f"    children [{name}.Rec{(d + 2) % data_count}]")
        if d % 5 == 2:
            out.append("    payload Bytes")
        out.append("  }")
        out.append("")
    for v in range(verb_count):
        request, response = f"{name}.Rec{v % data_count}", f"{name}.Rec{(v + 1) % data_count}"
        if v % 5 == 0:
            http = f"builtin.HttpRequest<Unit, Unit, Unit>) builtin.HttpResponse<{response}, String>"
            out.append(f"  export verb get{v}({http}")
            out.append(f"    +ingress http GET /{name}/get{v}")
        elif v % 7 == 3:
            out.append(f"  verb tick{v}(Unit) Unit")
            out.append("    +cron */5 * * * *")
        else:
            out.append(f"  export verb call{v}({request}) {response}")
            target = f"{upstream}.call{v + 1}" if index and (v + 1) % 5 and (v + 1) % 7 != 3 else ""
            calls = f"{name}.call{v - 1}" if v % 5 > 1 and (v - 1) % 7 != 3 else ""
            refs = ", ".join(ref for ref in (target, calls) if ref)
            if refs:
                out.append(f"    +calls {refs}")
            if v % 2:
                out.append(f"    +secrets {name}.apiKey")
            else:
                out.append(f"    +config {name}.apiUrl")
        out.append("")
    out[-1] = "}"
    return out


def _best(repeat: int, action: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def _report(stage: str, seconds: float, size: int, lines: int) -> None:
    print(f"{stage:<28} {seconds:7.3f} s  {size / MIB / seconds:6.2f} MiB/s  {lines / seconds:9,.0f} lines/s")


def _ftl_command() -> list[str]:
    script = Path(sys.executable).with_name("ftl")
    if script.exists():
        return [str(script)]
    found = shutil.which("ftl")
    return [found] if found else [sys.executable, "-c", "from ftl.cli.app import main; main()"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--modules", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="in-process stages: best of N runs")
    args = parser.parse_args()

    from ftl.schema import parse_schema, print_schema, validate_schema

    text = generate_schema(args.modules)
    size, lines = len(text.encode()), text.count("\n")
    print(f"schema: {args.modules} modules, {size / MIB:.2f} MiB, {lines:,} lines")

    parse_s, schema = _best(args.repeat, lambda: parse_schema(text, "bench.ftl"))
    _report("parse", parse_s, size, lines)
    validate_s, (validated, errors) = _best(args.repeat, lambda: validate_schema(schema))
    if errors:
        print(f"the generated schema does not validate: {errors[0]}", file=sys.stderr)
        return 1
    _report("validate", validate_s, size, lines)
    print_s, _ = _best(args.repeat, lambda: print_schema(validated))
    _report("print", print_s, size, lines)
    _report("parse + validate + print", parse_s + validate_s + print_s, size, lines)

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "bench.ftl")
        Path(path).write_text(text, encoding="utf-8")
        command = [*_ftl_command(), "schema", "validate", path]
        subprocess.run(command, capture_output=True, check=False)  # warm the OS and the grammar cache
        timings, cpu_times = [], []
        for _ in range(args.repeat):
            wall, cpu, done = _run(command)
            timings.append(wall)
            cpu_times.append(cpu)
            if done.returncode != 0:
                print(f"`ftl schema validate` failed:\n{done.stderr[:2000]}", file=sys.stderr)
                return 1
        _report("ftl schema validate (process)", min(timings), size, lines)
        _report("  same, CPU time (user+sys)", min(cpu_times), size, lines)
        startup = min(_run([*_ftl_command(), "--version"])[0] for _ in range(args.repeat))
        print(f"{'  of which `ftl --version`':<28} {startup:7.3f} s")
    return 0


def _run(command: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall time and CPU time (user + system) of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done


if __name__ == "__main__":
    sys.exit(main())
