"""`ftl.testing`: calling verbs in-process with fake config, secrets and other modules' verbs."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import pytest

import ftl
from ftl.runtime._call_errors import CallFailed
from ftl.runtime._wire import request_decoder
from ftl.runtime.encoding import DecodeError
from ftl.testing import TestingError, VerbContext, call, call_async


@dataclass
class Req:
    name: str


@dataclass
class Resp:
    text: str


clock: ftl.VerbClient[Req, Resp] = ftl.VerbClient("time", "getTime", Req, Resp)
events: ftl.Topic[Req] = ftl.Topic("events", Req, module="shop")


@ftl.verb
def greet(
    req: Req,
    greeting: Annotated[str, ftl.Config("greeting")],
    key: Annotated[str, ftl.Secret("apiKey")],
) -> Resp:
    return Resp(f"{greeting} {req.name} ({key}) at {clock(req).text}")


@ftl.verb
async def greet_async(req: Req) -> Resp:
    return Resp(f"async {(await clock.call_async(req)).text}")


@ftl.verb
def announce(req: Req) -> None:
    events.publish(req)


def fake_time(req: Req) -> Resp:
    return Resp("noon")


def test_config_secrets_and_fakes_are_injected() -> None:
    response = call(
        greet,
        Req("Ada"),
        config={"greeting": "Hi"},
        secrets={"apiKey": "k"},
        fakes={"time.get_time": fake_time},
    )
    assert response == Resp("Hi Ada (k) at noon")


def test_async_verbs_and_async_fakes() -> None:
    async def slow_time(req: Req) -> Resp:
        return Resp("late")

    assert call(greet_async, Req("Ada"), fakes={"time.getTime": slow_time}) == Resp("async late")
    assert asyncio.run(call_async(greet_async, Req("Ada"), fakes={clock: fake_time})) == Resp("async noon")


def test_missing_values_and_fakes_are_clear_errors() -> None:
    with pytest.raises(TestingError, match=r"needs config 'greeting': pass config=\{'greeting': \.\.\.\}"):
        call(greet, Req("Ada"), secrets={"apiKey": "k"})
    with pytest.raises(ftl.FtlCallError, match=r"called time\.getTime but the test has no fake for it"):
        call(greet, Req("Ada"), config={"greeting": "Hi"}, secrets={"apiKey": "k"})
    with pytest.raises(TestingError, match="is not a verb"):
        call(fake_time, Req("x"))


def test_context_records_calls_and_published_events() -> None:
    with VerbContext(fakes={"time.getTime": fake_time}) as context:
        assert clock(Req("a")) == Resp("noon")
        announce(Req("b"))
    assert [(c.module, c.verb, c.request) for c in context.calls] == [("time", "getTime", Req("a"))]
    assert [(p.module, p.topic, p.event) for p in context.published] == [("shop", "events", Req("b"))]


def test_call_inside_a_running_loop_points_to_call_async() -> None:
    async def inside() -> None:
        with pytest.raises(TestingError, match="call_async"):
            call(greet_async, Req("Ada"), fakes={clock: fake_time})

    asyncio.run(inside())


# ---------------------------------------------------------------------------------------------
# Values cross FTL-JSON as they do in the runner: the same errors, with the same messages

MODULE = __name__.partition(".")[0]  # no ftl.toml above this file: the package names the module


@dataclass
class Stamp:
    at: datetime


@dataclass
class Tags:
    tags: list[str]
    count: int = 0


@ftl.verb
def stamp(req: Stamp) -> Stamp:
    return Stamp(req.at.replace(tzinfo=None)) if req.at.year == 2000 else req


@ftl.verb
def sloppy(req: Req) -> Resp:
    return {"text": req.name}  # type: ignore[return-value]


@ftl.verb
def tagged(req: Req) -> Tags:
    return Tags(tuple(req.name.split(",")), count=2**63 if req.name == "huge" else 1)  # type: ignore[arg-type]


@ftl.verb
def configured(
    req: None, limit: Annotated[int, ftl.Config("limit")], tags: Annotated[Tags, ftl.Secret("tags")]
) -> Tags:
    return Tags(tags.tags, count=limit)


@ftl.verb
def sends(req: Req) -> Resp:
    return clock(Req(7) if req.name == "int" else req)  # type: ignore[arg-type]


def kind_and_message(failure: pytest.ExceptionInfo[ftl.FtlCallError]) -> tuple[str, str]:
    assert isinstance(failure.value, CallFailed)
    return failure.value.kind, failure.value.message


def test_a_naive_datetime_in_the_response_fails_as_in_the_runner() -> None:
    moment = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert call(stamp, Stamp(moment)) == Stamp(moment)
    with pytest.raises(ftl.FtlCallError) as failure:
        call(stamp, Stamp(datetime(2000, 1, 1, tzinfo=UTC)))
    assert kind_and_message(failure) == (
        "internal",
        f"{MODULE}.stamp returned a value that does not fit its response: "
        "at: expected Time, got a naive datetime (no UTC offset); use an aware one",
    )


def test_a_dict_instead_of_the_response_dataclass_fails() -> None:
    with pytest.raises(ftl.FtlCallError) as failure:
        call(sloppy, Req("Ada"))
    assert kind_and_message(failure) == (
        "internal",
        f"{MODULE}.sloppy returned a value that does not fit its response: expected Resp, got dict",
    )


def test_the_response_is_what_the_caller_decodes() -> None:
    assert call(tagged, Req("a,b")) == Tags(["a", "b"], 1)  # the tuple arrives as a list
    with pytest.raises(ftl.FtlCallError, match=r"count: integer out of range for Int \(64-bit\)$"):
        call(tagged, Req("huge"))


def test_a_request_in_json_form_is_decoded_with_the_runners_message() -> None:
    assert call(stamp, {"at": "2024-05-01T12:00:00+02:00"}) == Stamp(datetime(2024, 5, 1, 10, tzinfo=UTC))
    with pytest.raises(ftl.FtlCallError) as failure:
        call(stamp, {"at": 1})
    with pytest.raises(DecodeError) as runner:
        request_decoder(Stamp)(b'{"at": 1}')
    assert kind_and_message(failure) == ("bad_request", str(runner.value))
    assert str(runner.value).startswith("req.at: expected Time (RFC 3339")
    with pytest.raises(ftl.FtlCallError, match=r"^req\.name: unknown field of Stamp"):
        call(stamp, {"at": "2024-05-01T12:00:00Z", "name": "x"})


def test_a_typed_request_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ftl.FtlCallError) as failure:
        call(stamp, Stamp(datetime(2024, 5, 1)))
    assert kind_and_message(failure) == (
        "bad_request",
        f"request for {MODULE}.stamp: req.at: expected Time, got a naive datetime (no UTC offset); "
        "use an aware one",
    )
    with pytest.raises(ftl.FtlCallError, match=r"^request for \S+\.stamp: req: expected Stamp, got Req$"):
        call(stamp, Req("x"))


def test_config_and_secrets_are_decoded_like_the_runners_json_values() -> None:
    assert call(configured, config={"limit": "3"}, secrets={"tags": {"tags": ["x"]}}) == Tags(["x"], 3)
    assert call(configured, config={"limit": 3}, secrets={"tags": Tags(["y"])}) == Tags(["y"], 3)
    with pytest.raises(
        TestingError,
        match=rf"^config `limit` of module {MODULE} has the wrong type: limit: expected Int, got Float$",
    ):
        call(configured, config={"limit": 2.5}, secrets={"tags": Tags([])})


def test_what_a_fake_is_sent_and_returns_crosses_the_wire() -> None:
    seen: list[Req] = []

    def recording(req: Req) -> Resp:
        seen.append(req)
        return Resp("ok")

    assert call(sends, Req("Ada"), fakes={clock: recording}) == Resp("ok")
    assert seen == [Req("Ada")]
    with pytest.raises(ftl.FtlCallError) as failure:
        call(sends, Req("int"), fakes={clock: recording})
    assert kind_and_message(failure) == (
        "bad_request",
        "request for time.getTime: request.name: expected String, got Int",
    )
    with pytest.raises(ftl.FtlCallError) as failure:
        call(sends, Req("Ada"), fakes={clock: lambda req: {"text": "noon"}})
    assert kind_and_message(failure) == (
        "internal",
        "the fake for time.getTime returned a value that does not fit its response: expected Resp, got dict",
    )


def test_async_fakes_cross_the_wire_too() -> None:
    async def wrong(req: Req) -> Resp:
        return Resp(text=3)  # type: ignore[arg-type]

    with pytest.raises(
        ftl.FtlCallError, match=r"returned a value that does not fit its response: text: expected"
    ):
        call(greet_async, Req("Ada"), fakes={clock: wrong})


def test_a_published_event_must_fit_its_topic() -> None:
    with VerbContext() as context, pytest.raises(ftl.FtlCallError) as failure:
        events.publish(Req(name=1))  # type: ignore[arg-type]
    assert kind_and_message(failure) == (
        "bad_request",
        "event for shop.events: event.name: expected String, got Int",
    )
    assert context.published == []
