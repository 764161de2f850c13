"""The runner protocol: framing, messages, and the two call clients against a real socket."""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest

from ftl.runtime.protocol import (
    HEADER,
    MAX_FRAME,
    BlockingCallClient,
    Call,
    CallClient,
    ClientPool,
    Connection,
    ConnectionLost,
    EventRecord,
    Events,
    FrameBuffer,
    Message,
    ProtocolError,
    Register,
    Reply,
    Routes,
    Stop,
    decode_message,
    encode_frame,
    join_endpoint,
    split_endpoint,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_a_frame_is_a_big_endian_length_then_a_tagged_msgpack_array() -> None:
    frame = encode_frame(Stop())
    (length,) = struct.unpack(">I", frame[:4])
    assert length == len(frame) - 4
    assert msgspec.msgpack.decode(frame[4:]) == ["stop"]
    call = Call(7, "echo", "echo", b'{"name":"a"}', "req-1", ("a.b",), {"k": "v"})
    assert msgspec.msgpack.decode(encode_frame(call)[4:]) == [
        "call",
        7,
        "echo",
        "echo",
        b'{"name":"a"}',
        "req-1",
        ["a.b"],
        {"k": "v"},
    ]


@pytest.mark.parametrize(
    "message",
    [
        Call(1, "m", "v", b"{}", "req-x"),
        Reply(1, b'{"a":1}'),
        Reply(2, error_kind="verb_error", error_message="boom"),
        Register("dpl-r-m-0123456789", 42, "127.0.0.1:5", {"name": "m"}),
        Routes(3, {"m": "127.0.0.1:5"}, {"v": ["other.verb"]}),
        Events([EventRecord("log", 1.5, "v", "req-1", None, "info", "hello", {"logger": "x"})]),
        Stop(),
    ],
)
def test_every_message_round_trips(message: Message) -> None:
    assert decode_message(encode_frame(message)[4:]) == message


def test_frames_split_anywhere_are_reassembled() -> None:
    frames = b"".join(encode_frame(Reply(i, b"x" * i)) for i in range(1, 40))
    buffer = FrameBuffer()
    received: list[Message] = []
    for start in range(0, len(frames), 7):
        received.extend(buffer.feed(frames[start : start + 7]))
    assert [m.stream for m in received if isinstance(m, Reply)] == list(range(1, 40))


def test_an_oversized_or_garbled_frame_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="limit"):
        FrameBuffer().feed(HEADER.pack(MAX_FRAME + 1) + b"x")
    with pytest.raises(ProtocolError, match="undecodable"):
        FrameBuffer().feed(HEADER.pack(3) + b"\x93\x01\x02")


def test_endpoints() -> None:
    assert split_endpoint("127.0.0.1:8000") == ("127.0.0.1", 8000)
    assert split_endpoint(join_endpoint("::1", 9)) == ("::1", 9)
    with pytest.raises(ValueError, match="host:port"):
        split_endpoint("nowhere")


Handler = Callable[[Connection, Call], None]


@pytest.fixture
async def server() -> AsyncIterator[Callable[[Handler], asyncio.Future[str]]]:
    """Start a framed server whose calls go to a handler; yields a starter returning its endpoint."""
    servers: list[asyncio.Server] = []

    def start(handler: Handler) -> asyncio.Future[str]:
        async def run() -> str:
            loop = asyncio.get_running_loop()

            def received(connection: Connection, message: Message) -> None:
                if isinstance(message, Call):
                    handler(connection, message)

            srv = await loop.create_server(lambda: Connection(received), "127.0.0.1", 0)
            servers.append(srv)
            return join_endpoint("127.0.0.1", srv.sockets[0].getsockname()[1])

        return asyncio.ensure_future(run())

    yield start
    for srv in servers:
        srv.close()


def echo(connection: Connection, call: Call) -> None:
    connection.send(Reply(call.stream, call.body + call.request_id.encode()))


async def test_many_concurrent_calls_share_one_connection(
    server: Callable[[Handler], asyncio.Future[str]],
) -> None:
    endpoint = await server(echo)
    client = await CallClient.connect(endpoint)
    replies = await asyncio.gather(*(client.call("m", "v", f"{i}:".encode(), f"r{i}") for i in range(200)))
    assert [r.body for r in replies] == [f"{i}:r{i}".encode() for i in range(200)]
    assert client.in_flight == 0
    client.close()


async def test_replies_may_come_back_in_any_order(server: Callable[[Handler], asyncio.Future[str]]) -> None:
    held: list[tuple[Connection, Call]] = []

    def hold_two(connection: Connection, call: Call) -> None:
        held.append((connection, call))
        if len(held) == 2:
            for conn, c in reversed(held):
                echo(conn, c)

    client = await CallClient.connect(await server(hold_two))
    first, second = await asyncio.gather(client.call("m", "v", b"1", "a"), client.call("m", "v", b"2", "b"))
    assert (first.body, second.body) == (b"1a", b"2b")


async def test_a_lost_connection_fails_the_calls_waiting_on_it(
    server: Callable[[Handler], asyncio.Future[str]],
) -> None:
    client = await CallClient.connect(await server(lambda connection, call: connection.close()))
    with pytest.raises(ConnectionLost):
        await client.call("m", "v", b"{}", "r")
    assert client.closed
    with pytest.raises(ConnectionLost):
        await client.call("m", "v", b"{}", "r")


async def test_the_pool_connects_once_per_endpoint(server: Callable[[Handler], asyncio.Future[str]]) -> None:
    endpoint = await server(echo)
    pool = ClientPool()
    clients = await asyncio.gather(*(pool.get(endpoint) for _ in range(5)))
    assert len({id(c) for c in clients}) == 1
    assert pool.ready(endpoint) is clients[0]
    pool.retain(())
    assert pool.ready(endpoint) is None


async def test_the_blocking_client_works_from_a_thread(
    server: Callable[[Handler], asyncio.Future[str]],
) -> None:
    endpoint = await server(echo)
    results: list[bytes] = []

    def work() -> None:
        client = BlockingCallClient(endpoint)
        for i in range(20):
            results.append(client.call("m", "v", b"x", str(i)).body)
        client.close()

    thread = threading.Thread(target=work)
    thread.start()
    await asyncio.to_thread(thread.join)
    assert results == [f"x{i}".encode() for i in range(20)]
