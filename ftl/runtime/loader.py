"""Load a module for serving: import its package under its real name, extract its schema.

A runner calls `load_module(module_dir)` in a fresh process; `ftl build` calls it in-process for
each module (with `isolated=True`, so repeated builds re-import fresh code). The generated stubs
directory (`ftl.build.stubs.stubs_dir(root)`) must be importable, or be passed as `stubs`.

The package and the stubs run code compiled from the syntax trees that extraction reads, so each
file is parsed once, and never from cached bytecode: Python trusts a `.pyc` whose source has the
same size and mtime in whole seconds, so a quick same-size save would run the old code.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import re
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType

from ftl._sdk import registry
from ftl.errors import Diagnostic, FtlError, Position
from ftl.names import STUBS_PACKAGE
from ftl.runtime.extract import ModuleFile, VerbHandle, extract_package, read_module_file
from ftl.runtime.extract.source import load_source, pinned_sources, recheck_sources
from ftl.runtime.extract.stub_names import is_stub_module, missing_name_problem
from ftl.schema import ast

__all__ = ["LoadedModule", "VerbHandle", "import_package", "load_module", "load_module_file"]

_SKIPPED_DIRS = frozenset({"tests", "test", "__pycache__"})
_CANNOT_IMPORT = re.compile(r"cannot import name '(\w+)' from ")  # Python 3.11 has no ImportError.name_from


@dataclass(frozen=True)
class LoadedModule:
    name: str
    directory: Path
    schema: ast.Module
    verbs: Mapping[str, VerbHandle]


def load_module(module_dir: Path, *, stubs: Path | None = None, isolated: bool = False) -> LoadedModule:
    """Import the module in `module_dir` and extract its schema; raises FtlError on any problem."""
    return load_module_file(read_module_file(module_dir), stubs=stubs, isolated=isolated)


def load_module_file(
    module: ModuleFile, *, stubs: Path | None = None, isolated: bool = False
) -> LoadedModule:
    """Load one module; `isolated` leaves no trace (sys.path, sys.modules) and always re-imports."""
    paths = [str(module.directory)] + ([str(stubs)] if stubs else [])
    if isolated:
        recheck_sources(*paths)
    with _on_sys_path(paths, restore=isolated), pinned_sources():
        try:
            python_modules = import_package(module, fresh=isolated)
            extracted = extract_package(module.name, module.package, python_modules)
        except FtlError:
            raise
        except Exception as exc:
            # User code can defeat extraction in ways nobody foresaw; say where, not a traceback.
            where = Position(str(module.package_dir / "__init__.py"), 1, 1)
            message = f"cannot extract the schema of module {module.name}: {type(exc).__name__}: {exc}"
            raise FtlError([Diagnostic(message, where)]) from exc
        finally:
            if isolated:
                _forget(module.package)
    return LoadedModule(module.name, module.directory, extracted.schema, extracted.verbs)


def import_package(module: ModuleFile, *, fresh: bool = False) -> list[ModuleType]:
    """Import the package and every Python file in it (tests excluded).

    With `fresh`, modules imported before (the package, generated stubs) are dropped first. A
    failure becomes one diagnostic at the last frame of the user's code.
    """
    if fresh:
        _forget(module.package)
        importlib.invalidate_caches()
    imported: list[ModuleType] = []
    with _compiled_from_source((module.package, STUBS_PACKAGE)):
        for name in _python_modules(module):
            try:
                imported.append(importlib.import_module(name))
            except (Exception, SystemExit) as exc:
                raise FtlError([_import_error(exc, module, name)]) from exc
    return imported


class _ParsedSourceLoader(importlib.machinery.SourceFileLoader):
    """Runs the code compiled from the tree extraction reads; reads and writes no bytecode cache."""

    def get_code(self, fullname: str) -> CodeType:
        source = load_source(self.path)
        if source is None:  # not UTF-8 or not valid Python: let the compiler say why and where
            return self.source_to_code(self.get_data(self.path), self.path)
        return source.code()


class _ParsedSourceFinder(importlib.abc.MetaPathFinder):
    """Finds `packages` (and their submodules) on sys.path as usual, to load with `_ParsedSourceLoader`."""

    def __init__(self, packages: Sequence[str]) -> None:
        self.packages = tuple(packages)
        self.prefixes = tuple(package + "." for package in packages)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.packages and not fullname.startswith(self.prefixes):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _ParsedSourceLoader(spec.loader.name, spec.loader.path)
        return spec


@contextmanager
def _compiled_from_source(packages: Sequence[str]) -> Iterator[None]:
    finder = _ParsedSourceFinder(packages)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def _python_modules(module: ModuleFile) -> Iterator[str]:
    root = module.package_dir
    yield module.package
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if any(part in _SKIPPED_DIRS or part.startswith(".") for part in relative.parts[:-1]):
            continue
        if relative.name.startswith("test_") or relative.name == "conftest.py":
            continue
        if any(not part.isidentifier() for part in relative.with_suffix("").parts):
            continue
        parts = relative.with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
            if not parts:
                continue
            if not all(
                (root.joinpath(*parts[:i]) / "__init__.py").is_file() for i in range(1, len(parts) + 1)
            ):
                continue
        elif not all((root.joinpath(*parts[:i]) / "__init__.py").is_file() for i in range(1, len(parts))):
            continue
        yield ".".join((module.package, *parts))


def _forget(package: str) -> None:
    stale = [
        name
        for name in sys.modules
        if name in (package, STUBS_PACKAGE) or name.startswith((package + ".", STUBS_PACKAGE + "."))
    ]
    for name in stale:
        del sys.modules[name]
    registry.forget(stale)


@contextmanager
def _on_sys_path(paths: list[str], *, restore: bool) -> Iterator[None]:
    before = list(sys.path)
    for path in reversed(paths):
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    try:
        yield
    finally:
        if restore:
            sys.path[:] = before


def _import_error(exc: BaseException, module: ModuleFile, python_module: str) -> Diagnostic:
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return Diagnostic(f"SyntaxError: {exc.msg}", Position(exc.filename, exc.lineno, exc.offset or 1))
    message = _missing_stub_name(exc) or f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").startswith(STUBS_PACKAGE):
        message += " (client stubs are generated by `ftl build`; is the module name right?)"
    directory = str(module.directory)
    user_frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename.startswith(directory) and frame.lineno
    ]
    if user_frames:
        frame = user_frames[-1]
        column = (frame.colno or 0) + 1
        return Diagnostic(message, Position(frame.filename, frame.lineno or 1, column))
    init = module.package_dir / "__init__.py"
    return Diagnostic(f"cannot import {python_module}: {message}", Position(str(init), 1, 1))


def _missing_stub_name(exc: BaseException) -> str | None:
    """What `from ftl_modules.other import refund` (or `other.refund` run at import time, as in a
    decorator's argument) failed on, when the stub has no `refund`."""
    if isinstance(exc, AttributeError):
        stub = getattr(exc, "obj", None)
        if isinstance(exc.name, str) and is_stub_module(stub):
            assert isinstance(stub, ModuleType)
            return missing_name_problem(stub, exc.name)
        return None
    if not isinstance(exc, ImportError) or isinstance(exc, ModuleNotFoundError):
        return None
    stub = sys.modules.get(exc.name or "")
    match = _CANNOT_IMPORT.match(str(exc))
    if stub is None or match is None or not is_stub_module(stub):
        return None
    return missing_name_problem(stub, match[1])
