"""The type declarations of one module (data, enums, type aliases), found by following references.

A declaration enters the schema when something the schema already holds refers to it (a verb's
signature, a field, a topic's event), so helper classes that no verb uses stay out of it. Bodies
are extracted from a queue, which makes recursive and mutually recursive types work.
"""

from __future__ import annotations

import ast as pyast
import dataclasses
import enum
import inspect
import itertools
import sys
import typing
from collections.abc import Callable
from types import ModuleType

from ftl._sdk.decorators import is_sum_type_base
from ftl.errors import Diagnostic, Position
from ftl.names import PRIMITIVE_NAMES, lower_camel, wire_name_problem
from ftl.runtime.extract.resolver import TypeResolver, Where, stub_origin
from ftl.runtime.extract.source import place, source_of, source_of_module
from ftl.runtime.extract.typenodes import (
    AliasName,
    ObjectNode,
    Scope,
    SourceNode,
    TypeNode,
    Unresolvable,
    union_members,
    unquote,
)
from ftl.schema import ast
from ftl.schema.printer import print_type


def doc_lines(node: pyast.AST | None) -> tuple[str, ...]:
    """A docstring as doc-comment lines."""
    if not isinstance(node, pyast.FunctionDef | pyast.AsyncFunctionDef | pyast.ClassDef | pyast.Module):
        return ()
    text = pyast.get_docstring(node, clean=True)
    return tuple(text.splitlines()) if text else ()


