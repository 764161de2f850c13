"""`ftl schema diff` and `ftl schema export` through the real typer app."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ftl.cli.app import app

OLD = """realm bank {
  module balance {
    export realm data Receipt {
      id String
    }

    export realm verb withdraw(Unit) balance.Receipt
  }
}
"""


def ftl(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old.ftl").write_text(OLD)
    return tmp_path


def test_equal_schemas(files: Path) -> None:
    (files / "same.ftl").write_text(
        "realm bank { module balance { export realm data Receipt { id String }"
        " export realm verb withdraw(Unit) balance.Receipt } }"
    )
    assert ftl("schema", "diff", "old.ftl", "same.ftl") == (0, "", "")


def test_different_schemas_print_a_unified_diff(files: Path) -> None:
    (files / "new.ftl").write_text(OLD.replace("id String", "id Int"))
    code, out, err = ftl("schema", "diff", "old.ftl", "new.ftl")
    assert (code, err) == (1, "")
    assert out.splitlines()[:2] == ["--- old.ftl", "+++ new.ftl"]
    assert "-      id String\n+      id Int\n" in out


def test_breaking_lists_one_change_per_line(files: Path) -> None:
    (files / "new.ftl").write_text(OLD.replace("      id String\n", "      code Int\n"))
    code, out, _ = ftl("schema", "diff", "old.ftl", "new.ftl", "--breaking")
    assert (code, out) == (1, "balance.Receipt: field id removed\n")


def test_breaking_exits_zero_for_compatible_changes(files: Path) -> None:
    (files / "new.ftl").write_text(OLD.replace("      id String\n", "      id String\n      note String?\n"))
    assert ftl("schema", "diff", "old.ftl", "new.ftl", "--breaking") == (0, "", "")
    assert ftl("schema", "diff", "old.ftl", "new.ftl")[0] == 1


def test_breaking_counts_an_added_enum_variant_as_upstream_does(files: Path) -> None:
    # Pinned by conformance/breaking.json (test-EnumValueAdded, ref-enum-variant-added,
    # enum-type-variant-added): any change to an enum's variants is breaking, even in a request.
    old = "module m {\n  enum E: Int {\n    One = 1\n  }\n\n  data Req {\n    e m.E\n  }\n\n"
    old += "  verb v(m.Req) Unit\n}\n"
    (files / "old_enum.ftl").write_text(old)
    (files / "new_enum.ftl").write_text(old.replace("One = 1\n", "One = 1\n    Two = 2\n"))
    assert ftl("schema", "diff", "--breaking", "old_enum.ftl", "new_enum.ftl") == (
        1,
        "m.E: enum variant Two added\n",
        "",
    )


def test_json(files: Path) -> None:
    (files / "new.ftl").write_text(OLD.replace("verb withdraw(Unit)", "verb withdraw(String)"))
    code, out, _ = ftl("schema", "diff", "old.ftl", "new.ftl", "--breaking", "--json")
    payload = json.loads(out)
    assert code == 1 and payload["equal"] is False and payload["diff"].startswith("--- old.ftl")
    assert payload["breaking"] == [
        {
            "decl": "balance.withdraw",
            "message": "request: type changed from unit to string",
            "text": "balance.withdraw: request: type changed from unit to string",
        }
    ]


def test_stdin(files: Path) -> None:
    code, out, _ = ftl("schema", "diff", "old.ftl", "-", stdin=OLD.replace("withdraw", "take"))
    assert code == 1 and out.splitlines()[1] == "+++ <stdin>"


def test_errors_point_into_the_file(files: Path) -> None:
    (files / "bad.ftl").write_text("realm bank {\n  module balance {\n    data {\n")
    code, out, err = ftl("schema", "diff", "old.ftl", "bad.ftl")
    assert (code, out) == (1, "")
    assert err.startswith("bad.ftl:3:")
    code, _, err = ftl("schema", "diff", "old.ftl", "missing.ftl")
    assert code == 1 and err.startswith("ftl: error: cannot read missing.ftl")


def test_bare_module_files_as_schema_validate_takes_them(files: Path) -> None:
    module = "module balance {\n  export data Receipt {\n    id String\n  }\n}\n"
    (files / "old.ftl").write_text(module)
    (files / "same.ftl").write_text("module balance { export data Receipt { id String } }")
    (files / "new.ftl").write_text(module.replace("    id String\n", "    code Int\n"))
    assert ftl("schema", "validate", "old.ftl", "new.ftl") == (0, "", "")
    assert ftl("schema", "diff", "old.ftl", "same.ftl") == (0, "", "")
    code, out, err = ftl("schema", "diff", "old.ftl", "new.ftl")
    assert (code, err) == (1, "")
    assert "-    id String\n+    code Int\n" in out
    code, out, _ = ftl("schema", "diff", "old.ftl", "new.ftl", "--breaking")
    assert (code, out) == (1, "balance.Receipt: field id removed\n")


def test_a_missing_file_is_said_plainly(files: Path) -> None:
    assert ftl("schema", "diff", "old.ftl", "missing.ftl") == (
        1,
        "",
        "ftl: error: cannot read missing.ftl: No such file or directory\n",
    )


def test_git_revisions_default_to_the_public_schema_file(
    files: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=files, check=True, capture_output=True)

    (files / "ftl-project.toml").write_text('realm = "bank"\npublic-schema = "public.ftl"\n')
    (files / "public.ftl").write_text(OLD)
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    (files / "public.ftl").write_text(OLD.replace("      id String\n", ""))
    git("commit", "-q", "-am", "two")
    code, out, _ = ftl("schema", "diff", "git:HEAD~1", "git:HEAD", "--breaking")
    assert (code, out) == (1, "balance.Receipt: field id removed\n")
    code, out, _ = ftl("schema", "diff", "git:HEAD~1:public.ftl", "public.ftl")
    assert code == 1 and out.splitlines()[:2] == ["--- git:HEAD~1:public.ftl", "+++ public.ftl"]


def test_only_one_side_may_be_stdin(files: Path) -> None:
    code, _, err = ftl("schema", "diff", "-", "-")
    assert code == 1 and "only one of OLD and NEW" in err


MODULE = """from dataclasses import dataclass

