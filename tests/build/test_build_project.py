"""`build_project`: modules in dependency order, fresh stubs, one list of diagnostics."""

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ftl.build import build_project
from ftl.build.stubs import stubs_dir
from ftl.errors import Diagnostic
from ftl.project import Project, load_project
from ftl.schema import ast

MakeProject = Callable[..., Project]
REPO = Path(__file__).resolve().parents[2]


def rendered(result_diagnostics: list[Diagnostic], root: Path) -> list[str]:
    return [
        f"{Path(d.pos.filename).relative_to(root)}:{d.pos.line}:{d.pos.column}: {d.message}"
        if d.pos
        else d.message
        for d in result_diagnostics
    ]


def copy_examples(target: Path) -> Path:
    shutil.copytree(REPO / "examples", target / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "ftl-project.toml", target / "ftl-project.toml")
    return target


def test_the_examples_build(tmp_path: Path) -> None:
    root = copy_examples(tmp_path)
    result = build_project(load_project(root / "ftl-project.toml"))
    assert result.diagnostics == []
    assert list(result.modules) == ["echo", "greeter", "time"]
    assert result.schema is not None
    realm = result.schema.realm("examples")
    assert realm is not None and {"echo", "greeter", "time"} <= {m.name for m in realm.modules}
    for name in ("echo", "greeter", "time"):
        assert (stubs_dir(root) / "ftl_modules" / f"{name}.py").is_file()


def test_a_module_that_uses_another_builds_after_its_stub(make_project: MakeProject) -> None:
    project = make_project({"echo": None, "clock": None})
    result = build_project(project)
    assert result.diagnostics == [] and result.schema is not None
    echo = result.module_schemas["echo"].decl("echo")
    assert isinstance(echo, ast.Verb)
    assert echo.response == ast.Ref("clock", "TimeResponse")
    assert echo.metadata == (ast.MetadataCalls((ast.Ref("clock", "now"),)),)
    assert (stubs_dir(project.root) / "ftl_modules" / "clock.py").is_file()


def test_errors_of_every_module_come_back_together(make_project: MakeProject) -> None:
    project = make_project(
        {
            "clock": "import ftl\n\n@ftl.verb\ndef now(req):\n    pass\n",
            "other": "raise ValueError('broken at import')\n",
        }
    )
    result = build_project(project)
    assert result.schema is None
    assert rendered(result.diagnostics, project.root) == [
        "modules/clock/clock/__init__.py:4:5: verb now has no return type hint: add `-> <ResponseType>` "
        "(or `-> None`)",
        "modules/clock/clock/__init__.py:4:9: parameter req of verb now has no type hint: "
        "write `req: <RequestType>`",
        "modules/other/other/__init__.py:1:1: ValueError: broken at import",
    ]


def test_a_module_importing_a_broken_one_is_named_once_at_its_import(make_project: MakeProject) -> None:
    project = make_project({"clock": "import ftl\n\nx = (\n", "echo": None})
    result = build_project(project)
    assert rendered(result.diagnostics, project.root) == [
        "modules/clock/clock/__init__.py:3:5: SyntaxError: '(' was never closed",
        "modules/echo/echo/__init__.py:3:1: module echo is not built: module clock has errors",
    ]


def test_building_some_modules_builds_what_they_use(make_project: MakeProject) -> None:
    project = make_project({"echo": None, "clock": None, "lonely": "import ftl\n"})
    result = build_project(project, ["echo"])
    assert list(result.modules) == ["clock", "echo"]
    unknown = build_project(project, ["nope"])
    assert [d.message for d in unknown.diagnostics] == [
        "unknown module 'nope' (modules in this project: clock, echo, lonely)"
    ]


def test_rebuilds_see_edits_and_drop_stubs_of_removed_modules(make_project: MakeProject) -> None:
    project = make_project({"echo": None, "clock": None})
    assert build_project(project).diagnostics == []
    init = project.root / "modules" / "clock" / "clock" / "__init__.py"
    init.write_text(init.read_text().replace("def now()", "def current_time()"))
    shutil.rmtree(project.root / "modules" / "echo")
    result = build_project(project)
    assert result.diagnostics == []
    assert [d.name for d in result.module_schemas["clock"].decls if isinstance(d, ast.Verb)] == [
        "currentTime"
    ]
    assert not (stubs_dir(project.root) / "ftl_modules" / "echo.py").exists()


def test_an_import_cycle_between_modules_is_an_error(make_project: MakeProject) -> None:
    project = make_project({"a": "import ftl_modules.b\n", "b": "import ftl_modules.a\n"})
    messages = [d.message for d in build_project(project).diagnostics]
    assert "found cycle in dependencies: a -> b -> a" in messages


SHARED = """\
from dataclasses import dataclass
import ftl

@dataclass
class Quote:
    price: int

@ftl.verb(export="realm")
def quote() -> Quote:
    return Quote(1)
"""


def test_the_public_schema_file_follows_whole_project_builds(make_project: MakeProject) -> None:
    project = make_project({"prices": SHARED})
    public = project.root / project.public_schema
    assert build_project(project, export_public_schema=False).diagnostics == []
    assert not public.exists()
    result = build_project(project)
    assert result.diagnostics == [] and result.public_schema_written
    text = public.read_text()
    assert "export realm verb quote(Unit) prices.Quote" in text and "export realm data Quote" in text


PAYER = """\
import ftl
from ftl_modules.bank import accounts

@ftl.verb(export=True)
def checkout(req: int) -> accounts.Receipt:
    return accounts.pay(req)
"""
PIN = """
[realms.egress.bank]
git-repo = "https://example.com/bank.git"
git-commit = "aac675450010d2b8fc0528239e49e56fd94b5309"
"""


def test_pinned_realms_get_stubs_and_join_the_schema(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ftl.realm

    accounts = ast.Module(
        "accounts",
        (
            ast.Data("Receipt", (ast.Field("id", ast.String()),), visibility=ast.Visibility.REALM),
            ast.Verb("pay", ast.Int(), ast.Ref("accounts", "Receipt"), visibility=ast.Visibility.REALM),
        ),
    )
    bank = ast.Realm("bank", (accounts,), external=True)
    monkeypatch.setattr(ftl.realm, "load_external_realms", lambda project: [bank])
    project = make_project({"shop": PAYER}, extra=PIN)
    result = build_project(project)
    assert result.diagnostics == [] and result.schema is not None
    assert result.schema.realm("bank") is not None
    checkout = result.module_schemas["shop"].decl("checkout")
    assert isinstance(checkout, ast.Verb)
    assert checkout.response == ast.Ref("accounts", "Receipt", realm="bank")
    assert checkout.metadata == (ast.MetadataCalls((ast.Ref("accounts", "pay", realm="bank"),)),)
    assert (stubs_dir(project.root) / "ftl_modules" / "bank" / "accounts.py").is_file()
