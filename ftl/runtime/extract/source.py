"""Parsed Python source files, and positions in them as the user sees them.

Python's `ast` gives 0-based UTF-8 byte columns; positions here are 1-based character columns, the
way editors and `file:line:col` messages count. Files are parsed once per content version, and
the loader compiles the user's code from the same trees (`load_source`).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import sys
import threading
import types
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ftl.errors import Position
from ftl.files import display_path

_DEF_NAME = re.compile(r"(?:async\s+)?(?:def|class)\s+")
_HOLDS_STATEMENTS = (ast.stmt, ast.excepthandler, ast.match_case)


@dataclass
class SourceFile:
    path: str
    text: str
    tree: ast.Module
    lines: list[str] = field(repr=False)
    _functions: dict[tuple[str, int], ast.FunctionDef | ast.AsyncFunctionDef] | None = field(
        default=None, repr=False
    )
    _aliases: dict[str, ast.AnnAssign] | None = field(default=None, repr=False)
    _statements: tuple[ast.stmt, ...] | None = field(default=None, repr=False)
    _code: types.CodeType | None = field(default=None, repr=False)

    def code(self) -> types.CodeType:
        """The module's code, compiled from `tree` (once): what runs is what extraction reads."""
        if self._code is None:
            self._code = compile(self.tree, self.path, "exec", dont_inherit=True)
        return self._code

    def position(self, line: int, byte_column: int) -> Position:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        column = len(text.encode("utf-8")[:byte_column].decode("utf-8", errors="ignore"))
        return Position(self.path, line, column + 1)

    def pos(self, node: ast.AST) -> Position:
        return self.position(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))

    def name_pos(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> Position:
        """Where the name of a `def`/`class` starts (not its decorators)."""
        line = self.lines[node.lineno - 1] if node.lineno <= len(self.lines) else ""
        match = _DEF_NAME.match(line, len(line.encode("utf-8")[: node.col_offset].decode("utf-8", "ignore")))
        column = match.end() if match else node.col_offset
        return Position(self.path, node.lineno, column + 1)

    def find_function(self, func: types.FunctionType) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        if self._functions is None:
            self._functions = {}
            for node in self.statements():
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
                    self._functions.setdefault((node.name, first), node)
        return self._functions.get((func.__name__, func.__code__.co_firstlineno))

    def find_class(self, cls: type) -> ast.ClassDef | None:
        """The `class` statement of `cls`, following its qualified name through nested scopes."""
        parts = [p for p in cls.__qualname__.split(".") if p != "<locals>"]
        scope: list[ast.stmt] = self.tree.body
        found: ast.ClassDef | None = None
        for part in parts:
            found = next((n for n in scope if isinstance(n, ast.ClassDef) and n.name == part), None)
            if found is None:
                break
            scope = found.body
        if found is not None and found.name == cls.__name__:
            return found
        return next(
            (n for n in self.statements() if isinstance(n, ast.ClassDef) and n.name == cls.__name__), None
        )

    def statements(self) -> tuple[ast.stmt, ...]:
        """Every statement, nested ones included, in `ast.walk` order.

        Much cheaper than `ast.walk`: expressions, most of a tree, hold no statements and are skipped.
        """
        if self._statements is None:
            found: list[ast.stmt] = []
            queue: deque[ast.AST] = deque([self.tree])
            while queue:
                node = queue.popleft()
                if isinstance(node, ast.stmt):
                    found.append(node)
                for name in node._fields:
                    value = getattr(node, name, None)
                    if isinstance(value, list):
                        queue.extend(v for v in value if isinstance(v, _HOLDS_STATEMENTS))
            self._statements = tuple(found)
        return self._statements

    def type_aliases(self) -> dict[str, ast.AnnAssign]:
        """Module-level `Name: TypeAlias = ...` statements, by name."""
        if self._aliases is None:
            self._aliases = {
                node.target.id: node
                for node in self.tree.body
                if isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.value is not None
                and _is_type_alias_annotation(node.annotation)
            }
        return self._aliases

    def imported_names(self, python_module: str, is_package: bool) -> dict[str, tuple[str, str]]:
        """`from M import N as L` at module level: local name L -> (absolute M, N)."""
        package = python_module if is_package else python_module.rpartition(".")[0]
        names: dict[str, tuple[str, str]] = {}
        for node in self.tree.body:
            if not isinstance(node, ast.ImportFrom):
                continue
            try:
                source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            except ImportError:
                continue
            for alias in node.names:
                names[alias.asname or alias.name] = (source, alias.name)
        return names

    def assignment_to(self, name: str) -> ast.Assign | ast.AnnAssign | None:
        """The module-level statement that assigns `name` (for `X = NewType(...)` and topics)."""
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets
            ):
                return node
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.target.id == name
            ):
                return node
        return None

    def statement_at(self, line: int) -> ast.stmt | None:
        return next((n for n in self.tree.body if n.lineno <= line <= (n.end_lineno or n.lineno)), None)


