"""Outgoing calls in process: the checks made before sending, peer-to-peer calls, route switches."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from served_verbs import Collected, Msg, bound, serving

from ftl.runtime import context as call_context
from ftl.runtime._call_errors import CallFailed
from ftl.runtime._outgoing import OutgoingCalls
from ftl.runtime._realm_calls import RealmCalls
from ftl.runtime.context import MAX_CALL_DEPTH, CallContext
from ftl.runtime.protocol import Routes

pytestmark = pytest.mark.anyio

_entered: asyncio.Event | None = None
_gate: asyncio.Event | None = None


def echo(req: Msg) -> Msg:
    if req.text == "explode":
        raise RuntimeError("other exploded")
    return Msg(f"other:{req.text}")


async def gated(req: Msg) -> Msg:
    assert _entered is not None and _gate is not None
    _entered.set()
    await _gate.wait()
    return Msg("opened")


@dataclass
class Count:
    count: int


ALLOWED = {"relay": ["other.echo", "other.gated", "balance.get@bank"]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def other() -> AsyncIterator[str]:
    async with serving("other", {"echo": bound(echo), "gated": bound(gated)}, Collected()) as endpoint:
        yield endpoint


@pytest.fixture
async def outgoing(other: str) -> OutgoingCalls:
    calls = OutgoingCalls("svc", RealmCalls("shop", {}))
    assert calls.use_routes(Routes(1, {"svc": "127.0.0.1:1", "other": other}, ALLOWED)) == set()
    return calls


@contextlib.contextmanager
def in_verb(verb: str = "relay", chain: tuple[str, ...] = ()) -> Iterator[None]:
    token = call_context.enter(CallContext("req-1", "svc", verb, chain or (f"svc.{verb}",)))
    try:
        yield
    finally:
        call_context.leave(token)


async def failed(
    outgoing: OutgoingCalls, module: str, verb: str, realm: str | None = None, **kw: Any
) -> CallFailed:
    with pytest.raises(CallFailed) as raised:
        await outgoing.call_async(module, verb, Msg(kw.get("text", "x")), kw.get("response", Msg), realm)
    return raised.value


async def test_calls_go_straight_to_the_callee_from_sync_and_async_verbs(outgoing: OutgoingCalls) -> None:
    with in_verb():
        assert await outgoing.call_async("other", "echo", Msg("a"), Msg, None) == Msg("other:a")
        # A worker thread: the context goes with it, the call goes over its own blocking socket.
        sync = await asyncio.to_thread(outgoing.call, "other", "echo", Msg("b"), Msg, None)
        assert sync == Msg("other:b")
        exploded = await failed(outgoing, "other", "echo", text="explode")
        assert (exploded.kind, exploded.message) == ("verb_error", "other exploded")
        odd = await failed(outgoing, "other", "echo", response=Count)
        assert odd.kind == "internal"
        assert odd.message.startswith("other.echo answered with an unexpected response: ")


async def test_calls_are_checked_before_anything_is_sent(outgoing: OutgoingCalls) -> None:
    outside = await failed(outgoing, "other", "echo")
    assert (outside.kind, outside.message) == (
        "denied",
        "other.echo was called outside a verb call: calls must be made while a verb runs",
    )
    with in_verb("quiet"):
        denied = await failed(outgoing, "other", "echo")
    assert denied.kind == "denied"
    assert denied.message.startswith("svc.quiet may not call other.echo: it is not in the verb's +calls")
    with in_verb(chain=tuple(f"m.v{n}" for n in range(MAX_CALL_DEPTH))):
        looped = await failed(outgoing, "other", "echo")
    assert looped.kind == "loop"
    assert f"call depth limit {MAX_CALL_DEPTH} exceeded" in looped.message
    with in_verb(), pytest.raises(CallFailed) as raised:
        outgoing.call("other", "echo", Msg("x"), Msg, None)
    blocking = raised.value
    assert blocking.kind == "denied"
    assert "called synchronously from an async verb" in blocking.message


async def test_a_module_missing_from_the_table_or_a_realm_without_endpoint_is_not_live(
    outgoing: OutgoingCalls, other: str
) -> None:
    with in_verb():
        realm = await failed(outgoing, "balance", "get", realm="bank")
        assert (realm.kind, realm.message.startswith("no endpoint for realm bank")) == ("not_live", True)
        outgoing.use_routes(Routes(2, {"svc": "127.0.0.1:1"}, ALLOWED))
        gone = await failed(outgoing, "other", "echo")
        assert (gone.kind, gone.message) == ("not_live", "module other is not live right now")


async def test_an_older_table_is_ignored_and_settling_waits_for_calls_to_dropped_endpoints(
    outgoing: OutgoingCalls, other: str
) -> None:
    global _entered, _gate
    _entered, _gate = asyncio.Event(), asyncio.Event()
    assert outgoing.use_routes(Routes(0, {}, {})) is None
    with in_verb():
        waiting = asyncio.ensure_future(outgoing.call_async("other", "gated", Msg(""), Msg, None))
        await asyncio.wait_for(_entered.wait(), 10)
    assert outgoing.use_routes(Routes(2, {"svc": "127.0.0.1:1"}, ALLOWED)) == {other}
    settled = asyncio.ensure_future(outgoing.settle({other}))
    await asyncio.sleep(0)
    assert not settled.done()
    _gate.set()
    assert await waiting == Msg("opened")
    await asyncio.wait_for(settled, 10)
