"""Binding each verb to the config and secret values it declares, once, when the runner starts.

A value that is missing or does not fit its declared type does not stop the runner: the verb is
bound with the problem, and each call to it fails with that message (error kind `internal`).
The codecs of its request and response are looked up here too, not on every call.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ftl._sdk.markers import Config
from ftl.names import lower_camel
from ftl.runtime._codec import Mismatch, UnsupportedType, codec_for
from ftl.runtime.encoding import DecodeError, EncodeError, decode, encode, from_json_value
from ftl.runtime.loader import LoadedModule, VerbHandle

REQUEST_ROOT = "req"  # how decoding errors name the request: `req.items[2].qty: ...`

_json_decode = msgspec.json.decode
_json_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class BoundVerb:
    """A verb ready to call: its handle, whether it takes the request, its injected values.

    `decode_request(body)` and `encode_response(value)` are `encoding.decode` and `encoding.encode`
    for its types (DecodeError, EncodeError), with the codecs found once instead of per call.
    """

    handle: VerbHandle
    takes_request: bool
    kwargs: Mapping[str, Any]
    problem: str = ""  # why it cannot run (a config or secret value missing or malformed)
    decode_request: Callable[[bytes], Any] = field(init=False, repr=False, compare=False)
    encode_response: Callable[[Any], bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "decode_request", request_decoder(self.handle.request_type))
        object.__setattr__(self, "encode_response", response_encoder(self.handle.response_type))


def request_decoder(py_type: Any) -> Callable[[bytes], Any]:
    """`decode(body, py_type, root="request")`, its codec looked up now."""
    try:
        codec = codec_for(py_type, lenient=False)
    except UnsupportedType:
        return lambda body: decode(body, py_type, root=REQUEST_ROOT)  # raises at each call, as it would

    def decode_request(body: bytes) -> Any:
        try:
            parsed = _json_decode(body)
        except msgspec.DecodeError as exc:
            raise DecodeError(REQUEST_ROOT, f"invalid JSON: {exc}") from None
        try:
            return codec.decode(parsed)
        except Mismatch as problem:
            raise DecodeError(problem.path(REQUEST_ROOT), problem.message) from None

    return decode_request


def response_encoder(py_type: Any) -> Callable[[Any], bytes]:
    """`encode(value, py_type)`, its codec looked up now."""
    try:
        codec = codec_for(py_type, lenient=False)
    except UnsupportedType:
        return lambda value: encode(value, py_type)

    def encode_response(value: Any) -> bytes:
        try:
            return _json_encode(codec.encode(value))
        except Mismatch as problem:
            raise EncodeError(problem.path(""), problem.message) from None

    return encode_response


def bind_verbs(
    loaded: LoadedModule, config: Mapping[str, Any], secrets: Mapping[str, Any]
) -> dict[str, BoundVerb]:
    """Every verb of the module, under its schema name and its Python name."""
    verbs: dict[str, BoundVerb] = {}
    for handle in loaded.verbs.values():
        bound = bind_verb(loaded.name, handle, config, secrets)
        verbs[handle.name] = bound
        verbs.setdefault(handle.python_name, bound)
    return verbs


def bind_verb(
    module: str, handle: VerbHandle, config: Mapping[str, Any], secrets: Mapping[str, Any]
) -> BoundVerb:
    try:
        hints = typing.get_type_hints(handle.func, include_extras=True)
        parameters: Mapping[str, inspect.Parameter] | None = inspect.signature(handle.func).parameters
    except (TypeError, ValueError, NameError):
        hints, parameters = {}, None
    kwargs: dict[str, Any] = {}
    problems: list[str] = []
    for parameter, marker in handle.injections.items():
        kind, values = ("config", config) if isinstance(marker, Config) else ("secret", secrets)
        name = marker.name or lower_camel(parameter)
        declared = hints.get(parameter, Any)
        if typing.get_origin(declared) is typing.Annotated:
            declared = typing.get_args(declared)[0]
        if name not in values:
            known = parameters.get(parameter) if parameters is not None else None
            if known is None or known.default is inspect.Parameter.empty:
                problems.append(
                    f"{kind} `{name}` of module {module} is not set (`ftl {kind} set {module}.{name} ...`)"
                )
            continue
        try:
            kwargs[parameter] = from_json_value(values[name], declared, root=name)
        except (DecodeError, TypeError) as exc:
            problems.append(f"{kind} `{name}` of module {module} has the wrong type: {exc}")
    if parameters is None:
        takes_request = True  # an opaque callable: give it the request, as the SDK contract says
    else:
        takes_request = any(
            p.name not in handle.injections
            and p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for p in parameters.values()
        )
    return BoundVerb(handle, takes_request, kwargs, "; ".join(problems))
