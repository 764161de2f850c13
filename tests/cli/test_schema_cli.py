"""`ftl schema validate` and `ftl schema fmt`: in-process through the typer app, and as real processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ftl.cli.app import app

VALID = """realm shop {
  module orders {
    export data Order {
      id String
    }

    export verb place(orders.Order) Unit
  }
}
"""
MODULE = "// A module on its own.\nmodule orders {\n  verb place(Unit) Unit\n}\n"
UNFORMATTED = (
    "realm shop { module orders { export data Order { id String } export verb place(orders.Order) Unit } }"
)
PARSE_ERROR = "realm shop {\n  module orders {\n    data D { tags [String?] }\n  }\n}\n"
TWO_ERRORS = "realm r {\n  module m {\n    verb a(m.Missing) Unit\n    data String {}\n  }\n}\n"


def ftl(*args: str, stdin: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- validate -------------------------------------------------------------------------------------


def test_valid_files_pass_silently(tmp_cwd: Path) -> None:
    (tmp_cwd / "shop.ftl").write_text(VALID)
    (tmp_cwd / "orders.ftl").write_text(MODULE)
    assert ftl("schema", "validate", "shop.ftl", "orders.ftl") == (0, "", "")


def test_parse_error_is_positioned(tmp_cwd: Path) -> None:
    (tmp_cwd / "bad.ftl").write_text(PARSE_ERROR)
    assert ftl("schema", "validate", "bad.ftl") == (
        1,
        "",
        'bad.ftl:3:26: unexpected token "?" (expected "]")\n',
    )


def test_validation_errors_are_all_reported_sorted_by_position(tmp_cwd: Path) -> None:
    (tmp_cwd / "bad.ftl").write_text(TWO_ERRORS)
    code, out, err = ftl("schema", "validate", "bad.ftl")
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == ["bad.ftl:3:12", "bad.ftl:4:5"]
    assert '"m.Missing"' in lines[0] or "Missing" in lines[0]
    assert "String" in lines[1]


def test_errors_without_a_place_name_only_the_file(tmp_cwd: Path) -> None:
    cycle = (
        "realm r {\n"
        "  module a { export verb x(Unit) Unit +calls b.y }\n"
        "  module b { export verb y(Unit) Unit +calls a.x }\n"
        "}\n"
    )
    (tmp_cwd / "cycle.ftl").write_text(cycle)
    code, _, err = ftl("schema", "validate", "cycle.ftl")
    assert code == 1
    assert err.startswith("cycle.ftl: ") and "cycle" in err.split(": ", 1)[1]


def test_files_are_reported_in_name_order(tmp_cwd: Path) -> None:
    (tmp_cwd / "b.ftl").write_text(PARSE_ERROR)
    (tmp_cwd / "a.ftl").write_text(PARSE_ERROR)
    (tmp_cwd / "ok.ftl").write_text(VALID)
    code, _, err = ftl("schema", "validate", "b.ftl", "ok.ftl", "a.ftl")
    assert code == 1
    assert [line.split(":", 1)[0] for line in err.splitlines()] == ["a.ftl", "b.ftl"]


def test_unreadable_file(tmp_cwd: Path) -> None:
    (tmp_cwd / "ok.ftl").write_text(VALID)
    code, out, err = ftl("schema", "validate", "missing.ftl", "ok.ftl")
    assert (code, out) == (1, "")
    assert err == "ftl: error: cannot read missing.ftl: No such file or directory\n"


def test_stdin_is_named_stdin(tmp_cwd: Path) -> None:
    assert ftl("schema", "validate", "-", stdin=VALID) == (0, "", "")
    code, _, err = ftl("schema", "validate", "-", stdin=PARSE_ERROR)
    assert (code, err) == (1, '<stdin>:3:26: unexpected token "?" (expected "]")\n')


def test_non_utf8_is_an_error_at_the_first_bad_byte(tmp_cwd: Path) -> None:
    (tmp_cwd / "latin1.ftl").write_bytes("realm r {\n  // caf\xe9\n}\n".encode("latin-1"))
    code, _, err = ftl("schema", "validate", "latin1.ftl")
    assert (code, err) == (1, "latin1.ftl:2:9: invalid UTF-8 (byte 0xe9)\n")


def test_absolute_paths_below_the_current_directory_print_relative(tmp_cwd: Path) -> None:
    (tmp_cwd / "sub").mkdir()
    (tmp_cwd / "sub" / "bad.ftl").write_text(PARSE_ERROR)
    _, _, err = ftl("schema", "validate", str(tmp_cwd / "sub" / "bad.ftl"))
    assert err.startswith(os.path.join("sub", "bad.ftl") + ":3:26: ")


def test_a_file_named_twice_is_validated_once(tmp_cwd: Path) -> None:
    (tmp_cwd / "bad.ftl").write_text(TWO_ERRORS)
    _, _, once = ftl("schema", "validate", "bad.ftl")
    assert len(once.splitlines()) == 2
    code, out, err = ftl("schema", "validate", "bad.ftl", "bad.ftl", str(tmp_cwd / "bad.ftl"), "./bad.ftl")
    assert (code, out, err) == (1, "", once)


def test_a_missing_file_named_twice_is_said_once(tmp_cwd: Path) -> None:
    code, _, err = ftl("schema", "validate", "missing.ftl", "./missing.ftl")
    assert (code, err) == (1, "ftl: error: cannot read missing.ftl: No such file or directory\n")


def test_fmt_check_lists_a_file_named_twice_once(tmp_cwd: Path) -> None:
    (tmp_cwd / "messy.ftl").write_text(UNFORMATTED)
    assert ftl("schema", "fmt", "--check", "messy.ftl", str(tmp_cwd / "messy.ftl")) == (1, "messy.ftl\n", "")


def test_a_bare_module_reports_unknown_refs_qualified_with_its_own_name() -> None:
    unknown_response = "module m {\n  data A {\n    x Int\n  }\n  verb v(m.A) m.B\n}\n"
    assert ftl("schema", "validate", "-", stdin=unknown_response) == (
        1,
        "",
        '<stdin>:5:15: unknown reference "m.B", is the type annotated and exported?\n',
    )
    unknown_field = "module m {\n  data A {\n    x m.Nope\n  }\n}\n"
    assert ftl("schema", "validate", "-", stdin=unknown_field) == (
        1,
        "",
        '<stdin>:3:7: unknown reference "m.Nope", is the type annotated and exported?\n',
    )
    # Other modules are not in the document: refs to them stay unchecked (as upstream).
    assert ftl("schema", "validate", "-", stdin="module m {\n  verb v(other.Req) Unit\n}\n") == (0, "", "")


# -- fmt ------------------------------------------------------------------------------------------


def test_fmt_rewrites_in_canonical_form_keeping_permissions(tmp_cwd: Path) -> None:
    path = tmp_cwd / "shop.ftl"
    path.write_text(UNFORMATTED)
    path.chmod(0o640)
    assert ftl("schema", "fmt", "shop.ftl") == (0, "", "")
    assert path.read_text() == VALID
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert ftl("schema", "fmt", "shop.ftl") == (0, "", "")
    assert sorted(p.name for p in tmp_cwd.iterdir()) == ["shop.ftl"]  # no temporary files left


def test_fmt_normalises_line_endings_and_drops_a_byte_order_mark(tmp_cwd: Path) -> None:
    (tmp_cwd / "crlf.ftl").write_bytes(VALID.replace("\n", "\r\n").encode())
    (tmp_cwd / "bom.ftl").write_bytes(b"\xef\xbb\xbf" + VALID.encode())
    assert ftl("schema", "fmt", "--check", "crlf.ftl", "bom.ftl") == (1, "bom.ftl\ncrlf.ftl\n", "")
    assert ftl("schema", "fmt", "crlf.ftl", "bom.ftl") == (0, "", "")
    assert (tmp_cwd / "crlf.ftl").read_bytes() == (tmp_cwd / "bom.ftl").read_bytes() == VALID.encode()


def test_fmt_keeps_module_mode(tmp_cwd: Path) -> None:
    (tmp_cwd / "orders.ftl").write_text("// A module on its own.\nmodule orders { verb place(Unit) Unit }")
    assert ftl("schema", "fmt", "orders.ftl") == (0, "", "")
    assert (tmp_cwd / "orders.ftl").read_text() == MODULE


def test_fmt_check_lists_non_canonical_files_and_changes_nothing(tmp_cwd: Path) -> None:
    (tmp_cwd / "messy.ftl").write_text(UNFORMATTED)
    (tmp_cwd / "clean.ftl").write_text(VALID)
    assert ftl("schema", "fmt", "--check", "messy.ftl", "clean.ftl") == (1, "messy.ftl\n", "")
    assert (tmp_cwd / "messy.ftl").read_text() == UNFORMATTED
    assert ftl("schema", "fmt", "--check", "clean.ftl") == (0, "", "")


def test_fmt_leaves_files_that_do_not_parse_untouched(tmp_cwd: Path) -> None:
    (tmp_cwd / "bad.ftl").write_text(PARSE_ERROR)
    (tmp_cwd / "messy.ftl").write_text(UNFORMATTED)
    code, out, err = ftl("schema", "fmt", "bad.ftl", "messy.ftl")
    assert (code, out) == (1, "")
    assert err.startswith("bad.ftl:3:26: unexpected token")
    assert (tmp_cwd / "bad.ftl").read_text() == PARSE_ERROR
    assert (tmp_cwd / "messy.ftl").read_text() == VALID


def test_fmt_stdin_writes_stdout(tmp_cwd: Path) -> None:
    assert ftl("schema", "fmt", "-", stdin=UNFORMATTED) == (0, VALID, "")
    assert ftl("schema", "fmt", "--check", "-", stdin=UNFORMATTED) == (1, "<stdin>\n", "")


def test_fmt_is_idempotent_on_the_conformance_documents(tmp_cwd: Path, conformance_dir: Path) -> None:
    names = []
    for source in sorted((conformance_dir / "schema").glob("valid_*.ftl")):
        (tmp_cwd / source.name).write_text(source.read_text().partition("\n")[2])
        names.append(source.name)
    assert ftl("schema", "fmt", *names) == (0, "", "")
    assert ftl("schema", "fmt", "--check", *names) == (0, "", "")
    assert ftl("schema", "validate", *names) == (0, "", "")


# -- the real command -----------------------------------------------------------------------------


def _run(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ftl", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_real_process_validate_and_fmt(tmp_path: Path) -> None:
    (tmp_path / "shop.ftl").write_text(UNFORMATTED)
    (tmp_path / "bad.ftl").write_text(TWO_ERRORS)
    done = _run("schema", "validate", "shop.ftl", "bad.ftl", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert [line.split(": ", 1)[0] for line in done.stderr.splitlines()] == ["bad.ftl:3:12", "bad.ftl:4:5"]
    done = _run("schema", "fmt", "shop.ftl", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert (tmp_path / "shop.ftl").read_text() == VALID
    done = _run("schema", "validate", "-", cwd=tmp_path, stdin=VALID)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
