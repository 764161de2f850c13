"""`ftl.testing`: calling verbs in-process with fake config, secrets and other modules' verbs."""

import asyncio
from dataclasses import dataclass
from typing import Annotated

import pytest

import ftl
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
