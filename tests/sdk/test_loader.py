"""Loading a module directory: ftl.toml, importing the package, reporting failures at user code."""

import os
import py_compile
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ftl.errors import FtlError
from ftl.runtime.extract import read_module_file
from ftl.runtime.loader import load_module

MakeModule = Callable[..., Path]
Errors = Callable[..., list[str]]

VERB = "import ftl\n\n@ftl.verb\ndef ping() -> None:\n    pass\n"


def module_file_error(directory: Path) -> str:
    with pytest.raises(FtlError) as caught:
        read_module_file(directory)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.pos is not None
    name = Path(diagnostic.pos.filename).relative_to(directory)
    return f"{name}:{diagnostic.pos.line}:{diagnostic.pos.column}: {diagnostic.message}"


def test_the_module_file(make_module: MakeModule) -> None:
    directory = make_module(
        VERB, name="clock", package="clock_pkg", toml='module = "clock"\npackage = "clock_pkg"\n'
    )
    module = read_module_file(directory)
    assert (module.name, module.package, module.package_dir) == (
        "clock",
        "clock_pkg",
        directory / "clock_pkg",
    )


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            'language = "python"\n',
            'ftl.toml:1:1: ftl.toml is missing the `module` key: add `module = "shop"`',
        ),
        (
            '\nmodule = "map"\n',
            "ftl.toml:2:10: module name 'map' is a reserved word of the schema language: choose another name",
        ),
        (
            'module = "my-shop"\n',
            "ftl.toml:1:10: module name 'my-shop' is invalid: use letters, digits and underscores, "
            "starting with a letter",
        ),
        (
            'module = "shop"\nlanguage = "go"\n',
            "ftl.toml:2:12: `language` is 'go': this runtime builds Python modules only",
        ),
        (
            'module = "shop" = 1\n',
            "ftl.toml:1:17: invalid TOML: Expected newline or end of document after a statement",
        ),
        (
            'module = "shop"\npackage = "nothere"\n',
            "ftl.toml:2:11: no package nothere/ (with an __init__.py) next "
            "to ftl.toml: create it, or set `package` to the directory that holds the module's code",
        ),
    ],
)
def test_module_file_errors_point_into_ftl_toml(make_module: MakeModule, toml: str, expected: str) -> None:
    assert module_file_error(make_module(VERB, toml=toml)) == expected


def test_a_package_that_shadows_the_standard_library(make_module: MakeModule) -> None:
    directory = make_module(VERB, name="time")
    assert module_file_error(directory) == (
        "ftl.toml:1:10: the package name 'time' clashes with Python's own `time`: rename the package "
        'directory and set `package = "<new name>"` in ftl.toml'
    )


def test_an_import_failure_shows_the_last_user_frame_once(errors: Errors) -> None:
    found = errors(
        "from shop import helpers\n",
        files={"helpers.py": "def boom():\n    raise RuntimeError('no config file')\n\nboom()\n"},
    )
    assert found == ["shop/helpers.py:2:5: RuntimeError: no config file"]


def test_a_syntax_error_is_positioned(errors: Errors) -> None:
    assert errors("import ftl\n\ndef broken(:\n    pass\n") == [
        "shop/__init__.py:3:12: SyntaxError: invalid syntax"
    ]


def test_a_missing_stub_suggests_ftl_build(errors: Errors) -> None:
    [found] = errors("import ftl\nfrom ftl_modules import nothere\n")
    assert found.startswith("shop/__init__.py:2:1: ModuleNotFoundError: No module named 'ftl_modules'")
    assert "ftl build" in found


def test_every_file_of_the_package_is_imported_but_not_tests(make_module: MakeModule) -> None:
    directory = make_module(
        "",
        files={
            "api/__init__.py": "",
            "api/users.py": VERB,
            "tests/test_shop.py": "raise AssertionError('tests are not part of the module')\n",
            "test_more.py": "raise AssertionError('neither are test files')\n",
        },
    )
    loaded = load_module(directory, isolated=True)
    assert list(loaded.verbs) == ["ping"]
    assert loaded.verbs["ping"].func.__module__ == "shop.api.users"


def test_isolated_loads_see_fresh_code_and_leave_sys_path_alone(make_module: MakeModule) -> None:
    directory = make_module(VERB)
    before = list(sys.path)
    assert list(load_module(directory, isolated=True).verbs) == ["ping"]
    (directory / "shop" / "__init__.py").write_text(VERB.replace("ping", "pinged"))
    assert list(load_module(directory, isolated=True).verbs) == ["pinged"]
    assert sys.path == before


def test_a_same_size_edit_is_never_served_from_stale_bytecode(make_module: MakeModule) -> None:
    directory = make_module(VERB)
    init = directory / "shop" / "__init__.py"
    # Python trusts a .pyc whose source has the same mtime (in whole seconds) and size.
    py_compile.compile(str(init), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    status = init.stat()
    init.write_text(VERB.replace("ping", "pong"))
    os.utime(init, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert list(load_module(directory, isolated=True).verbs) == ["pong"]


def test_loading_leaves_the_import_system_as_it_was(make_module: MakeModule, errors: Errors) -> None:
    before = list(sys.meta_path)
    load_module(make_module(VERB), isolated=True)
    assert sys.meta_path == before
    assert errors("def broken(:\n") == ["shop/__init__.py:1:12: SyntaxError: invalid syntax"]
    assert sys.meta_path == before
