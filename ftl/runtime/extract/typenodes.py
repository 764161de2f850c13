"""Type expressions as extraction sees them: a piece of source (`ast.expr`) or a runtime object.

Source is preferred because it keeps what evaluation loses (which name a type alias had, where
each part of an annotation is); runtime objects are the fallback when no source is at hand (a topic
created in a loop, a class built by `make_dataclass`).
"""

from __future__ import annotations

import ast
import builtins
import sys
import types
import typing
from dataclasses import dataclass

from ftl.errors import Position
from ftl.runtime.extract.source import SourceFile, source_of_module


class Unresolvable(Exception):
    """A name in an annotation that does not evaluate."""


@dataclass(frozen=True)
class Scope:
    """Where an annotation is written: the Python module it lives in and the type parameters in reach."""

    module: types.ModuleType
    source: SourceFile | None
    type_params: tuple[str, ...] = ()

    @property
    def namespace(self) -> dict[str, object]:
        return vars(self.module)

    def with_params(self, type_params: tuple[str, ...]) -> Scope:
        return Scope(self.module, self.source, type_params)


@dataclass(frozen=True)
class SourceNode:
    expr: ast.expr
    source: SourceFile
    offset: tuple[int, int] | None = None  # (line, column) of a string annotation's opening quote

    @property
    def pos(self) -> Position:
        if self.offset is None:
            return self.source.pos(self.expr)
        line, column = self.offset
        return Position(self.source.path, line, column + 1 + self.expr.col_offset)

    def child(self, expr: ast.expr) -> SourceNode:
        return SourceNode(expr, self.source, self.offset)


@dataclass(frozen=True)
class ObjectNode:
    value: object
    at: Position

    @property
    def pos(self) -> Position:
        return self.at


TypeNode = SourceNode | ObjectNode

AliasName = tuple[str, str]  # (python module, name) of a `Name: TypeAlias = ...`


def unquote(node: SourceNode) -> SourceNode:
    """A string annotation (`"Item"`, `"list[Item]"`) as the expression it contains."""
    expr = node.expr
    if not (isinstance(expr, ast.Constant) and isinstance(expr.value, str)):
        return node
    try:
        inner = ast.parse(expr.value.strip(), mode="eval").body
    except SyntaxError as exc:
        raise Unresolvable(f"the string annotation {expr.value!r} is not a type expression") from exc
    outer = node.pos
    return SourceNode(inner, node.source, (outer.line, outer.column))


def evaluate(expr: ast.expr, scope: Scope) -> object:
    """The value of a dotted name (`Item`, `dt.datetime`, `time_mod.TimeRequest`) in `scope`."""
    if isinstance(expr, ast.Name):
        if expr.id in scope.namespace:
            return scope.namespace[expr.id]
        if hasattr(builtins, expr.id):
            return getattr(builtins, expr.id)
        raise Unresolvable(f"name {expr.id!r} is not defined")
    if isinstance(expr, ast.Attribute):
        container = evaluate(expr.value, scope)
        try:
            return getattr(container, expr.attr)
        except AttributeError:
            raise Unresolvable(f"{ast.unparse(expr.value)} has no attribute {expr.attr!r}") from None
    if isinstance(expr, ast.Constant) and expr.value is None:
        return None
    raise Unresolvable(f"{ast.unparse(expr)} is not a type")


def evaluate_object(value: object, scope: Scope) -> object:
    """A runtime type with forward references (`"Item"`, `ForwardRef("Item")`) resolved."""
    if isinstance(value, typing.ForwardRef):
        value = value.__forward_arg__
    if isinstance(value, str):
        try:
            return eval(value, dict(scope.namespace))
        except Exception as exc:
            raise Unresolvable(f"the annotation {value!r} does not evaluate: {exc}") from exc
    return value


def alias_named_by(expr: ast.expr, scope: Scope) -> AliasName | None:
    """The type alias a dotted name refers to, if it names one (`Sku`, `models.Sku`)."""
    if isinstance(expr, ast.Name):
        python_module = scope.module.__name__
        if scope.source is not None and expr.id in scope.source.type_aliases():
            return (python_module, expr.id)
        if scope.source is not None:
            is_package = hasattr(scope.module, "__path__")
            imported = scope.source.imported_names(python_module, is_package).get(expr.id)
            if imported is not None and _declares_alias(*imported):
                return imported
        return None
    if isinstance(expr, ast.Attribute):
        try:
            container = evaluate(expr.value, scope)
        except Unresolvable:
            return None
        if isinstance(container, types.ModuleType) and _declares_alias(container.__name__, expr.attr):
            return (container.__name__, expr.attr)
    return None


def _declares_alias(python_module: str, name: str) -> bool:
    top = python_module.partition(".")[0]
    if top in sys.stdlib_module_names or top == "ftl":
        return False
    source = source_of_module(python_module)
    return source is not None and name in source.type_aliases()


def split_subscript(node: TypeNode, scope: Scope) -> tuple[object, list[TypeNode] | None]:
    """(head, arguments) of a type expression; arguments is None when it is not subscripted."""
    if isinstance(node, ObjectNode):
        value = evaluate_object(node.value, scope)
        origin = typing.get_origin(value)
        if origin is None:
            return value, None
        if origin is typing.Annotated:
            return typing.Annotated, [ObjectNode(typing.get_args(value)[0], node.at)]
        return origin, [ObjectNode(arg, node.at) for arg in typing.get_args(value)]
    expr = node.expr
    if isinstance(expr, ast.Subscript):
        head = evaluate(expr.value, scope)
        items = expr.slice.elts if isinstance(expr.slice, ast.Tuple) else [expr.slice]
        return head, [node.child(item) for item in items]
    return evaluate(expr, scope), None


def union_members(node: TypeNode, scope: Scope) -> list[TypeNode] | None:
    """The members of `A | B`, `Union[A, B]` or `Optional[A]` (with `None`), else None."""
    if isinstance(node, ObjectNode):
        value = evaluate_object(node.value, scope)
        if typing.get_origin(value) in (typing.Union, types.UnionType):
            return [ObjectNode(arg, node.at) for arg in typing.get_args(value)]
        return None
    expr = node.expr
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        return _flatten(node, scope, expr.left) + _flatten(node, scope, expr.right)
    if isinstance(expr, ast.Subscript):
        try:
            head = evaluate(expr.value, scope)
        except Unresolvable:
            return None
        items = expr.slice.elts if isinstance(expr.slice, ast.Tuple) else [expr.slice]
        if head is typing.Union:
            return [node.child(item) for item in items]
        if head is typing.Optional:
            none = ast.Constant(value=None, lineno=expr.lineno, col_offset=expr.col_offset)
            return [node.child(items[0]), node.child(none)]
    return None


def _flatten(parent: SourceNode, scope: Scope, expr: ast.expr) -> list[TypeNode]:
    child = unquote(parent.child(expr))
    return union_members(child, scope) or [child]
