"""What HTTP binding needs to know about a schema type: its shape, once resolved.

Binding a path parameter or a query value depends only on whether the target is a string, a
number, a record, a list and so on, after type aliases and optionals are seen through. This module
answers that once per route, when the route table is built, so no request walks the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ftl.schema import ast


class Shape(StrEnum):
    UNIT = "Unit"
    STRING = "String"
    INT = "Int"
    FLOAT = "Float"
    BOOL = "Bool"
    BYTES = "Bytes"
    TIME = "Time"
    ANY = "Any"
    ARRAY = "Array"
    MAP = "Map"
    DATA = "Data"
    VALUE_ENUM = "ValueEnum"
    TYPE_ENUM = "TypeEnum"
    UNKNOWN = "Unknown"


SCALARS = frozenset({Shape.STRING, Shape.INT, Shape.FLOAT, Shape.BOOL, Shape.TIME})
# Shapes whose HTTP text is JSON (request bodies parsed as JSON, response bodies written as JSON).
JSON_SHAPES = frozenset(
    {Shape.ANY, Shape.ARRAY, Shape.MAP, Shape.DATA, Shape.VALUE_ENUM, Shape.TYPE_ENUM, Shape.UNKNOWN}
)

_PRIMITIVES: dict[type, Shape] = {
    ast.Unit: Shape.UNIT,
    ast.String: Shape.STRING,
    ast.Int: Shape.INT,
    ast.Float: Shape.FLOAT,
    ast.Bool: Shape.BOOL,
    ast.Bytes: Shape.BYTES,
    ast.Time: Shape.TIME,
    ast.Any: Shape.ANY,
    ast.Array: Shape.ARRAY,
    ast.Map: Shape.MAP,
}


@dataclass(frozen=True, slots=True)
class Resolved:
    """A type seen through aliases and `?`. `type` is the resolved type itself; for a value enum,
    `scalar` is the shape of its values; for data, `fields` are its fields with type arguments applied."""

    shape: Shape
    type: ast.Type
    optional: bool = False
    scalar: Shape = Shape.UNKNOWN
    fields: tuple[ast.Field, ...] = ()


class TypeIndex:
    """Declarations of a schema by (realm, module, name); the internal realm is keyed ""."""

    def __init__(self, schema: ast.Schema) -> None:
        self.schema = schema
        self._decls: dict[tuple[str, str, str], ast.TypeDecl] = {}
        for realm in schema.realms:
            realm_key = realm.name if realm.external else ""
            for module in realm.modules:
                for decl in module.decls:
                    if isinstance(decl, ast.TypeDecl):
                        self._decls.setdefault((realm_key, module.name, decl.name), decl)

    def decl(self, ref: ast.Ref, module: str = "") -> ast.TypeDecl | None:
        return self.lookup(ref, module)[1]

    def lookup(self, ref: ast.Ref, module: str = "") -> tuple[str, ast.TypeDecl | None]:
        """The module `ref` points into and its declaration (a bare name: builtin first, like validation)."""
        if ref.module:
            return ref.module, self._decls.get((ref.realm, ref.module, ref.name))
        builtin = self._decls.get(("", "builtin", ref.name))
        if builtin is not None:
            return "builtin", builtin
        return module, self._decls.get((ref.realm, module, ref.name))

    def resolve(self, type_: ast.Type, module: str = "") -> Resolved:
        optional = False
        for _ in range(64):  # alias chains are finite in a valid schema; the bound guards a broken one
            if isinstance(type_, ast.Optional):
                optional, type_ = True, type_.type
                continue
            shape = _PRIMITIVES.get(type(type_))
            if shape is not None:
                return Resolved(shape, type_, optional)
            if not isinstance(type_, ast.Ref):
                break
            module, decl = self.lookup(type_, module)
            if isinstance(decl, ast.TypeAlias):
                type_ = decl.type
                continue
            if isinstance(decl, ast.Data):
                qualified = ast.Ref(module, type_.name, type_.type_args, type_.realm, pos=type_.pos)
                return Resolved(Shape.DATA, qualified, optional, fields=_bound_fields(decl, type_))
            if isinstance(decl, ast.Enum):
                if decl.type is None:
                    return Resolved(Shape.TYPE_ENUM, type_, optional)
                scalar = self.resolve(decl.type, module).shape
                return Resolved(Shape.VALUE_ENUM, type_, optional, scalar=scalar)
            break
        return Resolved(Shape.UNKNOWN, type_, optional)


def _bound_fields(data: ast.Data, ref: ast.Ref) -> tuple[ast.Field, ...]:
    if not data.type_params:
        return data.fields
    bindings = {p.name: arg for p, arg in zip(data.type_params, ref.type_args, strict=False)}
    return tuple(ast.replace(f, type=substitute(f.type, bindings)) for f in data.fields)


def substitute(type_: ast.Type, bindings: dict[str, ast.Type]) -> ast.Type:
    """`type_` with bare references to type parameters replaced by their arguments."""
    match type_:
        case ast.Ref(module="", name=name, type_args=()) if name in bindings:
            return bindings[name]
        case ast.Ref(type_args=args) if args:
            bound_args = tuple(substitute(a, bindings) for a in args)
            return ast.Ref(type_.module, type_.name, bound_args, type_.realm, pos=type_.pos)
        case ast.Array(element=element):
            return ast.Array(substitute(element, bindings))
        case ast.Map(key=key, value=value):
            return ast.Map(substitute(key, bindings), substitute(value, bindings))
        case ast.Optional(type=inner):
            return ast.Optional(substitute(inner, bindings))
    return type_


def is_lenient(verb: ast.Verb) -> bool:
    return any(isinstance(m, ast.MetadataEncoding) and m.lenient for m in verb.metadata)


def ingress_of(verb: ast.Verb) -> ast.MetadataIngress | None:
    return next((m for m in verb.metadata if isinstance(m, ast.MetadataIngress)), None)
