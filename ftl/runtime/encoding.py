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

from typing import Any

import msgspec

from ftl.names import lower_camel
from ftl.runtime._codec import Mismatch, UnsupportedType, codec_for

__all__ = [
    "DecodeError",
    "EncodeError",
    "UnsupportedType",
    "decode",
    "encode",
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


_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


def encode(value: Any, py_type: Any, *, root: str = "") -> bytes:
    """`value`, which must fit `py_type`, as FTL-JSON bytes. Raises EncodeError naming the path."""
    # The codec leaves bytes and datetimes for msgspec, which writes them as base64 and RFC 3339.
    try:
        encoded = codec_for(py_type, lenient=False).encode(value)
    except Mismatch as problem:
        raise EncodeError(problem.path(root), problem.message) from None
    return _json_encoder.encode(encoded)


def decode(data: bytes | str, py_type: Any, *, lenient: bool = False, root: str = "") -> Any:
    """FTL-JSON `data` as a value of `py_type`. Raises DecodeError naming the failing path.

    `root` labels the value in messages (`req` gives `req.items[2].qty: ...`).
    """
    try:
        parsed = _json_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise DecodeError(root, f"invalid JSON: {exc}") from None
    return from_json_value(parsed, py_type, lenient=lenient, root=root)


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
