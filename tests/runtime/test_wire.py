"""The wire steps of a verb call: what each side decodes and encodes, and the errors it answers with."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from ftl.runtime._call_errors import CallFailed
from ftl.runtime._wire import (
    REQUEST_ROOT,
    Rejected,
    answered,
    decode_response,
    encode_event,
    encode_request,
    invoke,
    received,
    request_decoder,
    response_encoder,
)
from ftl.runtime.encoding import DecodeError, EncodeError, decode, encode


@dataclass
class Msg:
    text: str


def test_a_request_body_is_decoded_by_the_verbs_type_or_refused_as_a_bad_request() -> None:
    decode_request = request_decoder(Msg)
    assert received(decode_request, b'{"text": "hi"}') == Msg("hi")
    with pytest.raises(Rejected) as refused:
        received(decode_request, b'{"text": 5}')
    assert (refused.value.kind, refused.value.message) == (
        "bad_request",
        f"{REQUEST_ROOT}.text: expected String, got Int",
    )
    with pytest.raises(Rejected, match=r"^req: invalid JSON"):
        received(decode_request, b"{")


def test_a_result_is_encoded_by_the_verbs_type_or_refused_as_internal() -> None:
    encode_response = response_encoder(Msg)
    assert answered(encode_response, "svc.echo", Msg("hi")) == b'{"text":"hi"}'
    with pytest.raises(Rejected) as refused:
        answered(encode_response, "svc.echo", {"text": "hi"})
    assert (refused.value.kind, refused.value.message) == (
        "internal",
        "svc.echo returned a value that does not fit its response: expected Msg, got dict",
    )


def test_a_rejection_is_what_the_caller_sees_a_failed_call_as() -> None:
    assert isinstance(Rejected("bad_request", "no"), CallFailed)


def test_invoke_passes_the_request_only_to_a_verb_that_takes_one() -> None:
    def echo(req: Msg, *, suffix: str) -> Msg:
        return Msg(req.text + suffix)

    def tick(*, suffix: str) -> str:
        return "tick" + suffix

    async def later(req: Msg) -> Msg:
        return req

    assert invoke(echo, True, Msg("a"), {"suffix": "!"}) == Msg("a!")
    assert invoke(tick, False, Msg("ignored"), {"suffix": "!"}) == "tick!"
    assert asyncio.run(invoke(later, True, Msg("b"), {})) == Msg("b")


def test_the_caller_encodes_by_the_requests_own_type_and_decodes_by_the_response_type() -> None:
    assert encode_request("svc", "echo", Msg("hi")) == b'{"text":"hi"}'
    with pytest.raises(CallFailed) as failed:
        encode_request("svc", "echo", Msg(5))  # type: ignore[arg-type]
    assert (failed.value.kind, failed.value.message) == (
        "bad_request",
        "request for svc.echo: request.text: expected String, got Int",
    )
    assert decode_response("svc", "echo", b'{"text":"hi"}', Msg) == Msg("hi")
    with pytest.raises(CallFailed) as failed:
        decode_response("svc", "echo", b'{"text":"hi","more":1}', Msg, realm="bank")
    assert failed.value.kind == "internal"
    assert failed.value.message.startswith(
        "svc.echo@bank answered with an unexpected response: response.more:"
    )
    assert decode_response("svc", "echo", b'{"text":"hi","more":1}', Msg, lenient=True) == Msg("hi")


def test_an_event_is_encoded_by_its_topics_type() -> None:
    assert encode_event("shop", "orders", Msg("hi"), Msg) == b'{"text":"hi"}'
    with pytest.raises(CallFailed) as failed:
        encode_event("shop", "orders", "hi", Msg)
    assert (failed.value.kind, failed.value.message) == (
        "bad_request",
        "event for shop.orders: event: expected Msg, got str",
    )


# The codec looked up once (`encoding.decoder` / `encoder`) is `decode` / `encode` to the letter.


@pytest.mark.parametrize("body", [b'{"text": "hi"}', b'{"text": 5}', b"{", b"[]", b'{"text": "a", "b": 1}'])
def test_a_request_decoder_is_decode(body: bytes) -> None:
    assert _outcome(lambda: request_decoder(Msg)(body)) == _outcome(lambda: decode(body, Msg, root="req"))


@pytest.mark.parametrize("value", [Msg("hi"), Msg(5), {"text": "hi"}, None])  # type: ignore[arg-type]
def test_a_response_encoder_is_encode(value: Any) -> None:
    assert _outcome(lambda: response_encoder(Msg)(value)) == _outcome(lambda: encode(value, Msg))


@pytest.mark.parametrize("body", [b"{", b"{}"])
def test_a_type_with_no_wire_form_fails_at_each_call_as_decode_does(body: bytes) -> None:
    decoded = _outcome(lambda: request_decoder(set[int])(body))
    assert decoded == _outcome(lambda: decode(body, set[int], root="req"))
    assert decoded[0] == ("DecodeError" if body == b"{" else "UnsupportedType")
    assert _outcome(lambda: response_encoder(set[int])(1)) == _outcome(lambda: encode(1, set[int]))


def _outcome(step: Any) -> tuple[str, str]:
    try:
        return "ok", repr(step())
    except (DecodeError, EncodeError, TypeError) as exc:
        return type(exc).__name__, str(exc)
