"""Per-type FTL-JSON codecs: built once from a Python type annotation, then cached.

A `Codec` pairs two plain functions: `decode` turns a decoded JSON value (dicts, lists, scalars)
into the Python value of the type, validating as it goes; `encode` does the reverse, producing
values msgspec can serialise directly. Failures raise `Mismatch`, which each container extends
with its path segment on the way out, so the happy path pays for no bookkeeping at all.

Scalar rules are the schema's (`ftl.schema.jsonvalidate`): what `validate_json` accepts for a type,
the decoder accepts for the matching Python type.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import threading
import types
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from ftl._sdk.decorators import is_sum_type_base
from ftl.names import lower_camel
from ftl.schema.jsonvalidate import (
    INT64_MAX,
    INT64_MIN,
    INT_OUT_OF_RANGE,
    json_bool,
    json_bytes,
    json_float,
    json_int,
    json_int_mismatch,
    json_time,
    json_type_name,
)

Decoder = Callable[[Any], Any]
Encoder = Callable[[Any], Any]


class Mismatch(Exception):
    """A value that does not fit its type; `segments` collects the path, innermost first."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.segments: list[str] = []

    def path(self, root: str) -> str:
        return (root + "".join(reversed(self.segments))).lstrip(".")


class UnsupportedType(TypeError):
    """A Python type that has no FTL-JSON form (a programming error, not bad input)."""


@dataclasses.dataclass(eq=False)
class Codec:
    """How one Python type crosses the wire. `absent` gives the value of a missing field, if allowed."""

    name: str
    decode: Decoder
    encode: Encoder
    absent: Callable[[], Any] | None = None


def _at(problem: Mismatch, segment: str) -> Mismatch:
    problem.segments.append(segment)
    return problem


def _expected(name: str, value: Any) -> Mismatch:
    return Mismatch(f"expected {name}, got {json_type_name(value)}")


def _none() -> None:
    return None


# ---------------------------------------------------------------------------------------------
# Scalars


def _decode_int(value: Any) -> int:
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return value
    number = json_int(value)
    if number is None:
        raise Mismatch(json_int_mismatch(value))
    return number


def _encode_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if INT64_MIN <= value <= INT64_MAX:
            return int(value)
        raise Mismatch(INT_OUT_OF_RANGE)
    raise _expected("Int", value)


def _decode_float(value: Any) -> float:
    number = json_float(value)
    if number is None:
        raise _expected("Float", value)
    return number


def _encode_float(value: Any) -> float | int:
    if isinstance(value, float | int) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise Mismatch(f"Float {value} has no JSON form (NaN and infinities are not JSON numbers)")
        return value
    raise _expected("Float", value)


def _decode_str(value: Any) -> str:
    if type(value) is str:
        return value
    raise _expected("String", value)


def _encode_str(value: Any) -> str:
    if isinstance(value, str):
        return str(value)
    raise _expected("String", value)


def _decode_bool(value: Any) -> bool:
    flag = json_bool(value)
    if flag is None:
        raise _expected("Bool", value)
    return flag


def _encode_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise _expected("Bool", value)


def _decode_bytes(value: Any) -> bytes:
    if type(value) is not str:
        raise _expected("Bytes", value)
    data = json_bytes(value)
    if data is None:
        raise Mismatch("expected Bytes as standard padded base64, got a string that is not")
    return data


def _encode_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise _expected("Bytes", value)


def _decode_time(value: Any) -> datetime:
    moment = json_time(value)
    if moment is None:
        shown = json.dumps(value) if type(value) is str else json_type_name(value)
        raise Mismatch(f"expected Time (RFC 3339 with an offset, like 2024-05-01T12:00:00Z), got {shown}")
    return moment


