"""The schema AST: frozen, typed nodes that remember where they came from.

Every node has a keyword-only `pos` that equality ignores, so `parse(print(x)) == x` holds even
though positions differ. Nodes are built by the parser (`ftl.schema.parser`) and by extraction from
Python code (`ftl.runtime`); they are printed by `ftl.schema.printer` and checked by
`ftl.schema.validate`. Walking is generic: `children(node)` yields the direct child nodes.
"""

from __future__ import annotations

import dataclasses
import typing as t
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from ftl.errors import Position

NO_POS = Position()


def _pos() -> t.Any:
    return field(default=NO_POS, compare=False, kw_only=True, repr=False)


class Visibility(IntEnum):
    NONE = 0  # visible inside its module only
    MODULE = 1  # `export`: visible to every module of the realm
    REALM = 2  # `export realm`: also part of the realm's public schema


class AliasKind(StrEnum):
    UNSPECIFIED = "unspecified"
    JSON = "json"


class FromOffset(StrEnum):
    BEGINNING = "beginning"
    LATEST = "latest"


# ---------------------------------------------------------------------------------------------
# Types


@dataclass(frozen=True, slots=True)
class Int:
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Float:
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class String:
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Bytes:
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Bool:
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Time:
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Unit:
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Any:
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Array:
    element: Type
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Map:
    key: Type
    value: Type
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Optional:
    type: Type
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Ref:
    """`module.Name<Args>@realm`. `module` is "" for a bare name (a type parameter, or an
    unqualified reference before validation qualifies it); `realm` is "" for the current realm."""

    module: str
    name: str
    type_args: tuple[Type, ...] = ()
    realm: str = ""
    pos: Position = _pos()

    @property
    def key(self) -> tuple[str, str]:
        """(module, name): what the reference points at, ignoring type arguments."""
        return (self.module, self.name)


Primitive = Int | Float | String | Bytes | Bool | Time | Unit | Any
Type = Int | Float | String | Bytes | Bool | Time | Unit | Any | Array | Map | Optional | Ref

PRIMITIVE_TYPES: frozenset[type] = frozenset(t.get_args(Primitive))
PRIMITIVE_NAMES: dict[str, type[Primitive]] = {
    "Int": Int,
    "Float": Float,
    "String": String,
    "Bytes": Bytes,
    "Bool": Bool,
    "Time": Time,
    "Unit": Unit,
    "Any": Any,
}

# ---------------------------------------------------------------------------------------------
# Metadata: the `+kind ...` items on modules, declarations and fields.


@dataclass(frozen=True, slots=True)
class MetadataCalls:
    kind: t.ClassVar[str] = "calls"
    calls: tuple[Ref, ...]
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataConfig:
    kind: t.ClassVar[str] = "config"
    config: tuple[Ref, ...]
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataSecrets:
    kind: t.ClassVar[str] = "secrets"
    secrets: tuple[Ref, ...]
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataPublisher:
    kind: t.ClassVar[str] = "publish"
    topics: tuple[Ref, ...]
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataDatabases:
    """`+database uses a.db, ...`"""

    kind: t.ClassVar[str] = "database"
    uses: tuple[Ref, ...]
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class IngressPathLiteral:
    text: str
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class IngressPathParameter:
    name: str
    pos: Position = _pos()


IngressPathComponent = IngressPathLiteral | IngressPathParameter


@dataclass(frozen=True, slots=True)
class MetadataIngress:
    """`+ingress http GET /users/{id}`; `path` is the components after the leading `/`."""

    kind: t.ClassVar[str] = "ingress"
    method: str
    path: tuple[IngressPathComponent, ...]
    type: str = "http"
    pos: Position = _pos()

    @property
    def path_text(self) -> str:
        parts = (f"{{{c.name}}}" if isinstance(c, IngressPathParameter) else c.text for c in self.path)
        return "/" + "/".join(parts)

    @property
    def path_shape(self) -> str:
        """The path with every parameter as `{}`: two routes collide when method and shape match."""
        parts = ("{}" if isinstance(c, IngressPathParameter) else c.text for c in self.path)
        return "/" + "/".join(parts)


