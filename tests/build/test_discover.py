from collections.abc import Callable
from pathlib import Path

import pytest

from ftl.build import discover_modules, scan_modules
from ftl.errors import FtlError
from ftl.project import Project

MakeProject = Callable[..., Project]


def test_modules_are_found_under_module_dirs_sorted_by_name(make_project: MakeProject) -> None:
    project = make_project({"echo": None, "clock": None})
    (project.root / "modules" / ".hidden" / "x").mkdir(parents=True)
    (project.root / "modules" / ".hidden" / "x" / "ftl.toml").write_text('module = "hidden"\n')
    modules = discover_modules(project)
    assert [(m.name, m.package, m.directory) for m in modules] == [
        ("clock", "clock", project.root / "modules" / "clock"),
        ("echo", "echo", project.root / "modules" / "echo"),
    ]
    assert "**/*.py" in modules[0].watch


def test_two_modules_with_one_name_are_one_error_naming_both(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project({"clock": None})
    other = project.root / "modules" / "nested" / "clock2"
    (other / "clock2").mkdir(parents=True)
    (other / "clock2" / "__init__.py").write_text("")
    (other / "ftl.toml").write_text('# the same name\nmodule = "clock"\npackage = "clock2"\n')
    monkeypatch.chdir(project.root)
    modules, diagnostics = scan_modules(project)
    assert modules == []
    [diagnostic] = diagnostics
    assert diagnostic.pos is not None
    assert (Path(diagnostic.pos.filename).parent.name, diagnostic.pos.line, diagnostic.pos.column) == (
        "clock2",
        2,
        10,
    )
    assert diagnostic.message == (
        "duplicate module 'clock': defined in both modules/clock and modules/nested/clock2"
        " (rename one in its ftl.toml)"
    )
    with pytest.raises(FtlError):
        discover_modules(project)


def test_a_missing_module_dir_is_an_error_in_the_project_file(make_project: MakeProject) -> None:
    project = make_project({}, extra="")
    [diagnostic] = scan_modules(project)[1]
    assert diagnostic.pos is not None and diagnostic.pos.filename.endswith("ftl-project.toml")
    assert (diagnostic.pos.line, diagnostic.pos.column) == (2, 16)  # at the entry itself
    assert "module-dirs entry 'modules' is not a directory" in diagnostic.message


def test_a_hand_written_module_name_that_is_a_python_keyword_is_refused_at_its_place(
    make_project: MakeProject,
) -> None:
    project = make_project({"clock": None})
    klass = project.root / "modules" / "klass"
    (klass / "klass").mkdir(parents=True)
    (klass / "klass" / "__init__.py").write_text("")
    (klass / "ftl.toml").write_text('module = "class"\npackage = "klass"\n')
    modules, diagnostics = scan_modules(project)
    assert [m.name for m in modules] == ["clock"]
    [diagnostic] = diagnostics
    assert diagnostic.pos is not None
    assert (Path(diagnostic.pos.filename).parent.name, diagnostic.pos.line, diagnostic.pos.column) == (
        "klass",
        1,
        10,
    )
    assert diagnostic.message.startswith("module name 'class' is a Python keyword: choose another name")
