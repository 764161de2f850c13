"""The steps one verb call takes on the wire, shared by the runner and `ftl.testing`.

    caller  encode_request   ── request body ─▶  callee  received(request_decoder(type), body)
                                                         invoke(verb, takes_request, request, kwargs)
    caller  decode_response  ◀─ response body ─  callee  answered(response_encoder(type), target, result)

The runner's call server (`_serving`) and outgoing calls (`_outgoing`, `_realm_calls`) run these,
and `ftl.testing` runs the same ones in process, so a test sees the values and the errors (kind
and message) a running module would. A callee's refusal is `Rejected`; a caller's is `CallFailed`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ftl.runtime._call_errors import CallFailed
from ftl.runtime.encoding import DecodeError, EncodeError, decode, decoder, encode, encoder

REQUEST_ROOT: Final = "req"  # how errors name the verb's request: `req.items[2].qty: ...`


class Rejected(CallFailed):
    """A call refused before or after its verb ran (a request or response that does not fit its
    type, a config value missing): its caller fails with this kind and message, the verb did not."""


# -- the callee ---------------------------------------------------------------------------------


def request_decoder(py_type: Any) -> Callable[[bytes], Any]:
    """How a verb whose request is `py_type` decodes a request body (DecodeError)."""
    return decoder(py_type, root=REQUEST_ROOT)


def response_encoder(py_type: Any) -> Callable[[Any], bytes]:
    """How a verb whose response is `py_type` encodes what it returns (EncodeError, TypeError)."""
    return encoder(py_type)


def received(decode_request: Callable[[bytes], Any], body: bytes) -> Any:
    """The request the verb is called with; Rejected (`bad_request`) when the body does not fit."""
    try:
        return decode_request(body)
    except DecodeError as exc:
        raise Rejected("bad_request", str(exc)) from None


def invoke(func: Callable[..., Any], takes_request: bool, request: Any, kwargs: Mapping[str, Any]) -> Any:
    """Call a verb: the request first when it takes one, injected values by keyword.

    An async verb's coroutine is returned for the caller to await.
    """
    if takes_request:
        return func(request, **kwargs)
    return func(**kwargs)


def answered(encode_response: Callable[[Any], bytes], target: str, result: Any) -> bytes:
    """The reply body for what `target` returned; Rejected (`internal`) when it does not fit."""
    try:
        return encode_response(result)
    except (EncodeError, TypeError) as exc:
        raise Rejected(
            "internal", f"{target} returned a value that does not fit its response: {exc}"
        ) from None


# -- the caller ---------------------------------------------------------------------------------


def encode_request(module: str, verb: str, request: Any) -> bytes:
    """The body sent for `request`, encoded by its own type; CallFailed (`bad_request`) if it cannot be."""
    try:
        return encode(request, type(request), root="request")
    except (EncodeError, TypeError) as exc:
        raise CallFailed("bad_request", f"request for {module}.{verb}: {exc}") from None


def decode_response(
    module: str, verb: str, body: bytes, response_type: Any, *, realm: str = "", lenient: bool = False
) -> Any:
    """The response the caller receives; CallFailed (`internal`) if the body does not fit its type."""
    try:
        return decode(body, response_type, lenient=lenient, root="response")
    except DecodeError as exc:
        target = f"{module}.{verb}" + (f"@{realm}" if realm else "")
        raise CallFailed("internal", f"{target} answered with an unexpected response: {exc}") from None


def encode_event(module: str, topic: str, event: Any, event_type: Any) -> bytes:
    """The body published for `event`; CallFailed (`bad_request`) if it does not fit the topic's type."""
    try:
        return encode(event, event_type, root="event")
    except (EncodeError, TypeError) as exc:
        raise CallFailed("bad_request", f"event for {module}.{topic}: {exc}") from None