import ftl


@dataclass
class Greeting:
    text: str


@ftl.verb(export="realm")
def greet(req: Greeting) -> Greeting:
    return req


@ftl.verb
def private(req: Greeting) -> Greeting:
    return req
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "hello"
    (root / "greeter" / "greeter").mkdir(parents=True)
    (root / "ftl-project.toml").write_text('realm = "hello"\nmodule-dirs = ["."]\n')
    (root / "greeter" / "ftl.toml").write_text('module = "greeter"\n')
    (root / "greeter" / "greeter" / "__init__.py").write_text(MODULE)
    monkeypatch.chdir(root)
    return root


def test_export_writes_then_checks(project: Path) -> None:
    public = project / "ftl-public-schema.ftl"
    code, _, err = ftl("schema", "export", "--check")
    assert code == 1 and not public.exists()
    assert err == "ftl: error: ftl-public-schema.ftl does not exist: run `ftl schema export`\n"

    assert ftl("schema", "export") == (0, "Wrote ftl-public-schema.ftl\n", "")
    text = public.read_text()
    assert "export realm verb greet(greeter.Greeting) greeter.Greeting" in text
    assert "private" not in text
    assert ftl("schema", "export", "--check") == (0, "ftl-public-schema.ftl is up to date\n", "")
    assert ftl("schema", "export")[1] == "ftl-public-schema.ftl is up to date\n"

    public.write_text(text.replace("greet(", "hello("))
    stale = public.read_bytes()
    code, out, err = ftl("schema", "export", "--check")
    assert code == 1 and err.startswith("ftl: error: ftl-public-schema.ftl is stale")
    assert "-    export realm verb hello(" in out and "+    export realm verb greet(" in out
    assert public.read_bytes() == stale


def test_export_to_another_file(project: Path) -> None:
    code, out, _ = ftl("schema", "export", "--output", "out/public.ftl")
    assert (code, out) == (0, "Wrote out/public.ftl\n")
    assert (project / "out" / "public.ftl").is_file() and not (project / "ftl-public-schema.ftl").exists()
    assert ftl("schema", "export", "--check", "--output", "out/public.ftl")[0] == 0


def test_export_reports_build_errors_at_their_place(project: Path) -> None:
    (project / "greeter" / "greeter" / "__init__.py").write_text(
        MODULE.replace("text: str", "text: set[str]")
    )
    code, out, err = ftl("schema", "export")
    assert (code, out) == (1, "")
    assert re.match(r"greeter/greeter/__init__\.py:8:\d+: ", err), err


def test_export_output_dash_writes_standard_output(project: Path) -> None:
    code, out, err = ftl("schema", "export", "--output", "-")
    assert (code, err) == (0, "")
    assert out.startswith("realm hello {\n") and "export realm verb greet(" in out
    assert not (project / "-").exists() and not (project / "ftl-public-schema.ftl").exists()
    code, _, _ = ftl("schema", "export", "--check", "--output", "-")
    assert code == 2  # nothing to compare with


def test_export_says_a_directory_cannot_be_written(project: Path) -> None:
    (project / "somedir").mkdir()
    assert ftl("schema", "export", "--output", "somedir") == (
        1,
        "",
        "ftl: error: somedir is a directory and cannot be written\n",
    )
    (project / "ftl-project.toml").write_text(
        'realm = "hello"\nmodule-dirs = ["."]\npublic-schema = "somedir"\n'
    )
    message = 'ftl-project.toml:3:1: public-schema "somedir" is a directory'
    assert ftl("schema", "export") == (1, "", f"{message} and cannot be written\n")
    assert ftl("schema", "export", "--check") == (1, "", f"{message}, not a file\n")


@pytest.mark.parametrize("outside", ["../elsewhere/public.ftl", "{absolute}", "sub/../../public.ftl"])
def test_export_refuses_a_public_schema_outside_the_project(project: Path, outside: str) -> None:
    outside = outside.format(absolute=project.parent / "public.ftl")
    (project / "ftl-project.toml").write_text(
        f'realm = "hello"\n# the public schema\n\npublic-schema = "{outside}"\nmodule-dirs = ["."]\n'
    )
    before = sorted(p.name for p in project.parent.iterdir())
    expected = f'ftl-project.toml:4:1: public-schema "{outside}" is outside the project directory\n'
    assert ftl("schema", "export") == (1, "", expected)
    assert ftl("schema", "export", "--check") == (1, "", expected)
    assert sorted(p.name for p in project.parent.iterdir()) == before
    assert not (project / "sub").exists()


def test_export_accepts_an_absolute_public_schema_inside_the_project(project: Path) -> None:
    inside = project / "schemas" / "public.ftl"
    (project / "ftl-project.toml").write_text(f'realm = "hello"\npublic-schema = "{inside}"\n')
    assert ftl("schema", "export") == (0, f"Wrote {os.path.join('schemas', 'public.ftl')}\n", "")
    assert "greet" in inside.read_text()
