"""Serving verb calls in process: replies, typed errors, call events, blocking connections, draining."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from served_verbs import Collected, Msg, bound, serving

from ftl.runtime._call_errors import decode_failure
from ftl.runtime._serving import CallServer
from ftl.runtime.context import CALLER_HEADER, MAX_CALL_DEPTH
from ftl.runtime.protocol import BlockingCallClient, CallClient, Reply

pytestmark = pytest.mark.anyio

_SOURCE = Path(__file__).read_text().splitlines()

_started = threading.Event()
_released = threading.Event()


def shout(req: Msg) -> Msg:
    return Msg(req.text.upper())


async def whisper(req: Msg) -> Msg:
    return Msg(req.text.lower())


def fail(req: Msg) -> Msg:
    raise ValueError(f"cannot handle {req.text}")


def silent(req: Msg) -> Msg:
    raise RuntimeError()


def wrong(req: Msg) -> Msg:
    return 42  # type: ignore[return-value]


def wait(req: Msg) -> Msg:
    _started.set()
    if not _released.wait(10):
        raise TimeoutError("never released")
    return Msg("released")


VERBS = {
    "shout": bound(shout),
    "shoutLoud": bound(shout, "shoutLoud"),
    "whisper": bound(whisper),
    "fail": bound(fail),
    "silent": bound(silent),
    "wrong": bound(wrong),
    "wait": bound(wait),
    "configured": bound(shout, "configured", problem="config `greeting` of module svc is not set"),
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def events() -> Collected:
    return Collected()


@pytest.fixture
async def endpoint(events: Collected) -> AsyncIterator[str]:
    async with serving("svc", VERBS, events) as where:
        yield where


def body(text: str) -> bytes:
    return json.dumps({"text": text}).encode()


async def test_sync_and_async_verbs_answer_and_become_call_events(endpoint: str, events: Collected) -> None:
    client = await CallClient.connect(endpoint)
    shouted, whispered = await asyncio.gather(
        client.call("svc", "shout", body("Hi"), "req-1", ("other.relay",)),
        client.call("svc", "whisper", body("Hi"), "req-2", (), {CALLER_HEADER: "ftl call"}),
    )
    assert (shouted.body, whispered.body) == (b'{"text":"HI"}', b'{"text":"hi"}')
    by_request = {e.request_id: e for e in events.added}
    assert (by_request["req-1"].kind, by_request["req-1"].verb, by_request["req-1"].level) == (
        "call",
        "shout",
        "info",
    )
    assert by_request["req-1"].data == {
        "request": '{"text": "Hi"}',
        "caller": "other.relay",
        "response": '{"text":"HI"}',
    }
    assert by_request["req-2"].data["caller"] == "ftl call"
    assert by_request["req-2"].duration_ms is not None


@pytest.mark.parametrize(
    ("module", "verb", "request_body", "kind", "message"),
    [
        ("svc", "nope", body("x"), "not_found", "module svc has no verb nope"),
        ("other", "shout", body("x"), "not_found", "this runner serves module svc, not other"),
        ("svc", "shout", b'{"text": 5}', "bad_request", None),
        ("svc", "fail", body("this"), "verb_error", "cannot handle this"),
        ("svc", "silent", body("x"), "verb_error", "RuntimeError"),
        ("svc", "wrong", body("x"), "internal", None),
        ("svc", "configured", body("x"), "internal", "config `greeting` of module svc is not set"),
    ],
)
async def test_failures_are_typed_replies(
    endpoint: str, module: str, verb: str, request_body: bytes, kind: str, message: str | None
) -> None:
    client = await CallClient.connect(endpoint)
    reply = await client.call(module, verb, request_body, "req-1")
    assert reply.error_kind == kind
    if message is not None:
        assert reply.error_message == message
    assert (await client.call("svc", "shout", body("alive"), "req-2")).body == b'{"text":"ALIVE"}'


async def test_a_verb_error_keeps_its_traceback_for_the_timeline(endpoint: str, events: Collected) -> None:
    client = await CallClient.connect(endpoint)
    await client.call("svc", "fail", body("this"), "req-fail")
    [event] = [e for e in events.added if e.request_id == "req-fail"]
    assert (event.level, event.message, event.data["error_kind"]) == (
        "error",
        "cannot handle this",
        "verb_error",
    )
    assert "ValueError: cannot handle this" in event.data["traceback"]


async def test_a_verb_error_tells_its_caller_what_was_raised_and_where(
    endpoint: str, events: Collected
) -> None:
    client = await CallClient.connect(endpoint)
    reply = await client.call("svc", "fail", body("this"), "req-where")
    failure = decode_failure(reply.body)
    raise_line = next(n for n, line in enumerate(_SOURCE, 1) if 'raise ValueError(f"cannot handle' in line)
    assert (failure.exception, failure.where) == ("ValueError", f"{__file__}:{raise_line}")
    # The user's own frames only: the runner's serving code is FTL's business.
    assert failure.traceback.startswith("Traceback (most recent call last):")
    assert "in fail" in failure.traceback and "ftl/runtime/" not in failure.traceback.replace("\\", "/")
    assert failure.traceback.endswith("ValueError: cannot handle this\n")
    [event] = [e for e in events.added if e.request_id == "req-where"]
    assert (event.data["exception"], event.data["where"]) == ("ValueError", failure.where)
    assert event.data["traceback"] == failure.traceback
    # A call refused before the verb ran has no exception to tell about.
    refused = await client.call("svc", "shout", b'{"text": 5}', "req-refused")
    assert (refused.error_kind, refused.body) == ("bad_request", b"")


async def test_verbs_are_found_by_either_name_and_the_chain_has_a_limit(endpoint: str) -> None:
    client = await CallClient.connect(endpoint)
    assert (await client.call("svc", "shoutLoud", body("a"), "r")).body == b'{"text":"A"}'
    deep = tuple(f"m.v{n}" for n in range(MAX_CALL_DEPTH))
    looped = await client.call("svc", "shout", body("a"), "r", deep)
    assert looped.error_kind == "loop"
    assert f"call depth limit {MAX_CALL_DEPTH} exceeded" in looped.error_message


async def test_a_blocking_caller_is_served_on_a_thread_of_its_own(endpoint: str) -> None:
    def calls() -> list[Reply]:
        client = BlockingCallClient(endpoint)
        try:
            return [
                client.call("svc", "shout", body("sync"), "r1"),
                client.call("svc", "whisper", body("ASYNC"), "r2"),
                client.call("svc", "nope", body(""), "r3"),
            ]
        finally:
            client.close()

    shouted, whispered, missing = await asyncio.to_thread(calls)
    assert (shouted.body, whispered.body, missing.error_kind) == (
        b'{"text":"SYNC"}',
        b'{"text":"async"}',
        "not_found",
    )


async def test_drain_waits_for_the_calls_being_served(events: Collected) -> None:
    _started.clear()
    _released.clear()
    server = CallServer("svc", VERBS, events)
    listener = await asyncio.get_running_loop().create_server(server.connection, "127.0.0.1", 0)
    try:
        client = await CallClient.connect(f"127.0.0.1:{listener.sockets[0].getsockname()[1]}")
        waiting = asyncio.ensure_future(client.call("svc", "wait", body(""), "r"))
        assert await asyncio.to_thread(_started.wait, 10)
        drained = asyncio.ensure_future(server.drain())
        await asyncio.sleep(0)
        assert not drained.done()
        _released.set()
        assert (await waiting).body == b'{"text":"released"}'
        await asyncio.wait_for(drained, 10)
    finally:
        _released.set()
        listener.close()
