"""`ftl build` errors that span modules, in a project made by `ftl init` and `ftl new`, driven as a
user runs them: a route copied from another module, a call to a verb another module lacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def ftl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("FTL_", "PYTEST_"))}
    environment["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "ftl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """`ftl init s && cd s && ftl new a && ftl new b`, built once so b's stub exists."""
    root = tmp_path / "s"
    for args, cwd in ((("init", "s"), tmp_path), (("new", "a"), root), (("new", "b"), root)):
        result = ftl(cwd, *args)
        assert result.returncode == 0, result.stderr
    built = ftl(root, "build")
    assert built.returncode == 0, built.stderr
    return root


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def test_a_copied_route_is_reported_in_the_copy_naming_both_modules(project: Path) -> None:
    code = project / "a" / "a" / "__init__.py"
    code.write_text(code.read_text().replace('"/a/hello/{name}"', '"/b/hello/{name}"'))
    line_a = line_of(code, "@ftl.ingress")
    line_b = line_of(project / "b" / "b" / "__init__.py", "@ftl.ingress")
    result = ftl(project, "build")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"a/a/__init__.py:{line_a}:2: ingress route GET /b/hello/{{name}} is already served by b.hello "
        f"(b/b/__init__.py:{line_b}:2)"
    ]


def test_calls_to_verbs_another_module_lacks_or_keeps_private(project: Path) -> None:
    b_code = project / "b" / "b" / "__init__.py"
    b_code.write_text(
        b_code.read_text()
        + "\n\n@ftl.verb\ndef settle(req: EchoRequest) -> EchoResponse:\n"
        + "    return EchoResponse(message='')\n"
    )
    a_code = project / "a" / "a" / "__init__.py"
    a_code.write_text(
        a_code.read_text()
        + "\n\nfrom ftl_modules import b\n\n\n@ftl.verb\ndef pay(req: EchoRequest) -> None:\n"
        + "    b.refund(b.EchoRequest(name=req.name))\n"
        + "    b.settle(b.EchoRequest(name=req.name))\n"
    )
    result = ftl(project, "build")
    assert result.returncode == 1
    refund = line_of(a_code, "b.refund(")
    assert result.stderr.splitlines() == [
        f"a/a/__init__.py:{refund}:5: module b has no verb refund (its exported verbs: echo, hello)",
        f"a/a/__init__.py:{refund + 1}:5: verb settle of module b is not exported: "
        "mark it `@ftl.verb(export=True)` to use it from other modules",
    ]
