"""The AST as JSON: `to_json(node)` and `from_json(data)`, which round-trip exactly (positions too).

The shape follows upstream's protojson of `xyz.block.ftl.schema.v1` (§9.1), so `ftl schema get
--json` reads like upstream's: lowerCamel fields, every `oneof` (declaration, type, metadata, enum
value, ingress path component) as `{"kind": {...}}`, enums as `VISIBILITY_SCOPE_REALM`-style
names, fields equal to their default left out. Ours adds `pos` ({filename, line, column}, absent
when unknown) and `realm` on references; integers are JSON numbers.

A `Schema` encodes as that message itself (`{"realms": [...]}`); any other node is wrapped in an
object naming its kind (`{"module": {...}}`, `{"metadataCalls": {...}}`), so `from_json` knows
what it reads.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from typing import Any

from ftl.errors import FtlError, Position
from ftl.schema import ast

__all__ = ["from_json", "to_json"]

JsonObject = dict[str, Any]

# Our field names where upstream's proto names differ (everything else is lowerCamel).
_RENAMED = {
    (ast.Data, "type_params"): "typeParameters",
    (ast.Ref, "type_args"): "typeParameters",
    (ast.Database, "engine"): "type",
    (ast.MetadataAlias, "alias_kind"): "kind",
}
# The name of each kind inside a oneof (upstream's), and on its own at the top level (ours).
_ONEOF_NAMES = {
    ast.Data: "data",
    ast.Verb: "verb",
    ast.Enum: "enum",
    ast.TypeAlias: "typeAlias",
    ast.Config: "config",
    ast.Secret: "secret",
    ast.Database: "database",
    ast.Topic: "topic",
    ast.MetadataCalls: "calls",
    ast.MetadataConfig: "config",
    ast.MetadataSecrets: "secrets",
    ast.MetadataPublisher: "publisher",
    ast.MetadataDatabases: "databases",
    ast.MetadataIngress: "ingress",
    ast.MetadataCronJob: "cronJob",
    ast.MetadataAlias: "alias",
    ast.MetadataRetry: "retry",
    ast.MetadataSubscriber: "subscriber",
    ast.MetadataTypeMap: "typeMap",
    ast.MetadataEncoding: "encoding",
    ast.MetadataSQLMigration: "sqlMigration",
    ast.MetadataArtefact: "artefact",
    ast.MetadataPartitions: "partitions",
    ast.MetadataSQLQuery: "sqlQuery",
    ast.MetadataSQLColumn: "sqlColumn",
    ast.MetadataGenerated: "generated",
    ast.MetadataGit: "git",
    ast.MetadataFixture: "fixture",
    ast.MetadataTransaction: "transaction",
    ast.MetadataEgress: "egress",
    ast.MetadataImage: "image",
}
_ENUM_NAMES: dict[type[enum.Enum], dict[Any, str]] = {
    ast.Visibility: {
        ast.Visibility.NONE: "VISIBILITY_SCOPE_NONE",
        ast.Visibility.MODULE: "VISIBILITY_SCOPE_MODULE",
        ast.Visibility.REALM: "VISIBILITY_SCOPE_REALM",
    },
    ast.AliasKind: {
        ast.AliasKind.UNSPECIFIED: "ALIAS_KIND_UNSPECIFIED",
        ast.AliasKind.JSON: "ALIAS_KIND_JSON",
    },
    ast.FromOffset: {
        ast.FromOffset.BEGINNING: "FROM_OFFSET_BEGINNING",
        ast.FromOffset.LATEST: "FROM_OFFSET_LATEST",
    },
}


def to_json(node: ast.Node) -> JsonObject:
    """JSON-ready dict for any node (see the module doc for the shape)."""
    if not _CODECS:
        _build_codecs()
    body = _encode_node(node)
    return body if isinstance(node, ast.Schema) else {_TOP_NAMES[type(node)]: body}


def from_json(data: JsonObject) -> ast.Node:
    """The node `to_json` encoded; an FtlError if `data` is not such a document."""
    if not _CODECS:
        _build_codecs()
    try:
        if isinstance(data, dict) and len(data) == 1:
            [(name, body)] = data.items()
            cls = _TOP_CLASSES.get(name)
            if cls is not None:
                node: ast.Node = _decode_node(cls, body)
                return node
        schema: ast.Schema = _decode_node(ast.Schema, data)
        return schema
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FtlError(f"invalid schema JSON: {exc!r}") from None


# -- the codec, derived once from the AST's dataclasses ------------------------------------------

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class _FieldCodec:
    name: str
    key: str
    default: Any
    encode: Encoder
    decode: Decoder


_CODECS: dict[type, tuple[_FieldCodec, ...]] = {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _encode_node(node: Any) -> JsonObject:
    out: JsonObject = {}
    for field in _CODECS[type(node)]:
        value = getattr(node, field.name)
        if value is field.default or (value == field.default and type(value) is type(field.default)):
            continue
        out[field.key] = field.encode(value)
    return out


def _decode_node(cls: type, body: Any) -> Any:
    if not isinstance(body, dict):
        raise TypeError(f"expected an object for {cls.__name__}, got {type(body).__name__}")
    known = {field.key for field in _CODECS[cls]}
    unknown = set(body) - known
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)} for {cls.__name__}")
    values = {field.name: field.decode(body[field.key]) for field in _CODECS[cls] if field.key in body}
    return cls(**values)


def _encode_position(pos: Position) -> JsonObject:
    out: JsonObject = {"line": pos.line, "column": pos.column}
    if pos.filename:
        out["filename"] = pos.filename
    return out


def _decode_position(data: Any) -> Position:
    if not isinstance(data, dict):
        raise TypeError("expected an object for a position")
    return Position(
        _checked(str, data.get("filename", "")), _checked(int, data["line"]), _checked(int, data["column"])
    )


def _checked(kind: type, value: Any) -> Any:
    if type(value) is not kind:
        raise TypeError(f"expected {kind.__name__}, got {value!r}")
    return value


def _union_codec(members: tuple[type, ...]) -> tuple[Encoder, Decoder]:
    """A oneof: `{"name": body}`."""
    by_name = {_ONEOF_NAMES.get(cls, _TOP_NAMES[cls]): cls for cls in members}

    def encode(value: Any) -> JsonObject:
        return {_ONEOF_NAMES.get(type(value), _TOP_NAMES[type(value)]): _encode_node(value)}

    def decode(data: Any) -> Any:
        if not isinstance(data, dict) or len(data) != 1:
            raise ValueError(f"expected one of {sorted(by_name)}, got {data!r}")
        [(name, body)] = data.items()
        return _decode_node(by_name[name], body)

    return encode, decode


def _codec_for(hint: Any) -> tuple[Encoder, Decoder]:
    if hint is Position:
        return _encode_position, _decode_position
    if hint in (str, int, bool):
        return (lambda value: value), (lambda value, kind=hint: _checked(kind, value))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        names = _ENUM_NAMES[hint]
        values = {name: member for member, name in names.items()}
        return (lambda value: names[value]), (lambda value: values[value])
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _encode_node, (lambda value, cls=hint: _decode_node(cls, value))
    origin = typing.get_origin(hint)
    if origin is tuple:
        encode_item, decode_item = _codec_for(typing.get_args(hint)[0])
        return (
            lambda value: [encode_item(item) for item in value],
            lambda value: tuple(decode_item(item) for item in _checked(list, value)),
        )
    if origin in (typing.Union, types.UnionType):
        members = tuple(arg for arg in typing.get_args(hint) if arg is not type(None))
        if len(members) < len(typing.get_args(hint)):  # `X | None`: None is the default, never encoded
            return _codec_for(members[0] if len(members) == 1 else typing.Union[members])  # noqa: UP007
        return _union_codec(members)
    raise TypeError(f"no JSON codec for {hint!r}")


def _build_codecs() -> None:
    """Fill `_CODECS`: on first use, since most commands that load the schema never need JSON."""
    built: dict[type, tuple[_FieldCodec, ...]] = {}
    for cls in ast.NODE_TYPES:
        hints = typing.get_type_hints(cls, vars(ast))
        codecs = []
        for field in dataclasses.fields(cls):
            encode, decode = _codec_for(hints[field.name])
            default = field.default if field.default is not dataclasses.MISSING else _REQUIRED
            key = _RENAMED.get((cls, field.name), _camel(field.name))
            codecs.append(_FieldCodec(field.name, key, default, encode, decode))
        built[cls] = tuple(codecs)
    _CODECS.update(built)  # in one step, so a concurrent caller never sees some classes only


_REQUIRED = object()
_TOP_NAMES: dict[type, str] = {cls: cls.__name__[0].lower() + cls.__name__[1:] for cls in ast.NODE_TYPES}
_TOP_CLASSES: dict[str, type] = {name: cls for cls, name in _TOP_NAMES.items() if cls is not ast.Schema}
