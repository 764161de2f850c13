"""The benchmark scripts still run (tiny sizes): a benchmark that breaks silently measures nothing."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize(
    "args",
    [
        ["extract.py", "--modules", "3", "--repeat", "1", "--loads", "1"],
        ["schema_parse.py", "--modules", "2", "--repeat", "1"],
        ["memory.py", "--modules", "2", "--events", "1000"],
        ["verb_call.py", "--calls", "20"],
        ["cold_start.py", "--runs", "1"],
        ["reload.py", "--edits", "2", "--only", "ftl"],
        ["ingress.py", "--rounds", "1", "--duration", "0.5", "--warmup", "0.2", "--python-load"],
    ],
    ids=["extract", "schema_parse", "memory", "verb_call", "cold_start", "reload", "ingress"],
)
def test_benchmark_runs(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(unit in result.stdout for unit in ("MiB/s", " ms", " µs")), result.stdout
