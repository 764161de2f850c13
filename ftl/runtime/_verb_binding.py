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

from ftl._sdk.markers import Config
from ftl.names import lower_camel
from ftl.runtime._wire import request_decoder, response_encoder
from ftl.runtime.encoding import DecodeError, from_json_value
from ftl.runtime.loader import LoadedModule, VerbHandle


@dataclass(frozen=True, slots=True)
class BoundVerb:
    """A verb ready to call: its handle, whether it takes the request, its injected values.

    `decode_request(body)` and `encode_response(value)` are its request's and response's codecs,
    found once instead of per call (`_wire.request_decoder`, `_wire.response_encoder`).
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
