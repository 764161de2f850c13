"""`ftl build`, driven as a user runs it."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def ftl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ftl", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def write_project(root: Path, modules: dict[str, str]) -> Path:
    (root / "ftl-project.toml").write_text('realm = "shop"\nmodule-dirs = ["modules"]\n')
    for name, source in modules.items():
        (root / "modules" / name / name).mkdir(parents=True)
        (root / "modules" / name / "ftl.toml").write_text(f'module = "{name}"\n')
        (root / "modules" / name / name / "__init__.py").write_text(textwrap.dedent(source))
    return root


def test_build_at_the_repo_root_passes() -> None:
    result = ftl("build", "--plain", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "built 3 modules of realm examples: echo, greeter, time"
    assert (REPO / ".ftl" / "stubs" / "ftl_modules" / "echo.py").is_file()


def test_errors_are_file_line_col_relative_to_the_current_directory(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "clock": """\
                import ftl

                @ftl.verb
                def now(req) -> None:
                    pass
                """,
            "broken": "import json\njson.loads('{')\n",
        },
    )
    result = ftl("build", cwd=root / "modules")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "broken/broken/__init__.py:2:1: JSONDecodeError: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
        "clock/clock/__init__.py:4:9: parameter req of verb now has no type hint: write `req: <RequestType>`",
    ]


def test_building_an_unknown_module_is_an_error(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"clock": "import ftl\n"})
    result = ftl("build", "nope", cwd=root)
    assert result.returncode == 1
    assert result.stderr.strip() == "ftl: error: unknown module 'nope' (modules in this project: clock)"


def test_outside_a_project(tmp_path: Path) -> None:
    result = ftl("build", "--project-file", str(tmp_path / "missing.toml"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("ftl: error: project file ")


def test_unknown_project_keys_are_warned_about_and_the_build_goes_on(tmp_path: Path) -> None:
    project = tmp_path / "ftl-project.toml"
    project.write_text('realm = "shop"\nmodule_dirs = ["x"]\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "ftl", "build"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert (
        "ftl-project.toml:2:1: warning: unknown key `module_dirs` is ignored (did you mean `module-dirs`?)"
        in result.stderr
    )
    assert "built 0 modules of realm shop" in result.stdout
