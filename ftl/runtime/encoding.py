"""FTL-JSON: how typed Python values cross the wire between verbs, the backplane and HTTP.

    encode(EchoRequest(user_id=7), EchoRequest)       -> b'{"userId":7}'
    decode(b'{"userId":7}', EchoRequest)              -> EchoRequest(user_id=7)

The format (see the SDK spec):

* dataclass fields are lowerCamel on the wire (`user_id` <-> `userId`);
* `bytes` is standard padded base64; `datetime` is RFC 3339 with an offset;
* `None` as a type (Unit) is `{}`; an optional (`T | None`) is `null` or absent;
* `StrEnum`/`IntEnum` travel as their values;
* a sum type (an `@ftl.enum` base whose `@dataclass` subclasses are the variants, or a Union of
  dataclasses) is `{"name": "<Variant>", "value": <the variant's value>}`;
* `list[T]`, `dict[str, T]`, generic dataclasses and `typing.Any` as you would expect.

Decoding validates and accepts exactly what `ftl.schema.jsonvalidate` accepts for the matching
schema type (so an Int may arrive as `10.0` or `"10"`; a missing list, dict, bytes or optional
field decodes as empty or None). Errors name the failing path: `req.items[2].qty: expected Int,
got String`. Unknown fields are rejected unless `lenient=True`.

Times: RFC 3339 always carries an offset, so a decoded `datetime` is always timezone-aware, and
encoding a naive one is an error rather than a guess. Digits beyond microseconds are dropped.

Codecs are built once per Python type and cached; JSON text is parsed and written by msgspec.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import msgspec

from ftl.names import lower_camel
from ftl.runtime._codec import Mismatch, UnsupportedType, codec_for

__all__ = [
    "DecodeError",
    "EncodeError",
    "UnsupportedType",
    "decode",
    "decoder",
    "encode",
    "encoder",
    "from_json_value",
    "lower_camel",
    "to_json_value",
]


class DecodeError(ValueError):
    """Input that does not fit the expected type. `str(e)` is `path: message` (path may be empty)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class EncodeError(ValueError):
    """A value that does not fit the type it is sent as (a bug in the sending code)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


# Bound once: every verb call on the runner's hot path goes through them.
_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode


def encode(value: Any, py_type: Any, *, root: str = "") -> bytes:
    """`value`, which must fit `py_type`, as FTL-JSON bytes. Raises EncodeError naming the path."""
    return _encode_with(codec_for(py_type, lenient=False).encode, root, value)


def decode(data: bytes | str, py_type: Any, *, lenient: bool = False, root: str = "") -> Any:
    """FTL-JSON `data` as a value of `py_type`. Raises DecodeError naming the failing path.

    `root` labels the value in messages (`req` gives `req.items[2].qty: ...`).
    """
    try:
        decode_value = codec_for(py_type, lenient=lenient).decode
    except UnsupportedType:
        # Invalid JSON is still a DecodeError; valid JSON gets to `codec_for` again, which raises.
        decode_value = functools.partial(from_json_value, py_type=py_type, lenient=lenient, root=root)
    return _decode_with(decode_value, root, data)


def encoder(py_type: Any, *, root: str = "") -> Callable[[Any], bytes]:
    """`encode(value, py_type, root=root)` as a function of `value`, its codec looked up once."""
    try:
        encode_value = codec_for(py_type, lenient=False).encode
    except UnsupportedType:
        return functools.partial(encode, py_type=py_type, root=root)  # raises at each call, as it would

    # A closure rather than a partial: the runner calls it per verb call, and a closure is faster.
    def encode_one(value: Any) -> bytes:
        return _encode_with(encode_value, root, value)

    return encode_one


def decoder(py_type: Any, *, root: str = "") -> Callable[[bytes | str], Any]:
    """`decode(data, py_type, root=root)` as a function of `data`, its codec looked up once."""
    try:
        decode_value = codec_for(py_type, lenient=False).decode
    except UnsupportedType:
        return functools.partial(decode, py_type=py_type, root=root)  # raises at each call, as it would

    # A closure rather than a partial, as in `encoder`.
    def decode_one(data: bytes | str) -> Any:
        return _decode_with(decode_value, root, data)

    return decode_one


# The codec leaves bytes and datetimes for msgspec, which writes them as base64 and RFC 3339.
def _encode_with(encode_value: Callable[[Any], Any], root: str, value: Any) -> bytes:
    try:
        encoded = encode_value(value)
    except Mismatch as problem:
        raise EncodeError(problem.path(root), problem.message) from None
    return _json_encode(encoded)


def _decode_with(decode_value: Callable[[Any], Any], root: str, data: bytes | str) -> Any:
    try:
        parsed = _json_decode(data)
    except msgspec.DecodeError as exc:
        raise DecodeError(root, f"invalid JSON: {exc}") from None
    try:
        return decode_value(parsed)
    except Mismatch as problem:
        raise DecodeError(problem.path(root), problem.message) from None


def to_json_value(value: Any, py_type: Any, *, root: str = "") -> Any:
    """`value` as plain JSON-ready data (dicts with wire names, lists, scalars, base64 strings...)."""
    try:
        encoded = codec_for(py_type, lenient=False).encode(value)
    except Mismatch as problem:
        raise EncodeError(problem.path(root), problem.message) from None
    return msgspec.to_builtins(encoded)


def from_json_value(obj: Any, py_type: Any, *, lenient: bool = False, root: str = "") -> Any:
    """Already-parsed JSON (as `json.loads` gives it) as a value of `py_type`; validates like `decode`."""
    try:
        return codec_for(py_type, lenient=lenient).decode(obj)
    except Mismatch as problem:
        raise DecodeError(problem.path(root), problem.message) from None
