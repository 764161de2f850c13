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
    ],
    ids=["extract", "schema_parse"],
)
def test_benchmark_runs(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MiB/s" in result.stdout or "ms" in result.stdout
