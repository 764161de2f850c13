"""Python type annotations -> schema types.

    int, float, str, bytes, bool           -> Int, Float, String, Bytes, Bool
    datetime.datetime, typing.Any          -> Time, Any
    None (request, response, type args)    -> Unit
    list[T], dict[str, T], T | None        -> [T], {String: T}, T?
    dataclass, StrEnum/IntEnum, @ftl.enum,
      TypeAlias, NewType of the package    -> a ref to its declaration
    a class or alias of a generated stub   -> a ref into that module (`ftl_modules.<module>`)
    ftl.HttpRequest[...], ftl.Empty, ...   -> builtin.HttpRequest<...>, builtin.Empty, ...

Anything else is an error at the annotation that says what to write instead.
"""

from __future__ import annotations

import ast as pyast
import collections.abc
import dataclasses
import datetime
import enum
import typing
from dataclasses import dataclass
from typing import Protocol

from ftl._sdk.builtin import BUILTIN_TYPES
from ftl._sdk.decorators import is_sum_type_base
from ftl._sdk.markers import Config, Secret
from ftl.errors import Position
from ftl.names import STUBS_PACKAGE
from ftl.runtime.extract.typenodes import (
    AliasName,
    ObjectNode,
    Scope,
    SourceNode,
    TypeNode,
    Unresolvable,
    alias_named_by,
    evaluate,
    split_subscript,
    union_members,
    unquote,
)
from ftl.schema import ast

_PRIMITIVES: dict[object, type[ast.Primitive]] = {
    bool: ast.Bool,
    int: ast.Int,
    float: ast.Float,
    str: ast.String,
    bytes: ast.Bytes,
    datetime.datetime: ast.Time,
    typing.Any: ast.Any,
}
_LISTS = (list, typing.List, collections.abc.Sequence, collections.abc.MutableSequence)  # noqa: UP006
_DICTS = (dict, typing.Dict, collections.abc.Mapping, collections.abc.MutableMapping)  # noqa: UP006
_SUPPORTED = (
    "int, float, str, bytes, bool, datetime.datetime, typing.Any, list[T], dict[str, T], T | None, "
    "a dataclass, an enum.StrEnum/IntEnum, or a type from ftl_modules"
)
_INSTEAD: dict[object, str] = {
    tuple: "use list[T] (or a dataclass for a fixed set of fields)",
    set: "use list[T]",
    frozenset: "use list[T]",
    typing.Literal: "use an enum.StrEnum",
    datetime.date: "use datetime.datetime",
    datetime.time: "use datetime.datetime",
    datetime.timedelta: "use an int (seconds) or a str",
    object: "use typing.Any",
    bytearray: "use bytes",
    complex: "use float",
}


class Declarations(Protocol):
    """What the resolver needs from the module being extracted."""

    def data_ref(self, cls: type, pos: Position, type_args: tuple[ast.Type, ...]) -> ast.Ref | None: ...
    def enum_ref(self, cls: type, pos: Position) -> ast.Ref | None: ...
    def alias_ref(self, alias: AliasName, pos: Position) -> ast.Ref | None: ...
    def newtype_ref(self, newtype: typing.NewType, pos: Position) -> ast.Ref | None: ...
    def error(self, message: str, pos: Position) -> None: ...


@dataclass(frozen=True)
class Where:
    """Constraints of the type position: may it be optional, may it be `Unit`."""

    top: bool = True
    unit: bool = False

    def inner(self, *, unit: bool = False) -> Where:
        return Where(top=False, unit=unit)


def stub_origin(python_module: str) -> tuple[str, str] | None:
    """(module, realm) for a generated stub module `ftl_modules.<module>` / `ftl_modules.<realm>.<module>`."""
    parts = python_module.split(".")
    if parts[0] != STUBS_PACKAGE or len(parts) not in (2, 3):
        return None
    return (parts[-1], parts[1] if len(parts) == 3 else "")


