"""What a verb's code uses: generated verb clients (`+calls`) and this module's topics (`+publish`);
and the names it takes from a generated stub that the stub lacks (a typo, a verb not exported).

The body of the verb is read as source, and every name in it is looked up the way Python would at
call time (its globals and closure). Helper functions and classes of the same package are followed,
so a verb that calls a helper that calls another module still declares the call. Only code written
in the package's files is read, each function once per extraction.
"""

from __future__ import annotations

import ast as pyast
import importlib
import inspect
import os
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ftl._sdk.calls import VerbClient
from ftl._sdk.topics import Topic
from ftl.errors import Position
from ftl.runtime.extract.source import source_of
from ftl.runtime.extract.stub_names import is_stub_module, missing_name_problem


@dataclass(frozen=True)
class Use:
    target: VerbClient[object, object] | Topic[object]
    pos: Position


@dataclass(frozen=True)
class MissingName:
    """Code takes a name a generated stub lacks (`other.refund` where `other` exports no `refund`)."""

    message: str
    pos: Position


_Step = Use | MissingName | types.FunctionType | type  # what a function's body reaches, in source order


class UsageFinder:
    """Reads each function once per extraction, however many verbs reach it."""

    def __init__(self, is_local: Callable[[str], bool]) -> None:
        self.is_local = is_local
        self._local_files: frozenset[str] | None = None
        self._steps: dict[types.FunctionType, list[_Step]] = {}

    def is_local_code(self, code: types.CodeType) -> bool:
        """Whether `code` was written in one of the package's files.

        Functions that only carry a local `__module__` (the `__repr__` that `@dataclass` wraps with
        `functools.wraps`, code generated from strings) are not the user's code; reading their source
        would parse files such as dataclasses.py on every load.
        """
        if self._local_files is None:
            self._local_files = frozenset(
                os.path.abspath(filename)
                for name, module in list(sys.modules.items())
                if self.is_local(name) and isinstance(filename := getattr(module, "__file__", None), str)
            )
        return os.path.abspath(code.co_filename) in self._local_files

    def uses(self, func: Callable[..., object]) -> list[Use | MissingName]:
        """Every client or topic `func` uses, directly or through local helpers, first use first; and
        every name it takes from a stub that the stub lacks."""
        found: list[Use | MissingName] = []
        seen: set[object] = set()
        self._function(inspect.unwrap(func), found, seen)
        return found

    def _function(self, func: object, found: list[Use | MissingName], seen: set[object]) -> None:
        code = getattr(func, "__code__", None)
        if not isinstance(func, types.FunctionType) or code is None or code in seen:
            return
        seen.add(code)
        for step in self._steps_of(func):
            if isinstance(step, Use | MissingName):
                found.append(step)
            elif isinstance(step, type):
                self._class(step, found, seen)
            else:
                self._function(step, found, seen)

    def _class(self, cls: type, found: list[Use | MissingName], seen: set[object]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for member in vars(cls).values():
            function = member.__func__ if isinstance(member, classmethod | staticmethod) else member
            if isinstance(function, types.FunctionType) and function.__module__ == cls.__module__:
                self._function(function, found, seen)

    def _steps_of(self, func: types.FunctionType) -> list[_Step]:
        steps = self._steps.get(func)
        if steps is None:
            steps = self._steps[func] = self._read_steps(func)
        return steps

    def _read_steps(self, func: types.FunctionType) -> list[_Step]:
        """The clients and topics `func` names, and the local functions and classes it reaches."""
        if not self.is_local_code(func.__code__):
            return []
        source = source_of(func)
        definition = source.find_function(func) if source else None
        if source is None or definition is None:
            return []
        bound: dict[str, object] = {}
        if func.__closure__:
            for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=True):
                try:
                    bound[name] = cell.cell_contents
                except ValueError:
                    continue
        local_names, import_statements = _local_names(definition)
        imports = _local_imports(import_statements)
        bound.update(imports)
        local_names -= imports.keys()
        steps: list[_Step] = []
        for chain, node in _name_chains(definition.body):
            if chain[0] in local_names:
                continue
            values = list(_values_along(chain, bound, func.__globals__))
            for value in values:
                if isinstance(value, VerbClient | Topic):
                    steps.append(Use(value, source.pos(node)))
                    break
                if isinstance(value, types.FunctionType) and self.is_local(value.__module__):
                    unwrapped = inspect.unwrap(value)
                    if isinstance(unwrapped, types.FunctionType):
                        steps.append(unwrapped)
                    break
                if isinstance(value, type) and self.is_local(value.__module__):
                    steps.append(value)
                    break
            else:
                missing = _missing_from_stub(chain, values)
                if missing is not None:
                    steps.append(MissingName(missing, source.pos(node)))
        return steps