def _encode_time(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise _expected("Time", value)
    if value.utcoffset() is None:
        raise Mismatch("expected Time, got a naive datetime (no UTC offset); use an aware one")
    return value


def _decode_unit(value: Any) -> None:
    if type(value) is dict and not value:
        return None
    raise _expected("Unit ({})", value)


def _encode_unit(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    raise Mismatch(f"expected Unit (None), got {type(value).__name__}")


def _identity(value: Any) -> Any:
    return value


def _encode_any_value(value: Any) -> Any:
    return encode_any(value)


_SCALARS: dict[Any, Codec] = {
    int: Codec("Int", _decode_int, _encode_int),
    float: Codec("Float", _decode_float, _encode_float),
    str: Codec("String", _decode_str, _encode_str),
    bool: Codec("Bool", _decode_bool, _encode_bool),
    bytes: Codec("Bytes", _decode_bytes, _encode_bytes, absent=bytes),
    datetime: Codec("Time", _decode_time, _encode_time),
    type(None): Codec("Unit", _decode_unit, _encode_unit, absent=_none),
}
_ANY = Codec("Any", _identity, _encode_any_value, absent=_none)


# ---------------------------------------------------------------------------------------------
# Building


class _Builder:
    """Builds the codecs one call needs. New codecs are staged, and published to the shared cache
    only once all of them are complete (a recursive type refers to itself while being built)."""

    def __init__(self, lenient: bool, shared: dict[Any, Codec]) -> None:
        self.lenient = lenient
        self.shared = shared
        self.staged: dict[Any, Codec] = {}

    def lookup(self, key: Any) -> Codec | None:
        if key is None:
            return None
        return self.staged.get(key) or self.shared.get(key)

    def build(self, annotation: Any, env: dict[Any, Any]) -> Codec:
        annotation = _resolve(annotation, env)
        key = _key(annotation, env)
        codec = _SCALARS.get(key) if key is not None else None
        if codec is not None:
            return codec
        if annotation is Any:
            return _ANY
        cached = self.lookup(key)
        if cached is not None:
            return cached
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin in (typing.Union, types.UnionType):
            return self.union(key, args, env)
        if origin is list or annotation is list:
            return self.store(key, self.list_of(self.build(args[0] if args else Any, env)))
        if origin is dict or annotation is dict:
            key_type, value_type = args if args else (str, Any)
            return self.store(key, self.dict_of(_resolve(key_type, env), self.build(value_type, env)))
        cls = origin if isinstance(origin, type) else annotation
        if not isinstance(cls, type):
            raise UnsupportedType(f"{annotation!r} has no FTL-JSON form")
        if issubclass(cls, enum.Enum):
            return self.store(key, _value_enum(cls))
        if is_sum_type_base(cls):
            return self.sum_type(key, cls.__name__, _subclass_variants(cls), env)
        if dataclasses.is_dataclass(cls):
            return self.data(key, cls, args, env)
        raise UnsupportedType(
            f"{annotation!r} has no FTL-JSON form: use a scalar, list, dict, Optional, Any, a dataclass, "
            "an Enum or an @ftl.enum sum type"
        )

    def store(self, key: Any, codec: Codec) -> Codec:
        if key is not None:
            self.staged[key] = codec
        return codec

    # -- containers -------------------------------------------------------------------------

    def union(self, key: Any, args: tuple[Any, ...], env: dict[Any, Any]) -> Codec:
        # `None` written in the union makes it optional; a type parameter bound to None is Unit.
        members = [a for a in args if a is not type(None)]
        optional = len(members) < len(args)
        if len(members) == 1:
            inner = self.build(members[0], env)
        else:
            inner_key = ("sum", key) if optional and key is not None else key
            cached = self.lookup(inner_key)
            if cached is not None:
                inner = cached
            else:
                resolved = [_resolve(m, env) for m in members]
                name = " | ".join(getattr(_class_of(m), "__name__", repr(m)) for m in resolved)
                inner = self.sum_type(inner_key, name, _union_variants(resolved), env)
        return self.store(key, _optional(inner)) if optional else inner

    def list_of(self, element: Codec) -> Codec:
        # `element.decode` is looked up per call: a recursive element codec is completed later.
        def decode(value: Any) -> list[Any]:
            if type(value) is not list:
                raise _expected(f"[{element.name}]", value)
            result = []
            for index, item in enumerate(value):
                try:
                    result.append(element.decode(item))
                except Mismatch as problem:
                    problem.segments.append(f"[{index}]")
                    raise
            return result

        def encode(value: Any) -> list[Any]:
            if not isinstance(value, list | tuple):
                raise _expected(f"[{element.name}]", value)
            result = []
            for index, item in enumerate(value):
                try:
                    result.append(element.encode(item))
                except Mismatch as problem:
                    problem.segments.append(f"[{index}]")
                    raise
            return result

        return Codec(f"[{element.name}]", decode, encode, absent=list)

    def dict_of(self, key_type: Any, value: Codec) -> Codec:
        decode_key: Decoder
        encode_key: Encoder
        if key_type is str:
            key_name, decode_key, encode_key = "String", _identity, _encode_str
        elif key_type is int:
            key_name, decode_key, encode_key = "Int", _decode_int, _encode_int
        else:
            raise UnsupportedType(f"dict keys must be str or int, not {key_type!r}")
        name = f"{{{key_name}: {value.name}}}"

        def decode(obj: Any) -> dict[Any, Any]:
            if type(obj) is not dict:
                raise _expected(name, obj)
            result = {}
            for key, item in obj.items():
                try:
                    result[decode_key(key)] = value.decode(item)
                except Mismatch as problem:
                    problem.segments.append(f"[{json.dumps(key)}]")
                    raise
            return result

        def encode(obj: Any) -> dict[str, Any]:
            if not isinstance(obj, dict):
                raise _expected(name, obj)
            result = {}
            for key, item in obj.items():
                try:
                    result[str(encode_key(key))] = value.encode(item)
                except Mismatch as problem:
                    problem.segments.append(f"[{json.dumps(str(key))}]")
                    raise
            return result

        return Codec(name, decode, encode, absent=dict)

    # -- declarations -----------------------------------------------------------------------

    def data(self, key: Any, cls: type, args: tuple[Any, ...], env: dict[Any, Any]) -> Codec:
        codec = Codec(cls.__name__, _identity, _identity)
        # Stored before the fields are built, so a recursive type finds itself.
        self.store(key, codec)
        params = getattr(cls, "__parameters__", ())
        bound = dict(zip(params, (_resolve(a, env) for a in args), strict=False)) if args else {}
        try:
            hints = typing.get_type_hints(cls)
        except (NameError, TypeError) as exc:
            raise UnsupportedType(f"cannot resolve the field types of {cls.__qualname__}: {exc}") from exc
        fields = []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            field_codec = self.build(hints[f.name], bound)
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            fields.append(_Field(f.name, lower_camel(f.name), field_codec, has_default))
        codec.decode = _data_decoder(cls, fields, self.lenient)
        codec.encode = _data_encoder(cls, fields)
        return codec

    def sum_type(self, key: Any, name: str, variants: dict[str, Any], env: dict[Any, Any]) -> Codec:
        codec = Codec(name, _identity, _identity)
        self.store(key, codec)
        by_name = {variant: self.build(cls, env) for variant, cls in variants.items()}
        by_class = {
            _class_of(_resolve(cls, env)): (variant, by_name[variant]) for variant, cls in variants.items()
        }
        codec.decode = _sum_decoder(name, by_name)
        codec.encode = _sum_encoder(name, by_class)
        return codec


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    python: str
    wire: str
    codec: Codec
    has_default: bool


_MISSING = object()


def _data_decoder(cls: type, fields: list[_Field], lenient: bool) -> Decoder:
    wire_names = frozenset(f.wire for f in fields)
    plan = [(f.python, f.wire, f.codec, f.has_default) for f in fields]

    def decode(value: Any) -> Any:
        if type(value) is not dict:
            raise _expected(cls.__name__, value)
        kwargs = {}
        found = 0
        for python, wire, codec, has_default in plan:
            raw = value.get(wire, _MISSING)
            if raw is _MISSING:
                if has_default:
                    continue
                if codec.absent is None:
                    raise _at(Mismatch(f"missing required field ({codec.name})"), "." + wire)
                kwargs[python] = codec.absent()
                continue
            found += 1
            try:
                kwargs[python] = codec.decode(raw)
            except Mismatch as problem:
                problem.segments.append("." + wire)
                raise
        if found < len(value) and not lenient:
            unknown = next(k for k in value if k not in wire_names)
            fields = ", ".join(sorted(wire_names)) or "none"
            raise _at(Mismatch(f"unknown field of {cls.__name__} (its fields: {fields})"), f".{unknown}")
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:  # the dataclass's own checks (__post_init__)
            raise Mismatch(f"invalid {cls.__name__}: {exc}") from None

    return decode


def _data_encoder(cls: type, fields: list[_Field]) -> Encoder:
    plan = [(f.python, f.wire, f.codec) for f in fields]

    def encode(value: Any) -> dict[str, Any]:
        if not isinstance(value, cls):
            raise Mismatch(f"expected {cls.__name__}, got {type(value).__name__}")
        result = {}
        for python, wire, codec in plan:
            try:
                result[wire] = codec.encode(getattr(value, python))
            except Mismatch as problem:
                problem.segments.append("." + wire)
                raise
        return result

    return encode


def _sum_decoder(name: str, variants: dict[str, Codec]) -> Decoder:
    shape = '{"name": <variant>, "value": <value>}'

    def decode(value: Any) -> Any:
        if type(value) is not dict:
            raise Mismatch(f"expected {name} as {shape}, got {json_type_name(value)}")
        variant = value.get("name", _MISSING)
        if variant is _MISSING:
            raise Mismatch(f'expected {name} as {shape}, got an object without "name"')
        if type(variant) is not str:
            found = json_type_name(variant)
            raise Mismatch(f'expected the "name" of a {name} variant to be a String, got {found}')
        codec = variants.get(variant)
        if codec is None:
            raise Mismatch(f"unknown variant {variant!r} of {name} (variants: {', '.join(variants)})")
        if "value" not in value:
            raise Mismatch(f'expected {name} as {shape}, got an object without "value"')
        return codec.decode(value["value"])

    return decode


def _sum_encoder(name: str, variants: dict[Any, tuple[str, Codec]]) -> Encoder:
    def encode(value: Any) -> dict[str, Any]:
        entry = variants.get(type(value))
        if entry is None:
            names = ", ".join(variant for variant, _ in variants.values())
            raise Mismatch(f"expected a variant of {name} ({names}), got {type(value).__name__}")
        variant, codec = entry
        return {"name": variant, "value": codec.encode(value)}

    return encode


def _optional(inner: Codec) -> Codec:
    def decode(value: Any) -> Any:
        return None if value is None else inner.decode(value)

    def encode(value: Any) -> Any:
        return None if value is None else inner.encode(value)

    return Codec(f"{inner.name}?", decode, encode, absent=_none)


def _value_enum(cls: type[enum.Enum]) -> Codec:
    members = list(cls)
    if all(type(m.value) is str for m in members):
        by_value: dict[Any, enum.Enum] = {m.value: m for m in members}
        accepts: Callable[[Any], bool] = lambda v: type(v) is str  # noqa: E731
    elif all(type(m.value) is int for m in members):
        by_value = {m.value: m for m in members}
        accepts = lambda v: type(v) is int or (type(v) is float and v.is_integer())  # noqa: E731
    else:
        raise UnsupportedType(f"enum {cls.__name__} needs all-str or all-int values (use StrEnum or IntEnum)")
    shown = ", ".join(json.dumps(value) for value in by_value)

    def decode(value: Any) -> enum.Enum:
        member = by_value.get(value) if accepts(value) else None
        if member is None:
            raise Mismatch(f"expected one of {shown} ({cls.__name__}), got {json.dumps(value, default=repr)}")
        return member

    def encode(value: Any) -> Any:
        if isinstance(value, cls):
            return value.value
        if accepts(value) and value in by_value:
            return by_value[value].value
        raise Mismatch(f"expected a {cls.__name__} member, got {value!r}")

    return Codec(cls.__name__, decode, encode)


def _subclass_variants(base: type) -> dict[str, Any]:
    subclasses: list[type] = base.__subclasses__()
    variants = {sub.__name__: sub for sub in subclasses if dataclasses.is_dataclass(sub)}
    if not variants:
        raise UnsupportedType(f"sum type {base.__name__} has no @dataclass subclasses (its variants)")
    return variants


def _union_variants(members: list[Any]) -> dict[str, Any]:
    variants: dict[str, Any] = {}
    for member in members:
        cls = _class_of(member)
        if cls is None or not (dataclasses.is_dataclass(cls) or issubclass(cls, enum.Enum)):
            raise UnsupportedType(
                f"a Union of several types is a sum type, and its members must be dataclasses or enums, "
                f"not {member!r}"
            )
        variants[cls.__name__] = member
    return variants


def _resolve(annotation: Any, env: dict[Any, Any]) -> Any:
    """Strip what does not change the wire form: Annotated, NewType, type aliases, bound TypeVars."""
    while True:
        if isinstance(annotation, TypeVar):
            annotation = env.get(annotation, Any)
        elif typing.get_origin(annotation) is typing.Annotated:
            annotation = annotation.__origin__
        elif hasattr(annotation, "__supertype__"):  # typing.NewType
            annotation = annotation.__supertype__
        elif type(annotation).__name__ == "TypeAliasType":  # `type X = ...` (Python 3.12+)
            annotation = annotation.__value__
        elif annotation is None:
            annotation = type(None)
        else:
            return annotation


def _class_of(annotation: Any) -> type | None:
    """The class behind a plain or generic annotation (`Box` for `Box[int]`), if there is one."""
    cls = typing.get_origin(annotation) or annotation
    return cls if isinstance(cls, type) else None


def _key(annotation: Any, env: dict[Any, Any]) -> Any:
    """A hashable identity for `annotation` with its type variables bound, or None if there is none.

    Built as nested tuples rather than by substituting into typing objects, which would fold
    `Body | None` with `Body = None` into plain `None` (Unit) and lose the optional.
    """
    annotation = _resolve(annotation, env)
    args = typing.get_args(annotation)
    if args:
        arg_keys = tuple(_key(arg, env) for arg in args)
        if any(k is None for k in arg_keys):
            return None
        return (typing.get_origin(annotation), arg_keys)
    try:
        hash(annotation)
    except TypeError:
        return None
    return annotation


def encode_any(value: Any) -> Any:
    """`typing.Any`: encode by the value's own runtime type."""
    if value is None or type(value) in (str, int, bool):
        return value
    if type(value) is float:
        return _encode_float(value)
    if isinstance(value, list | tuple):
        return [encode_any(item) for item in value]
    if isinstance(value, dict):
        return {_encode_str(key): encode_any(item) for key, item in value.items()}
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return codec_for(type(value), lenient=False).encode(value)
    for scalar in (bytes, datetime):
        if isinstance(value, scalar):
            return _SCALARS[scalar].encode(value)
    raise Mismatch(f"{type(value).__name__} has no FTL-JSON form")


# ---------------------------------------------------------------------------------------------
# The cache


_CACHES: dict[bool, dict[Any, Codec]] = {False: {}, True: {}}
_LOCK = threading.RLock()


def codec_for(py_type: Any, *, lenient: bool) -> Codec:
    """The codec of `py_type`, built on first use. Raises UnsupportedType for types with no wire form."""
    shared = _CACHES[lenient]
    # A class is its own key: found without working the key out (every verb call looks one up).
    cached = shared.get(py_type) if isinstance(py_type, type) else None
    if cached is not None:
        return cached
    key = _key(py_type, {})
    cached = shared.get(key) if key is not None else None
    if cached is not None:
        return cached
    with _LOCK:
        builder = _Builder(lenient, shared)
        codec = builder.build(py_type, {})
        shared.update(builder.staged)
        return codec