def type_name(value: object) -> str:
    if isinstance(value, type):
        return (
            value.__qualname__
            if value.__module__ == "builtins"
            else f"{value.__module__}.{value.__qualname__}"
        )
    return repr(value)


class TypeResolver:
    def __init__(self, declarations: Declarations) -> None:
        self.decls = declarations

    def resolve(self, node: TypeNode, scope: Scope, where: Where = Where()) -> ast.Type | None:
        """The schema type of an annotation, or None after reporting why it has none."""
        try:
            if isinstance(node, SourceNode):
                node = unquote(node)
            members = union_members(node, scope)
            if members is not None:
                return self._union(members, node.pos, scope, where)
            if isinstance(node, SourceNode):
                alias = alias_named_by(node.expr, scope)
                if alias is not None:
                    return self.decls.alias_ref(alias, node.pos)
            head, args = split_subscript(node, scope)
        except Unresolvable as exc:
            self.decls.error(f"cannot resolve this type: {exc}", node.pos)
            return None
        if args is None:
            return self._plain(head, node.pos, scope, where)
        return self._subscripted(head, args, node.pos, scope, where)

    def _union(self, members: list[TypeNode], pos: Position, scope: Scope, where: Where) -> ast.Type | None:
        present = [m for m in members if not _is_none(m, scope)]
        if len(present) == len(members) or len(present) != 1:
            self.decls.error(
                "a union of several types is not supported: declare a sum type "
                "(a base class marked @ftl.enum with @dataclass subclasses)",
                pos,
            )
            return None
        if not where.top:
            self.decls.error(
                "optional types are only allowed at the outermost level of a type (`list[int] | None`, "
                "not `list[int | None]`): drop the `| None` or wrap the value in a dataclass",
                pos,
            )
            return None
        inner = self.resolve(present[0], scope, Where(top=False, unit=False))
        return None if inner is None else ast.Optional(inner, pos=pos)

    def _plain(self, value: object, pos: Position, scope: Scope, where: Where) -> ast.Type | None:
        if value is None or value is type(None):
            if where.unit:
                return ast.Unit(pos=pos)
            self.decls.error(
                "None is only a type for a verb's request or response, or a type argument: "
                "for an optional value write `T | None`",
                pos,
            )
            return None
        primitive = _PRIMITIVES.get(value) if _hashable(value) else None
        if primitive is not None:
            return primitive(pos=pos)
        if isinstance(value, typing.TypeVar):
            if value.__name__ in scope.type_params:
                return ast.Ref("", value.__name__, pos=pos)
            self.decls.error(
                f"type variable {value.__name__} is not a parameter of this declaration: "
                f"make the dataclass generic (`class Name(Generic[{value.__name__}])`)",
                pos,
            )
            return None
        if isinstance(value, typing.NewType):
            return self.decls.newtype_ref(value, pos)
        if isinstance(value, type):
            return self._class(value, pos, (), has_args=False)
        self.decls.error(f"unsupported type {type_name(value)}: use {_SUPPORTED}", pos)
        return None

    def _class(
        self, cls: type, pos: Position, type_args: tuple[ast.Type, ...], *, has_args: bool
    ) -> ast.Type | None:
        builtin_name = BUILTIN_TYPES.get(cls)
        parameters = getattr(cls, "__parameters__", ())
        if parameters and not has_args:
            names = ", ".join(p.__name__ for p in parameters)
            self.decls.error(
                f"{cls.__name__} is generic: give its type arguments, `{cls.__name__}[{names}]`", pos
            )
            return None
        if has_args and len(type_args) != len(parameters):
            self.decls.error(
                f"{cls.__name__} takes {len(parameters)} type argument(s), not {len(type_args)}", pos
            )
            return None
        if builtin_name is not None:
            return ast.Ref("builtin", builtin_name, type_args, pos=pos)
        origin = stub_origin(cls.__module__)
        if origin is not None:
            module, realm = origin
            return ast.Ref(module, cls.__name__, type_args, realm=realm, pos=pos)
        if cls in _INSTEAD:
            self.decls.error(f"unsupported type {type_name(cls)}: {_INSTEAD[cls]}", pos)
            return None
        if cls in _LISTS or cls in _DICTS:
            shape = "list[T]" if cls in _LISTS else "dict[str, T]"
            self.decls.error(f"give the element type: write {shape}", pos)
            return None
        if issubclass(cls, enum.Enum) or is_sum_type_base(cls):
            return self.decls.enum_ref(cls, pos)
        if dataclasses.is_dataclass(cls):
            return self.decls.data_ref(cls, pos, type_args)
        self.decls.error(
            f"unsupported type {type_name(cls)}: FTL data types are @dataclass classes; use {_SUPPORTED}", pos
        )
        return None

    def _subscripted(
        self, head: object, args: list[TypeNode], pos: Position, scope: Scope, where: Where
    ) -> ast.Type | None:
        if head is typing.Annotated:
            return self._annotated(args, pos, scope, where)
        if head in _LISTS:
            element = self._only_argument(head, args, pos)
            item = self.resolve(element, scope, where.inner()) if element is not None else None
            return ast.Array(item, pos=pos) if item is not None else None
        if head in _DICTS:
            return self._map(args, pos, scope, where)
        if isinstance(head, type) and bool(getattr(head, "__parameters__", ())):
            resolved = [self.resolve(arg, scope, where.inner(unit=True)) for arg in args]
            if any(r is None for r in resolved):
                return None
            type_args = tuple(r for r in resolved if r is not None)
            return self._class(head, pos, type_args, has_args=True)
        if head in _INSTEAD:
            self.decls.error(f"unsupported type {type_name(head)}: {_INSTEAD[head]}", pos)
        else:
            self.decls.error(f"unsupported type {type_name(head)}[...]: use {_SUPPORTED}", pos)
        return None

    def _annotated(self, args: list[TypeNode], pos: Position, scope: Scope, where: Where) -> ast.Type | None:
        if isinstance(args[0], ObjectNode) or len(args) == 1:
            return self.resolve(args[0], scope, where)
        for extra in args[1:]:
            if isinstance(extra, SourceNode) and _names_marker(extra, scope):
                self.decls.error(
                    "ftl.Config and ftl.Secret only inject verb parameters: declare a verb parameter "
                    '`name: Annotated[T, ftl.Config("name")]`',
                    extra.pos,
                )
                return None
        return self.resolve(args[0], scope, where)

    def _map(self, args: list[TypeNode], pos: Position, scope: Scope, where: Where) -> ast.Type | None:
        if len(args) != 2:
            self.decls.error("write dict[str, V]", pos)
            return None
        key = self.resolve(args[0], scope, where.inner())
        if key is not None and not isinstance(key, ast.String):
            self.decls.error("map keys must be strings: write dict[str, V]", args[0].pos)
            return None
        value = self.resolve(args[1], scope, where.inner())
        if key is None or value is None:
            return None
        return ast.Map(key, value, pos=pos)

    def _only_argument(self, head: object, args: list[TypeNode], pos: Position) -> TypeNode | None:
        if len(args) == 1:
            return args[0]
        self.decls.error(f"{type_name(head)} takes one type argument: write list[T]", pos)
        return None


def _is_none(node: TypeNode, scope: Scope) -> bool:
    if isinstance(node, ObjectNode):
        return node.value is None or node.value is type(None)
    expr = unquote(node).expr
    return isinstance(expr, pyast.Constant) and expr.value is None


def _names_marker(node: SourceNode, scope: Scope) -> bool:
    expr = node.expr
    if not isinstance(expr, pyast.Call):
        return False
    try:
        target = evaluate(expr.func, scope)
    except Unresolvable:
        return False
    return target in (Config, Secret)


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
