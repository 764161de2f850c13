"""Call connections served by threads: sync verbs run where they are read, slow ones never hold up
the calls behind them, and a connection's end leaves the server serving."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator

import pytest
from served_verbs import Collected, Msg, bound, serving

from ftl.runtime.protocol import BlockingCallClient, CallClient

pytestmark = pytest.mark.anyio

BLOCKED_AT_ONCE = 4
_started = threading.Event()
_released = threading.Event()
_together = threading.Barrier(BLOCKED_AT_ONCE)


def shout(req: Msg) -> Msg:
    return Msg(req.text.upper())


async def whisper(req: Msg) -> Msg:
    await asyncio.sleep(0)
    return Msg(req.text.lower())


def hold(req: Msg) -> Msg:
    _started.set()
    if not _released.wait(10):
        raise TimeoutError("never released")
    return Msg("released")


def release(req: Msg) -> Msg:
    _released.set()
    return Msg("done")


def meet(req: Msg) -> Msg:
    # Returns only if BLOCKED_AT_ONCE calls run at the same time, each in a thread of its own.
    _together.wait(10)
    return Msg(req.text)


VERBS = {name: bound(func) for name, func in [(f.__name__, f) for f in (shout, whisper, hold, release, meet)]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def endpoint() -> AsyncIterator[str]:
    _started.clear()
    _released.clear()
    _together.reset()
    async with serving("svc", VERBS, Collected()) as where:
        yield where
    _released.set()


def body(text: str) -> bytes:
    return json.dumps({"text": text}).encode()


async def test_a_blocked_sync_verb_does_not_hold_up_the_calls_behind_it_on_its_connection(
    endpoint: str,
) -> None:
    client = await CallClient.connect(endpoint)
    try:
        held = asyncio.ensure_future(client.call("svc", "hold", body(""), "r1"))
        assert await asyncio.to_thread(_started.wait, 10)
        quick = await asyncio.wait_for(client.call("svc", "shout", body("hi"), "r2"), 10)
        assert quick.body == b'{"text":"HI"}'
        assert not held.done()
        # The verb that lets the first one finish arrives on the same connection, behind it.
        assert (await asyncio.wait_for(client.call("svc", "release", body(""), "r3"), 10)).body
        assert (await asyncio.wait_for(held, 10)).body == b'{"text":"released"}'
    finally:
        client.close()


async def test_sync_verbs_that_block_together_each_get_a_thread(endpoint: str) -> None:
    client = await CallClient.connect(endpoint)
    try:
        replies = await asyncio.wait_for(
            asyncio.gather(
                *(client.call("svc", "meet", body(str(n)), f"r{n}") for n in range(BLOCKED_AT_ONCE))
            ),
            20,
        )
        assert [(r.error_kind, r.body) for r in replies] == [
            ("", json.dumps({"text": str(n)}, separators=(",", ":")).encode()) for n in range(BLOCKED_AT_ONCE)
        ]
    finally:
        client.close()


async def test_many_sync_and_async_calls_in_flight_on_one_connection_each_get_their_own_reply(
    endpoint: str,
) -> None:
    client = await CallClient.connect(endpoint)
    try:
        calls = [
            client.call("svc", "shout" if n % 2 else "whisper", body(f"Word{n}"), f"r{n}") for n in range(300)
        ]
        replies = await asyncio.wait_for(asyncio.gather(*calls), 20)
        expected = [(f"WORD{n}" if n % 2 else f"word{n}") for n in range(300)]
        assert [json.loads(r.body)["text"] for r in replies] == expected
    finally:
        client.close()


async def test_a_caller_that_leaves_mid_call_leaves_the_server_serving(endpoint: str) -> None:
    leaving = await CallClient.connect(endpoint)
    held = asyncio.ensure_future(leaving.call("svc", "hold", body(""), "r1"))
    assert await asyncio.to_thread(_started.wait, 10)
    leaving.close()
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(held, 10)
    _released.set()

    def blocking_call() -> bytes:
        client = BlockingCallClient(endpoint, timeout=10)
        try:
            return client.call("svc", "shout", body("still here"), "r2").body
        finally:
            client.close()

    assert await asyncio.to_thread(blocking_call) == b'{"text":"STILL HERE"}'
    fresh = await CallClient.connect(endpoint)
    try:
        assert (await asyncio.wait_for(fresh.call("svc", "whisper", body("OK"), "r3"), 10)).body == (
            b'{"text":"ok"}'
        )
    finally:
        fresh.close()