def _is_type_alias_annotation(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.rpartition(".")[2] == "TypeAlias"
    if isinstance(node, ast.Name):
        return node.id == "TypeAlias"
    return isinstance(node, ast.Attribute) and node.attr == "TypeAlias"


@dataclass
class _Cached:
    stamp: tuple[int, int, int, int] | None  # the stat when last read; None: compare the bytes
    raw: bytes
    source: SourceFile | None


_cache: dict[str, _Cached] = {}
_pins = threading.local()  # `.files`: what this thread read inside `pinned_sources()`


def load_source(path: str | os.PathLike[str]) -> SourceFile | None:
    """The parsed file at `path`, or None if it cannot be read or parsed.

    A file is parsed again only when its bytes change. Each call compares the file's stat with the
    last read (after `recheck_sources()`, its bytes too); inside `pinned_sources()` a file is read
    at most once, so everything in that block sees one version of it.
    """
    absolute = os.path.abspath(path)
    cached = _cache.get(absolute)
    pinned: set[str] | None = getattr(_pins, "files", None)
    if cached is not None and pinned is not None and absolute in pinned:
        return cached.source
    try:
        status = os.stat(absolute)
        stamp = (status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_ino)
        if cached is None or cached.stamp != stamp:
            raw = Path(absolute).read_bytes()
            if cached is not None and cached.raw == raw:
                cached.stamp = stamp
            else:
                cached = _Cached(stamp, raw, _parse(absolute, raw))
                _cache[absolute] = cached
    except OSError:
        _cache.pop(absolute, None)
        return None
    if pinned is not None:
        pinned.add(absolute)
    return cached.source


def _parse(path: str, raw: bytes) -> SourceFile | None:
    try:
        text = raw.decode("utf-8")
        tree = ast.parse(raw, filename=path)
    except (UnicodeDecodeError, SyntaxError, ValueError):
        return None
    return SourceFile(path, text, tree, text.splitlines())


def recheck_sources(*directories: str | os.PathLike[str]) -> None:
    """Compare the bytes of cached files under `directories` on their next read, not only their stat.

    File timestamps tick coarsely (a few ms), so a same-size save right after a read can keep its stat.
    """
    prefixes = tuple(os.path.join(os.path.abspath(d), "") for d in directories)
    for path, cached in list(_cache.items()):  # a copy: another thread may be loading meanwhile
        if path.startswith(prefixes):
            cached.stamp = None


@contextmanager
def pinned_sources() -> Iterator[None]:
    """Within the block each file is read once: the code imported and the source extracted match."""
    outer: set[str] | None = getattr(_pins, "files", None)
    _pins.files = set() if outer is None else outer
    try:
        yield
    finally:
        _pins.files = outer


def source_of_module(python_module: str) -> SourceFile | None:
    module = sys.modules.get(python_module)
    filename = getattr(module, "__file__", None)
    return load_source(filename) if filename else None


def source_of(obj: object) -> SourceFile | None:
    """The source file that defines a function or class."""
    code = getattr(obj, "__code__", None)
    if code is not None:
        return load_source(code.co_filename)
    module_name = getattr(obj, "__module__", None)
    return source_of_module(module_name) if isinstance(module_name, str) else None


def place(pos: Position, here: Position) -> str:
    """How a message names another place: `line 12` in the same file, else `path:12:5`."""
    if pos.filename == here.filename:
        return f"line {pos.line}"
    return str(pos.with_filename(display_path(Path(pos.filename))))