@dataclass(frozen=True, slots=True)
class MetadataCronJob:
    kind: t.ClassVar[str] = "cron"
    cron: str
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataAlias:
    kind: t.ClassVar[str] = "alias"
    alias_kind: AliasKind
    alias: str
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataRetry:
    """`+retry [COUNT] [MIN [MAX]] [catch REF]`; durations are kept as written (`1m30s`)."""

    kind: t.ClassVar[str] = "retry"
    count: int | None = None
    min_backoff: str = ""
    max_backoff: str = ""
    catch: Ref | None = None
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataSubscriber:
    kind: t.ClassVar[str] = "subscribe"
    topic: Ref
    from_offset: FromOffset
    dead_letter: bool = False
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataTypeMap:
    kind: t.ClassVar[str] = "typemap"
    runtime: str
    native_name: str
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataEncoding:
    kind: t.ClassVar[str] = "encoding"
    type: str = "json"
    lenient: bool = False
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataSQLMigration:
    """`+migration sha256:<64 hex>`; `digest` holds the full `sha256:...` text."""

    kind: t.ClassVar[str] = "migration"
    digest: str
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataArtefact:
    kind: t.ClassVar[str] = "artefact"
    path: str
    digest: str
    executable: bool = False
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataPartitions:
    kind: t.ClassVar[str] = "partitions"
    partitions: int
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataSQLQuery:
    kind: t.ClassVar[str] = "sql query"
    command: str
    query: str
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataSQLColumn:
    kind: t.ClassVar[str] = "sql column"
    table: str
    name: str
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataGenerated:
    kind: t.ClassVar[str] = "generated"
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataGit:
    kind: t.ClassVar[str] = "git"
    repository: str
    commit: str
    dirty: bool = False
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataFixture:
    kind: t.ClassVar[str] = "fixture"
    manual: bool = False
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataTransaction:
    kind: t.ClassVar[str] = "transaction"
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataEgress:
    kind: t.ClassVar[str] = "egress"
    targets: tuple[str, ...]
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class MetadataImage:
    kind: t.ClassVar[str] = "image"
    image: str
    digest: str
    pos: Position = _pos()


Metadata = (
    MetadataCalls
    | MetadataConfig
    | MetadataSecrets
    | MetadataPublisher
    | MetadataDatabases
    | MetadataIngress
    | MetadataCronJob
    | MetadataAlias
    | MetadataRetry
    | MetadataSubscriber
    | MetadataTypeMap
    | MetadataEncoding
    | MetadataSQLMigration
    | MetadataArtefact
    | MetadataPartitions
    | MetadataSQLQuery
    | MetadataSQLColumn
    | MetadataGenerated
    | MetadataGit
    | MetadataFixture
    | MetadataTransaction
    | MetadataEgress
    | MetadataImage
)

# ---------------------------------------------------------------------------------------------
# Enum variant values


@dataclass(frozen=True, slots=True)
class StringValue:
    value: str
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class IntValue:
    value: int
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class TypeValue:
    value: Type
    pos: Position = _pos()


Value = StringValue | IntValue | TypeValue

# ---------------------------------------------------------------------------------------------
# Declarations


@dataclass(frozen=True, slots=True)
class TypeParameter:
    name: str
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: Type
    comments: tuple[str, ...] = ()
    metadata: tuple[Metadata, ...] = ()
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Data:
    kind: t.ClassVar[str] = "data"
    name: str
    fields: tuple[Field, ...] = ()
    type_params: tuple[TypeParameter, ...] = ()
    visibility: Visibility = Visibility.NONE
    comments: tuple[str, ...] = ()
    metadata: tuple[Metadata, ...] = ()
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Verb:
    kind: t.ClassVar[str] = "verb"
    name: str
    request: Type
    response: Type
    visibility: Visibility = Visibility.NONE
    comments: tuple[str, ...] = ()
    metadata: tuple[Metadata, ...] = ()
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class EnumVariant:
    name: str
    value: Value
    comments: tuple[str, ...] = ()
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Enum:
    """A value enum when `type` is set (every variant `= value`), else a type (sum) enum."""

    kind: t.ClassVar[str] = "enum"
    name: str
    variants: tuple[EnumVariant, ...] = ()
    type: Type | None = None
    visibility: Visibility = Visibility.NONE
    comments: tuple[str, ...] = ()
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class TypeAlias:
    kind: t.ClassVar[str] = "typealias"
    name: str
    type: Type
    visibility: Visibility = Visibility.NONE
    comments: tuple[str, ...] = ()
    metadata: tuple[Metadata, ...] = ()
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Config:
    kind: t.ClassVar[str] = "config"
    name: str
    type: Type
    comments: tuple[str, ...] = ()
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Secret:
    kind: t.ClassVar[str] = "secret"
    name: str
    type: Type
    comments: tuple[str, ...] = ()
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Database:
    kind: t.ClassVar[str] = "database"
    name: str
    engine: str  # "postgres" | "mysql"
    comments: tuple[str, ...] = ()
    metadata: tuple[Metadata, ...] = ()
    pos: Position = _pos()


