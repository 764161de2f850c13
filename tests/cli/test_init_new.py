"""`ftl init` and `ftl new`: the scaffolding functions, and the real command end to end."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ftl.errors import FtlError
from ftl.project import load_project
from ftl.scaffold import (
    init_project,
    is_inside_module_dirs,
    module_name_error,
    new_module,
    realm_name_for,
    templates_dir,
)

REPO = Path(__file__).resolve().parents[2]


def ftl_command(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
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


class TestNames:
    @pytest.mark.parametrize(
        ("directory", "realm"),
        [("my-shop", "my_shop"), ("Shop", "shop"), ("2024 plans", "r_2024_plans"), ("--", "realm")],
    )
    def test_realm_from_directory(self, tmp_path: Path, directory: str, realm: str) -> None:
        assert realm_name_for(tmp_path / directory) == realm

    @pytest.mark.parametrize("name", ["alpha", "order_book", "v2"])
    def test_good_module_names(self, name: str) -> None:
        assert module_name_error(name) is None

    @pytest.mark.parametrize(
        ("name", "why"),
        [
            ("Alpha", "lower_snake_case"),
            ("my-mod", "invalid"),
            ("2fa", "invalid"),
            ("map", "reserved word of the schema language"),  # a Go keyword: the schema rejects it
            ("builtin", "reserved"),
            ("class", "Python keyword"),
            ("json", "hide Python's own `json`"),
            ("ftl", "hide the `ftl` package"),  # FTL's own package, not Python's
        ],
    )
    def test_bad_module_names(self, name: str, why: str) -> None:
        problem = module_name_error(name)
        assert problem is not None and why in problem


class TestInit:
    def test_writes_the_project(self, tmp_path: Path) -> None:
        result = init_project(tmp_path / "my-shop")
        assert sorted(result.created) == [
            ".gitignore",
            "README.md",
            "conftest.py",
            "ftl-project.toml",
            "pytest.ini",
        ]
        project = load_project(tmp_path / "my-shop" / "ftl-project.toml")
        assert (project.realm, project.module_dirs) == ("my_shop", (".",))
        assert ".ftl/" in (tmp_path / "my-shop" / ".gitignore").read_text().splitlines()
        assert "--import-mode=importlib" in (tmp_path / "my-shop" / "pytest.ini").read_text()

    def test_explicit_realm(self, tmp_path: Path) -> None:
        init_project(tmp_path, realm="bank")
        assert load_project(tmp_path / "ftl-project.toml").realm == "bank"
        with pytest.raises(FtlError, match="invalid realm name 'my-bank'"):
            init_project(tmp_path / "x", realm="my-bank")

    def test_refuses_an_existing_project(self, tmp_path: Path) -> None:
        (tmp_path / "ftl-project.toml").write_text('realm = "mine"\n')
        with pytest.raises(FtlError, match="already an FTL project"):
            init_project(tmp_path)
        assert (tmp_path / "ftl-project.toml").read_text() == 'realm = "mine"\n'

    def test_keeps_existing_files(self, tmp_path: Path) -> None:
        (tmp_path / "README.md").write_text("mine\n")
        (tmp_path / ".gitignore").write_text("*.log")
        result = init_project(tmp_path)
        assert (tmp_path / "README.md").read_text() == "mine\n"
        assert (tmp_path / ".gitignore").read_text() == "*.log\n.ftl/\n"
        assert (result.kept, result.updated) == (["README.md"], [".gitignore"])


class TestNew:
    def test_writes_the_module(self, tmp_path: Path) -> None:
        init_project(tmp_path)
        project = load_project(tmp_path / "ftl-project.toml")
        result = new_module(project, "alpha")
        assert result.root == tmp_path / "alpha"
        assert sorted(result.created) == ["alpha/__init__.py", "ftl.toml", "tests/test_alpha.py"]
        assert tomllib.loads((tmp_path / "alpha" / "ftl.toml").read_text())["module"] == "alpha"
        code = (tmp_path / "alpha" / "alpha" / "__init__.py").read_text()
        assert '@ftl.ingress("GET", "/alpha/hello/{name}")' in code
        assert not (tmp_path / "alpha" / "tests" / "__init__.py").exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".alpha")] == []

    def test_refuses_bad_names_and_existing_directories(self, tmp_path: Path) -> None:
        init_project(tmp_path)
        project = load_project(tmp_path / "ftl-project.toml")
        with pytest.raises(FtlError, match="lower_snake_case"):
            new_module(project, "Alpha")
        (tmp_path / "docs").mkdir()
        with pytest.raises(FtlError, match="docs already exists"):
            new_module(project, "docs")
        new_module(project, "alpha")
        with pytest.raises(FtlError, match="already has a module 'alpha'"):
            new_module(project, "alpha", tmp_path / "elsewhere")

    def test_dir_option(self, tmp_path: Path) -> None:
        init_project(tmp_path)
        project = load_project(tmp_path / "ftl-project.toml")
        result = new_module(project, "gamma", tmp_path / "services")
        assert (tmp_path / "services" / "gamma" / "gamma" / "__init__.py").is_file()
        assert is_inside_module_dirs(project, result.root.parent)
        assert not is_inside_module_dirs(project, tmp_path.parent)


def test_templates_are_found_in_the_checkout() -> None:
    assert templates_dir() == REPO / "templates"


# ---------------------------------------------------------------------------------------------
# End to end: two scaffolded modules build together and their tests pass at the project root.


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e") / "my-shop"
    for args, cwd in ((("init", str(root)), root.parent), (("new", "alpha"), root), (("new", "beta"), root)):
        result = ftl_command(cwd, *args)
        assert result.returncode == 0, result.stderr
    return root


@pytest.mark.e2e
def test_init_and_new_commands(scaffolded: Path) -> None:
    assert load_project(scaffolded / "ftl-project.toml").realm == "my_shop"
    assert (scaffolded / "beta" / "tests" / "test_beta.py").is_file()
    again = ftl_command(scaffolded, "new", "alpha")
    assert (again.returncode, again.stderr) == (
        1,
        "ftl: error: the project already has a module 'alpha' (alpha)\n",
    )
    bad = ftl_command(scaffolded, "new", "Not-Valid")
    assert bad.returncode == 1 and bad.stderr.startswith("ftl: error: module name 'Not-Valid' is invalid")
    existing = ftl_command(scaffolded, "init", ".")
    assert existing.returncode == 1 and "already an FTL project" in existing.stderr


@pytest.mark.e2e
def test_scaffolded_modules_build_together(scaffolded: Path) -> None:
    if importlib.util.find_spec("ftl.cli.build") is None:
        pytest.skip("`ftl build` is not part of this checkout yet")
    result = ftl_command(scaffolded, "build")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.e2e
def test_scaffolded_tests_pass_at_the_project_root(scaffolded: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("FTL_", "PYTEST_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=scaffolded,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