def attribute_docs(body: list[pyast.stmt]) -> dict[str, tuple[str, ...]]:
    """Attribute docstrings: a string literal right after `name: T` or `NAME = value` documents it."""
    docs: dict[str, tuple[str, ...]] = {}
    for statement, following in itertools.pairwise(body):
        target = _assigned_name(statement)
        if (
            target
            and isinstance(following, pyast.Expr)
            and isinstance(following.value, pyast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[target] = tuple(inspect.cleandoc(following.value.value).splitlines())
    return docs


def _assigned_name(statement: pyast.stmt) -> str | None:
    if isinstance(statement, pyast.AnnAssign) and isinstance(statement.target, pyast.Name):
        return statement.target.id
    if isinstance(statement, pyast.Assign) and len(statement.targets) == 1:
        target = statement.targets[0]
        return target.id if isinstance(target, pyast.Name) else None
    return None


def class_member(classdef: pyast.ClassDef | None, name: str) -> pyast.AnnAssign | pyast.Assign | None:
    if classdef is None:
        return None
    for statement in classdef.body:
        if _assigned_name(statement) == name:
            assert isinstance(statement, pyast.AnnAssign | pyast.Assign)
            return statement
    return None


class ModuleDecls:
    """Declarations of module `name`, whose code is the Python package `package`."""

    def __init__(self, name: str, package: str, diagnostics: list[Diagnostic]) -> None:
        self.name = name
        self.package = package
        self.diagnostics = diagnostics
        self.resolver = TypeResolver(self)
        self.types: dict[str, ast.Decl] = {}
        self._names: dict[object, str] = {}
        self._places: dict[str, Position] = {}
        self._pending: list[Callable[[], ast.Decl | None]] = []

    # -- the resolver's callbacks ---------------------------------------------------------------

    def error(self, message: str, pos: Position) -> None:
        self.diagnostics.append(Diagnostic(message, pos))

    def is_local(self, python_module: str) -> bool:
        return python_module == self.package or python_module.startswith(self.package + ".")

    def data_ref(self, cls: type, pos: Position, type_args: tuple[ast.Type, ...]) -> ast.Ref | None:
        if not self._local_or_error(cls.__name__, cls.__module__, pos):
            return None
        self._declare(cls.__name__, cls, class_pos(cls), lambda: self._data(cls))
        return ast.Ref(self.name, cls.__name__, type_args, pos=pos)

    def enum_ref(self, cls: type, pos: Position) -> ast.Ref | None:
        if not self._local_or_error(cls.__name__, cls.__module__, pos):
            return None
        if is_sum_type_base(cls):
            self._declare(cls.__name__, cls, class_pos(cls), lambda: self._sum_type(cls))
        else:
            self._declare(cls.__name__, cls, class_pos(cls), lambda: self._value_enum(cls))
        return ast.Ref(self.name, cls.__name__, pos=pos)

    def alias_ref(self, alias: AliasName, pos: Position) -> ast.Ref | None:
        python_module, name = alias
        origin = stub_origin(python_module)
        if origin is not None:
            return ast.Ref(origin[0], name, realm=origin[1], pos=pos)
        source = source_of_module(python_module)
        module = sys.modules.get(python_module)
        statement = source.type_aliases().get(name) if source else None
        if source is None or module is None or statement is None or statement.value is None:
            self.error(f"cannot find the type alias {name} in {python_module}", pos)
            return None
        if not self._local_or_error(name, python_module, pos):
            return None
        value = SourceNode(statement.value, source)
        scope = Scope(module, source)
        self._declare(
            name, alias, source.pos(statement.target), lambda: self._alias(name, value, scope, statement)
        )
        return ast.Ref(self.name, name, pos=pos)

    def newtype_ref(self, newtype: typing.NewType, pos: Position) -> ast.Ref | None:
        name = newtype.__name__
        python_module = str(newtype.__module__)
        origin = stub_origin(python_module)
        if origin is not None:
            return ast.Ref(origin[0], name, realm=origin[1], pos=pos)
        if not self._local_or_error(name, python_module, pos):
            return None
        source = source_of_module(python_module)
        statement = source.assignment_to(name) if source else None
        where = source.pos(statement) if source and statement else pos
        module = sys.modules[python_module]

        def extract() -> ast.Decl | None:
            node: TypeNode = ObjectNode(newtype.__supertype__, where)
            value = statement.value if statement is not None else None
            if source and isinstance(value, pyast.Call) and len(value.args) == 2:
                node = SourceNode(value.args[1], source)
            target = self.resolver.resolve(node, Scope(module, source), Where())
            return ast.TypeAlias(name, target, pos=where) if target is not None else None

        self._declare(name, newtype, where, extract)
        return ast.Ref(self.name, name, pos=pos)

    # -- bookkeeping ----------------------------------------------------------------------------

    def _local_or_error(self, name: str, python_module: str, pos: Position) -> bool:
        if self.is_local(python_module):
            return True
        self.error(
            f"{name} is defined in {python_module}, outside the module's package {self.package!r}: "
            "define FTL data types in the package, or use another module's types from "
            "ftl_modules.<module>",
            pos,
        )
        return False

    def _declare(
        self, name: str, key: object, where: Position, extract: Callable[[], ast.Decl | None]
    ) -> None:
        if key in self._names:
            return
        other = self._places.get(name)
        if other is not None:
            elsewhere = place(other, where)
            self.error(f"two declarations are named {name!r} (the other at {elsewhere}): rename one", where)
            return
        if name in PRIMITIVE_NAMES:
            self.error(f"{name!r} is a reserved name in the schema: rename it", where)
            return
        self._names[key] = name
        self._places[name] = where
        self._pending.append(extract)

    def finish(self) -> None:
        """Extract every declaration referenced so far (and whatever those refer to)."""
        while self._pending:
            decl = self._pending.pop(0)()
            if decl is not None:
                self.types[decl.name] = decl

    # -- bodies -------------------------------------------------------------------------------

    def _data(self, cls: type) -> ast.Decl | None:
        source = source_of(cls)
        classdef = source.find_class(cls) if source else None
        where = class_pos(cls)
        params: list[str] = []
        for parameter in getattr(cls, "__parameters__", ()):
            if not isinstance(parameter, typing.TypeVar):
                self.error(f"{cls.__name__}: only TypeVar type parameters are supported", where)
                return None
            params.append(parameter.__name__)
        fields: list[ast.Field] = []
        wire_names: dict[str, str] = {}
        for pseudo_field in _init_vars(cls):
            self.error(
                f"field {pseudo_field.name} of {cls.__name__} is an InitVar, which the wire cannot carry: "
                "make it an ordinary field, or compute what it sets up in the verb",
                self._field_pos(cls, pseudo_field.name, where)[0],
            )
        for data_field in dataclasses.fields(cls):
            field = self._field(cls, data_field, tuple(params), where)
            if field is None:
                continue
            if field.name in wire_names:
                self.error(
                    f"fields {wire_names[field.name]!r} and {data_field.name!r} both map to {field.name!r}: "
                    "rename one",
                    field.pos,
                )
                continue
            wire_names[field.name] = data_field.name
            fields.append(field)
        return ast.Data(
            cls.__name__,
            tuple(fields),
            type_params=tuple(ast.TypeParameter(p, pos=where) for p in params),
            comments=doc_lines(classdef),
            pos=where,
        )

    def _field(
        self, cls: type, data_field: dataclasses.Field[typing.Any], params: tuple[str, ...], where: Position
    ) -> ast.Field | None:
        pos, owner, statement = self._field_pos(cls, data_field.name, where)
        source = source_of(owner)
        classdef = source.find_class(owner) if source else None
        problem = wire_name_problem(data_field.name)
        if problem:
            self.error(f"field {problem}", pos)
            return None
        if not data_field.init:
            self.error(
                f"field {data_field.name} of {cls.__name__} is not set by the constructor (init=False), "
                "so no caller could send it: FTL data is exactly its constructor's fields. Compute it "
                "with a @property, or keep it in a separate type that is not FTL data",
                pos,
            )
            return None
        scope = Scope(sys.modules[owner.__module__], source, params)
        node: TypeNode
        if source and isinstance(statement, pyast.AnnAssign):
            node = SourceNode(statement.annotation, source)
        else:
            node = ObjectNode(data_field.type, pos)
        field_type = self.resolver.resolve(node, scope, Where())
        if field_type is None:
            return None
        default = _default_problem(cls, data_field, field_type, statement)
        if default is not None:
            self.error(default, pos)
            return None
        comments = attribute_docs(classdef.body).get(data_field.name, ()) if classdef else ()
        return ast.Field(lower_camel(data_field.name), field_type, comments=comments, pos=pos)

    def _field_pos(
        self, cls: type, name: str, where: Position
    ) -> tuple[Position, type, pyast.AnnAssign | pyast.Assign | None]:
        """Where field `name` of `cls` is declared (in whichever class of its MRO declares it)."""
        owner = next((c for c in cls.__mro__ if name in inspect.get_annotations(c)), cls)
        source = source_of(owner)
        statement = class_member(source.find_class(owner) if source else None, name)
        return (source.pos(statement) if source and statement else where), owner, statement

    def _value_enum(self, cls: type) -> ast.Decl | None:
        where = class_pos(cls)
        if issubclass(cls, enum.Flag) or not (issubclass(cls, str) or issubclass(cls, int)):
            self.error(
                f"enum {cls.__name__}: FTL value enums are enum.StrEnum or enum.IntEnum "
                "(for a choice between data types, use a base class marked @ftl.enum)",
                where,
            )
            return None
        base: ast.Type = ast.String(pos=where) if issubclass(cls, str) else ast.Int(pos=where)
        source = source_of(cls)
        classdef = source.find_class(cls) if source else None
        docs = attribute_docs(classdef.body) if classdef else {}
        variants: list[ast.EnumVariant] = []
        members: dict[str, enum.Enum] = dict(typing.cast(type[enum.Enum], cls).__members__)
        for name, member in members.items():
            statement = class_member(classdef, name)
            pos = source.pos(statement) if source and statement else where
            if member.name != name:
                self.error(
                    f"enum member {name} is an alias of {member.name}: give every member its own value", pos
                )
                continue
            value: ast.Value = (
                ast.StringValue(str(member.value), pos=pos)
                if isinstance(base, ast.String)
                else ast.IntValue(int(member.value), pos=pos)
            )
            variants.append(ast.EnumVariant(name, value, comments=docs.get(name, ()), pos=pos))
        return ast.Enum(cls.__name__, tuple(variants), type=base, comments=doc_lines(classdef), pos=where)

    def _sum_type(self, cls: type) -> ast.Decl | None:
        where = class_pos(cls)
        source = source_of(cls)
        variants: list[ast.EnumVariant] = []
        variant: type
        for variant in cls.__subclasses__():
            pos = class_pos(variant)
            if not dataclasses.is_dataclass(variant):
                self.error(
                    f"variant {variant.__name__} of the sum type {cls.__name__} must be a @dataclass", pos
                )
                continue
            ref = self.data_ref(variant, pos, ())
            if ref is not None:
                variants.append(ast.EnumVariant(variant.__name__, ast.TypeValue(ref, pos=pos), pos=pos))
        if not variants:
            self.error(f"the sum type {cls.__name__} has no variants: add @dataclass subclasses of it", where)
            return None
        classdef = source.find_class(cls) if source else None
        return ast.Enum(cls.__name__, tuple(variants), comments=doc_lines(classdef), pos=where)

    def _alias(
        self, name: str, value: SourceNode, scope: Scope, statement: pyast.AnnAssign
    ) -> ast.Decl | None:
        where = value.source.pos(statement.target)
        try:
            members = union_members(unquote(value), scope)
        except Unresolvable as exc:
            self.error(f"cannot resolve this type: {exc}", value.pos)
            return None
        if members is not None and len(members) > 1 and not any(_is_none_node(m) for m in members):
            return self._union_sum_type(name, members, scope, where)
        target = self.resolver.resolve(value, scope, Where())
        return ast.TypeAlias(name, target, pos=where) if target is not None else None

    def _union_sum_type(
        self, name: str, members: list[TypeNode], scope: Scope, where: Position
    ) -> ast.Decl | None:
        variants: list[ast.EnumVariant] = []
        for member in members:
            ref = self.resolver.resolve(member, scope, Where(top=False))
            if ref is None:
                continue
            if not (isinstance(ref, ast.Ref) and ref.module == self.name and not ref.type_args):
                self.error(
                    f"members of the sum type {name} must be dataclasses of this module: wrap this one in a "
                    "@dataclass",
                    member.pos,
                )
                continue
            variants.append(ast.EnumVariant(ref.name, ast.TypeValue(ref, pos=member.pos), pos=member.pos))
        return ast.Enum(name, tuple(variants), pos=where) if variants else None


def _init_vars(cls: type) -> list[dataclasses.Field[typing.Any]]:
    """The `InitVar` pseudo-fields of a dataclass, which `dataclasses.fields` leaves out."""
    declared: dict[str, dataclasses.Field[typing.Any]] = getattr(cls, "__dataclass_fields__", {})
    init_var = getattr(dataclasses, "_FIELD_INITVAR", None)  # the marker dataclasses itself uses
    if init_var is None:
        return []
    return [f for f in declared.values() if getattr(f, "_field_type", None) is init_var]


def _default_problem(
    cls: type,
    data_field: dataclasses.Field[typing.Any],
    field_type: ast.Type,
    statement: pyast.AnnAssign | pyast.Assign | None,
) -> str | None:
    """Why the field's default cannot stand, or None: only an optional field may have one, `None`
    (absent on the wire means None), because every sender sends every other field."""
    if data_field.default_factory is not dataclasses.MISSING:
        factory = data_field.default_factory
        shown = f"field(default_factory={getattr(factory, '__qualname__', None) or repr(factory)})"
    elif data_field.default is not dataclasses.MISSING:
        if data_field.default is None and isinstance(field_type, ast.Optional):
            return None
        shown = repr(data_field.default)
    else:
        return None
    annotation = print_type(field_type)
    if isinstance(statement, pyast.AnnAssign):
        written = statement.annotation
        quoted = written.value if isinstance(written, pyast.Constant) else None
        annotation = quoted if isinstance(quoted, str) else pyast.unparse(written)
    optional = annotation if isinstance(field_type, ast.Optional) else f"{annotation} | None"
    return (
        f"field {data_field.name} of {cls.__name__} has a default ({shown}), but FTL fields have no "
        "defaults: every caller sends them. Make it optional "
        f"(`{data_field.name}: {optional} = None`) and apply the default in the verb"
    )


def _is_none_node(node: TypeNode) -> bool:
    if isinstance(node, ObjectNode):
        return node.value is None or node.value is type(None)
    return isinstance(node.expr, pyast.Constant) and node.expr.value is None


def class_pos(cls: type) -> Position:
    source = source_of(cls)
    classdef = source.find_class(cls) if source else None
    if source is not None and classdef is not None:
        return source.name_pos(classdef)
    module: ModuleType | None = sys.modules.get(cls.__module__)
    return Position(str(getattr(module, "__file__", None) or cls.__module__), 1, 1)


class Settings:
    """The config and secret declarations that verbs inject, each declared once with one type."""

    def __init__(self, module: str, diagnostics: list[Diagnostic]) -> None:
        self.module = module
        self.diagnostics = diagnostics
        self.configs: dict[str, ast.Config] = {}
        self.secrets: dict[str, ast.Secret] = {}

    def declare(
        self, kind: typing.Literal["config", "secret"], name: str, type_: ast.Type, pos: Position
    ) -> ast.Ref:
        existing: ast.Config | ast.Secret | None = (self.configs if kind == "config" else self.secrets).get(
            name
        )
        if existing is None:
            if kind == "config":
                self.configs[name] = ast.Config(name, type_, pos=pos)
            else:
                self.secrets[name] = ast.Secret(name, type_, pos=pos)
        elif existing.type != type_:
            self.diagnostics.append(
                Diagnostic(
                    f"{kind} {name!r} has type {print_type(type_)} here but {print_type(existing.type)} "
                    f"at {place(existing.pos, pos)}: use one type",
                    pos,
                )
            )
        return ast.Ref(self.module, name, pos=pos)