def _missing_from_stub(chain: list[str], values: list[object]) -> str | None:
    """Why the chain stops at a stub that lacks its next name (`b.refund`), or None."""
    if not values or len(values) == len(chain) or not is_stub_module(values[-1]):
        return None
    name = chain[len(values)]
    if name.startswith("_"):
        return None
    stub = values[-1]
    assert isinstance(stub, types.ModuleType)
    return missing_name_problem(stub, name)


def _values_along(
    chain: list[str], bound: dict[str, object], namespace: dict[str, object]
) -> Iterator[object]:
    """The values of `a`, `a.b`, `a.b.c`, ... stepping only through modules (no side effects).

    `a` is looked up in `bound` (closure cells, imports inside the function), then in `namespace`.
    """
    if chain[0] in bound:
        value = bound[chain[0]]
    elif chain[0] in namespace:
        value = namespace[chain[0]]
    else:
        return
    yield value
    for attribute in chain[1:]:
        if not isinstance(value, types.ModuleType) or not hasattr(value, attribute):
            return
        value = getattr(value, attribute)
        yield value


def _name_chains(body: list[pyast.stmt]) -> Iterator[tuple[list[str], pyast.expr]]:
    """Every `name` and `name.attr.attr` read in `body`, with the node where it starts."""
    stack: list[pyast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, pyast.Attribute | pyast.Name) and isinstance(node.ctx, pyast.Load):
            chain = _chain(node)
            if chain is not None:
                yield chain, node
                continue
        stack.extend(reversed(list(pyast.iter_child_nodes(node))))


def _chain(node: pyast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, pyast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, pyast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _local_names(
    definition: pyast.FunctionDef | pyast.AsyncFunctionDef,
) -> tuple[set[str], list[pyast.Import | pyast.ImportFrom]]:
    """Names bound inside the function (parameters, assignments, imports inside it), and its imports."""
    arguments = definition.args
    names = {
        a.arg
        for a in (
            *arguments.posonlyargs,
            *arguments.args,
            *arguments.kwonlyargs,
            arguments.vararg,
            arguments.kwarg,
        )
        if a is not None
    }
    imports: list[pyast.Import | pyast.ImportFrom] = []
    for node in pyast.walk(pyast.Module(body=definition.body, type_ignores=[])):
        if isinstance(node, pyast.Name) and isinstance(node.ctx, pyast.Store | pyast.Del):
            names.add(node.id)
        elif isinstance(node, pyast.FunctionDef | pyast.AsyncFunctionDef | pyast.ClassDef):
            names.add(node.name)
        elif isinstance(node, pyast.Import | pyast.ImportFrom):
            names.update((alias.asname or alias.name).partition(".")[0] for alias in node.names)
            imports.append(node)
        elif isinstance(node, pyast.Global | pyast.Nonlocal):
            names.difference_update(node.names)
    return names, imports


def _local_imports(statements: list[pyast.Import | pyast.ImportFrom]) -> dict[str, object]:
    """Modules and names imported inside the function body that are already importable without side
    effects: generated stubs (always safe to import) and modules the process already loaded."""
    bound: dict[str, object] = {}
    for node in statements:
        if isinstance(node, pyast.Import):
            for alias in node.names:
                top = alias.name.partition(".")[0]
                module = _safe_import(alias.name if alias.asname else top)
                if module is not None:
                    bound[alias.asname or top] = module
        elif isinstance(node, pyast.ImportFrom) and node.level == 0 and node.module:
            module = _safe_import(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None) if module is not None else None
                value = value if value is not None else _safe_import(f"{node.module}.{alias.name}")
                if value is not None:
                    bound[alias.asname or alias.name] = value
    return bound


def _safe_import(name: str) -> object | None:
    if name in sys.modules:
        return sys.modules[name]
    if name.partition(".")[0] != "ftl_modules":
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
