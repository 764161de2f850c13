"""`ftl.toml`, the file that makes a directory a module:

module = "echo"          # the module's schema name (required)
language = "python"      # optional; Python is the only language this runtime runs
package = "echo"         # optional; the Python package holding the code (default: the module name)
watch = ["**/*.py"]      # optional; globs `ftl dev` watches
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftl.errors import Diagnostic, FtlError, Position
from ftl.files import display_path
from ftl.names import module_name_problem

MODULE_FILE = "ftl.toml"
DEFAULT_WATCH = ("**/*.py", MODULE_FILE)
# Python's own packages; `test` (the regression tests) is left out of sys.stdlib_module_names.
_PYTHON_PACKAGES = sys.stdlib_module_names | {"test"}
# FTL's packages, and the names every project uses: each module's `tests/`, the root `conftest.py`.
_PROJECT_PACKAGES = frozenset({"ftl", "ftl_modules", "tests", "conftest"})


@dataclass(frozen=True)
class ModuleFile:
    name: str
    package: str
    directory: Path
    watch: tuple[str, ...] = DEFAULT_WATCH

    @property
    def path(self) -> Path:
        return self.directory / MODULE_FILE

    @property
    def package_dir(self) -> Path:
        return self.directory / self.package


def hidden_package(package: str) -> str | None:
    """The package a module's Python package named `package` would hide on sys.path (described),
    or None. Module discovery refuses such a package and `ftl new` such a module name."""
    if package in _PYTHON_PACKAGES:
        return f"Python's own `{package}`"
    if package in _PROJECT_PACKAGES:
        return f"the `{package}` package FTL projects use"
    return None


def read_module_file(directory: Path) -> ModuleFile:
    """Read and check `<directory>/ftl.toml`. A problem in the file is an FtlError positioned in it;
    a file that is missing or cannot be read is a plain FtlError naming it."""
    directory = directory.resolve()
    path = directory / MODULE_FILE
    shown = str(path)
    text = _read_text(path, shown)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+), column (\d+)", str(exc))
        line, column = (int(match[1]), int(match[2])) if match else (1, 1)
        message = str(exc).split(" (at ")[0]
        raise FtlError([Diagnostic(f"invalid TOML: {message}", Position(shown, line, column))]) from exc
    return _module_file(directory, text, data)


def _read_text(path: Path, shown: str) -> str:
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        directory = path.parent
        why = (
            f"it has no {MODULE_FILE}"
            if directory.is_dir()
            else "it is a file"
            if directory.exists()
            else "it does not exist"
        )
        raise FtlError(f"{display_path(directory)} is not a module directory ({why})") from None
    except OSError as exc:
        raise FtlError(f"cannot read {display_path(path)}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start]
        line_start = good.rfind(b"\n") + 1
        column = len(good[line_start:].decode("utf-8")) + 1
        message = f"{MODULE_FILE} is not UTF-8 text (byte 0x{data[exc.start]:02x})"
        raise FtlError([Diagnostic(message, Position(shown, good.count(b"\n") + 1, column))]) from None


def _key_pos(path: Path, text: str, key: str) -> Position:
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(rf"\s*{re.escape(key)}\s*=\s*", line)
        if match:
            return Position(str(path), number, match.end() + 1)
    return Position(str(path), 1, 1)


def _module_file(directory: Path, text: str, data: dict[str, Any]) -> ModuleFile:
    path = directory / MODULE_FILE

    def fail(message: str, key: str | None = None) -> FtlError:
        pos = _key_pos(path, text, key) if key else Position(str(path), 1, 1)
        return FtlError([Diagnostic(message, pos)])

    if "module" not in data:
        suggestion = re.sub(r"\W", "_", directory.name)
        raise fail(f'{MODULE_FILE} is missing the `module` key: add `module = "{suggestion}"`')
    name = data["module"]
    if not isinstance(name, str):
        raise fail("`module` must be a string", "module")
    problem = module_name_problem(name)
    if problem:
        raise fail(problem, "module")
    language = data.get("language", "python")
    if language != "python":
        raise fail(f"`language` is {language!r}: this runtime builds Python modules only", "language")
    package = data.get("package", name)
    if not isinstance(package, str) or not package.isidentifier():
        raise fail("`package` must be the name of a Python package (an identifier)", "package")
    hidden = hidden_package(package)
    if hidden:
        raise fail(
            f"the package name {package!r} clashes with {hidden}: rename the package "
            f'directory and set `package = "<new name>"` in {MODULE_FILE}',
            "package" if "package" in data else "module",
        )
    if not (directory / package / "__init__.py").is_file():
        shown_dir = os.path.join(package, "")
        raise fail(
            f"no package {shown_dir} (with an __init__.py) next to {MODULE_FILE}: create it, or set "
            "`package` to the directory that holds the module's code",
            "package" if "package" in data else "module",
        )
    watch = data.get("watch", list(DEFAULT_WATCH))
    if not isinstance(watch, list) or not all(isinstance(w, str) for w in watch):
        raise fail("`watch` must be a list of glob patterns", "watch")
    return ModuleFile(name=name, package=package, directory=directory, watch=tuple(watch))
