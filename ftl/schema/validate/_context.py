"""What every rule works with: the error report, and an index of a realm's declarations.

The index is built once per realm (dicts by module and name), so every lookup a rule makes is O(1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from ftl.errors import Diagnostic, Position
from ftl.schema import ast
from ftl.schema.builtin import BUILTIN_MODULE

__all__ = ["RealmIndex", "Report", "in_realm", "is_builtin", "line_col"]


class Report:
    """Collects diagnostics; a node without a position reports at `fallback` (or nowhere)."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def error(self, message: str, pos: Position, fallback: Position = ast.NO_POS) -> None:
        where = pos if pos.line else fallback
        self.diagnostics.append(Diagnostic(message, where if where.line else None))


class RealmIndex:
    """A realm's modules (the first of each name) and their declarations by name."""

    __slots__ = ("decls", "external", "modules", "name", "others")

    def __init__(self, name: str, external: bool, modules: Iterable[ast.Module]) -> None:
        self.name = name
        self.external = external
        self.modules: dict[str, ast.Module] = {}
        self.decls: dict[str, dict[str, list[ast.Decl]]] = {}
        self.others: Mapping[str, RealmIndex] = {}  # every realm of the schema, for `@realm` refs
        for module in modules:
            if module.name not in self.modules:
                self.add(module)

    def add(self, module: ast.Module) -> None:
        self.modules[module.name] = module
        table: dict[str, list[ast.Decl]] = {}
        for decl in module.decls:
            found = table.get(decl.name)
            if found is None:
                table[decl.name] = [decl]
            else:
                found.append(decl)
        self.decls[module.name] = table

    def lookup(self, module: str, name: str, prefer: tuple[type, ...] = ()) -> ast.Decl | None:
        """The declaration `module.name`; where kinds share the name, the first of a `prefer`red kind."""
        table = self.decls.get(module)
        if table is None:
            return None
        found = table.get(name)
        if not found:
            return None
        if len(found) > 1 and prefer:
            for decl in found:
                if isinstance(decl, prefer):
                    return decl
        return found[0]

    def resolve(self, ref: ast.Ref, prefer: tuple[type, ...] = ()) -> ast.Decl | None:
        """The declaration a qualified reference names (None for type parameters and unknowns)."""
        if not ref.module:
            return None
        if ref.realm:
            other = self.others.get(ref.realm)
            return other.lookup(ref.module, ref.name, prefer) if other is not None else None
        return self.lookup(ref.module, ref.name, prefer)

    def underlying(self, type_: ast.Type) -> tuple[ast.Type, bool]:
        """`type_` with type aliases followed; and whether an alias on the way has a `+typemap`."""
        seen: set[tuple[str, str]] = set()
        while isinstance(type_, ast.Ref) and type_.key not in seen:
            decl = self.resolve(type_, ast.TYPE_DECLS)
            if not isinstance(decl, ast.TypeAlias):
                break
            if any(isinstance(md, ast.MetadataTypeMap) for md in decl.metadata):
                return type_, True
            seen.add(type_.key)
            type_ = decl.type
        return type_, False


def line_col(pos: Position) -> str:
    """`line:column`, as messages point at another place in the same file."""
    return f"{pos.line}:{pos.column}"


def is_builtin(ref: ast.Ref, name: str) -> bool:
    return ref.module == BUILTIN_MODULE and ref.name == name and not ref.realm


def in_realm(type_: ast.Type, realm: str) -> ast.Type:
    """`type_` as seen from another realm: its refs (except builtins) get the `@realm` suffix."""
    if isinstance(type_, ast.Ref):
        args = tuple(in_realm(arg, realm) for arg in type_.type_args)
        if type_.realm or not type_.module or type_.module == BUILTIN_MODULE:
            return replace(type_, type_args=args)
        return replace(type_, type_args=args, realm=realm)
    if isinstance(type_, ast.Optional):
        return ast.Optional(in_realm(type_.type, realm), pos=type_.pos)
    if isinstance(type_, ast.Array):
        return ast.Array(in_realm(type_.element, realm), pos=type_.pos)
    if isinstance(type_, ast.Map):
        return ast.Map(in_realm(type_.key, realm), in_realm(type_.value, realm), pos=type_.pos)
    return type_