@dataclass(frozen=True, slots=True)
class Topic:
    kind: t.ClassVar[str] = "topic"
    name: str
    event: Type
    visibility: Visibility = Visibility.NONE
    comments: tuple[str, ...] = ()
    metadata: tuple[Metadata, ...] = ()
    pos: Position = _pos()


Decl = Data | Verb | Enum | TypeAlias | Config | Secret | Database | Topic
TypeDecl = Data | Enum | TypeAlias  # the declarations a type may name
TYPE_DECLS: tuple[type, ...] = t.get_args(TypeDecl)


def visibility_of(decl: Decl) -> Visibility:
    """Config, secret and database have no visibility: they are private to their module."""
    visibility: Visibility = getattr(decl, "visibility", Visibility.NONE)
    return visibility


# ---------------------------------------------------------------------------------------------
# Modules, realms, the schema


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    decls: tuple[Decl, ...] = ()
    builtin: bool = False
    comments: tuple[str, ...] = ()
    metadata: tuple[Metadata, ...] = ()
    pos: Position = _pos()

    def decl(self, name: str) -> Decl | None:
        return next((d for d in self.decls if d.name == name), None)

    def verbs(self) -> Iterator[Verb]:
        return (d for d in self.decls if isinstance(d, Verb))


@dataclass(frozen=True, slots=True)
class Realm:
    name: str
    modules: tuple[Module, ...] = ()
    external: bool = False
    pos: Position = _pos()

    def module(self, name: str) -> Module | None:
        return next((m for m in self.modules if m.name == name), None)


@dataclass(frozen=True, slots=True)
class Schema:
    realms: tuple[Realm, ...] = ()
    pos: Position = _pos()

    def realm(self, name: str) -> Realm | None:
        return next((r for r in self.realms if r.name == name), None)

    def internal_realms(self) -> Iterator[Realm]:
        return (r for r in self.realms if not r.external)


Node = (
    Schema
    | Realm
    | Module
    | Decl
    | Field
    | TypeParameter
    | EnumVariant
    | Value
    | Type
    | Metadata
    | IngressPathComponent
)

NODE_TYPES: tuple[type, ...] = t.get_args(Node)

# ---------------------------------------------------------------------------------------------
# Walking


_SCALAR_ANNOTATIONS = frozenset(
    {"str", "int", "bool", "int | None", "tuple[str, ...]", "Visibility", "AliasKind", "FromOffset"}
)


def _child_fields(cls: type) -> tuple[str, ...]:
    """Names of the fields of `cls` that may hold nodes (directly, optionally, or in a tuple)."""
    return tuple(
        f.name for f in dataclasses.fields(cls) if f.name != "pos" and str(f.type) not in _SCALAR_ANNOTATIONS
    )


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {cls: _child_fields(cls) for cls in NODE_TYPES}


def children(node: Node) -> Iterator[Node]:
    """The direct child nodes of `node`, in source order."""
    for name in _CHILD_FIELDS[type(node)]:
        value = getattr(node, name)
        if isinstance(value, tuple):
            yield from value
        elif value is not None:
            yield value


def walk(node: Node) -> Iterator[Node]:
    """`node` and every node below it, depth first, parents before children."""
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(children(current))))


class Visitor:
    """Dispatches `visit(node)` to `visit_<ClassName>(node)`, defaulting to visiting the children."""

    def visit(self, node: Node) -> None:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            self.generic_visit(node)
        else:
            method(node)

    def generic_visit(self, node: Node) -> None:
        for child in children(node):
            self.visit(child)


def replace(node: t.Any, **changes: t.Any) -> t.Any:
    """A copy of `node` with some fields changed (position kept unless given)."""
    return dataclasses.replace(node, **changes)


# ast: ready
