"""What `ftl init` and `ftl new` tell the user: names refused with why and a name that would do, and
the commands to run next."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftl.errors import FtlError
from ftl.project import load_project
from ftl.runtime.extract import hidden_package
from ftl.scaffold import (
    init_project,
    module_name_error,
    new_module,
    next_steps_after_init,
    suggested_module_name,
)


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


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("My-Mod", "my_mod"),
        ("orderBook", "order_book"),
        ("HTTPServer", "http_server"),
        ("café", "cafe"),
        ("2fa", "mod_2fa"),
        ("json", "json_module"),
        ("map", "map_module"),
        ("class", "class_module"),
        ("--", None),
    ],
)
def test_suggested_names_are_valid(name: str, suggestion: str | None) -> None:
    assert suggested_module_name(name) == suggestion
    if suggestion is not None:
        assert module_name_error(suggestion) is None


def test_an_invalid_name_says_what_a_name_must_be_and_offers_one() -> None:
    assert module_name_error("My-Mod") == (
        "module name 'My-Mod' is invalid: it must be a lower_snake_case identifier starting with a letter "
        "(a-z, then a-z, 0-9 or _); try 'my_mod'"
    )
    assert module_name_error("map") == (
        "module name 'map' is a reserved word of the schema language: choose another name; try 'map_module'"
    )


@pytest.mark.parametrize("name", ["test", "json", "typing", "os", "tests", "ftl", "ftl_modules", "conftest"])
def test_names_that_would_hide_a_package_are_refused(name: str) -> None:
    # The same list module discovery checks a module's package against.
    hidden = hidden_package(name)
    assert hidden is not None
    assert module_name_error(name) == f"module name {name!r} would hide {hidden}; try '{name}_module'"


def test_new_refuses_a_stdlib_name_and_writes_nothing(tmp_path: Path) -> None:
    init_project(tmp_path)
    project = load_project(tmp_path / "ftl-project.toml")
    with pytest.raises(FtlError, match="would hide Python's own `test`"):
        new_module(project, "test")
    assert not (tmp_path / "test").exists()


def test_next_steps_after_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    commands = [command for command, _ in next_steps_after_init(Path("my shop"))]
    assert commands == ["cd 'my shop'", "ftl new NAME", "ftl dev", "python -m pytest"]
    here = [command for command, _ in next_steps_after_init(Path("."))]
    assert here == ["ftl new NAME", "ftl dev", "python -m pytest"]


@pytest.mark.e2e
def test_init_ends_with_cd_and_the_next_commands(tmp_path: Path) -> None:
    result = ftl(tmp_path, "init", "s")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("Next:")
    assert [line.split("#")[0].strip() for line in lines[start + 1 :]] == [
        "cd s",
        "ftl new NAME",
        "ftl dev",
        "python -m pytest",
    ]
    refused = ftl(tmp_path / "s", "new", "test")
    assert (refused.returncode, refused.stderr) == (
        1,
        "ftl: error: module name 'test' would hide Python's own `test`; try 'test_module'\n",
    )
    assert not (tmp_path / "s" / "test").exists()
