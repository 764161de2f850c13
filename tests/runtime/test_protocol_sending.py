"""Sending frames: a blocking connection shared by threads and the event loop, and coalesced writes."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from ftl.runtime.protocol import (
    BlockingConnection,
    Call,
    CallClient,
    Connection,
    Message,
    Reply,
    encode_frame,
    join_endpoint,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pair() -> tuple[BlockingConnection, BlockingConnection]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        left = socket.create_connection(listener.getsockname())
        right, _ = listener.accept()
    return BlockingConnection(left), BlockingConnection(right)


def test_receive_all_hands_back_every_message_of_a_read_and_none_at_the_end() -> None:
    sender, receiver = pair()
    try:
        sender.send(Reply(1, b"a"))
        sender.send(Reply(2, b"b"))
        received: list[Message] = []
        while len(received) < 2:
            batch = receiver.receive_all()
            assert batch is not None
            received.extend(batch)
        assert received == [Reply(1, b"a"), Reply(2, b"b")]
        sender.close()
        assert receiver.receive_all() is None
    finally:
        receiver.close()


def test_receive_hands_back_messages_one_at_a_time_across_reads() -> None:
    sender, receiver = pair()
    try:
        sender.send(Reply(1, b"first body"))
        first = receiver.receive()
        sender.send(Reply(2, b"SECOND BODY, LONGER"))
        second = receiver.receive()
        assert (first, second) == (Reply(1, b"first body"), Reply(2, b"SECOND BODY, LONGER"))
    finally:
        sender.close()
        receiver.close()


def test_try_send_never_waits_and_a_frame_the_socket_cannot_take_at_once_still_arrives_whole() -> None:
    sender, receiver = pair()
    big = Reply(1, b"x" * (8 * 1024 * 1024))  # far more than a socket buffer holds
    received: list[Message] = []

    def read() -> None:
        while len(received) < 2:
            batch = receiver.receive_all()
            assert batch is not None
            received.extend(batch)

    reader = threading.Thread(target=read)
    try:
        assert sender.try_send(big)  # returns at once: a thread of its own sends the rest
        reader.start()
        sender.send(Reply(2, b"after"))  # waits for the big frame to be out: frames never interleave
        reader.join(30)
        assert received == [big, Reply(2, b"after")]
    finally:
        sender.close()
        receiver.close()


def test_try_send_declines_while_another_thread_is_sending() -> None:
    sender, receiver = pair()
    try:
        with sender._sending:  # what a thread sending a frame holds
            assert not sender.try_send(Reply(1))
        assert sender.try_send(Reply(2))
        assert receiver.receive_all() == [Reply(2)]
    finally:
        sender.close()
        receiver.close()


def test_close_wakes_a_thread_blocked_in_a_send_to_a_peer_that_does_not_read() -> None:
    sender, receiver = pair()
    failed: list[BaseException] = []

    def send_forever() -> None:
        try:
            sender.send(Reply(1, b"x" * (16 * 1024 * 1024)))
        except OSError as exc:
            failed.append(exc)

    blocked = threading.Thread(target=send_forever)
    blocked.start()
    try:
        blocked.join(0.2)
        assert blocked.is_alive()  # the peer reads nothing: the send waits for room
        sender.close()
        blocked.join(10)
        assert not blocked.is_alive() and failed
    finally:
        receiver.close()


async def test_calls_sent_in_one_pass_of_the_loop_leave_in_one_write() -> None:
    writes: list[bytes] = []
    received: list[Message] = []

    def answer(connection: Connection, message: Message) -> None:
        received.append(message)
        assert isinstance(message, Call)
        connection.send(Reply(message.stream, message.body))

    class Recording(Connection):
        def data_received(self, data: bytes) -> None:
            writes.append(data)
            super().data_received(data)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Recording(answer), "127.0.0.1", 0)
    client = await CallClient.connect(join_endpoint("127.0.0.1", server.sockets[0].getsockname()[1]))
    try:
        replies = await asyncio.wait_for(
            asyncio.gather(*(client.call("m", "v", str(n).encode(), f"r{n}") for n in range(5))), 10
        )
        assert [r.body for r in replies] == [str(n).encode() for n in range(5)]
        frames = b"".join(encode_frame(message) for message in received)
        assert writes == [frames]  # one write, received in one read on loopback
    finally:
        client.close()
        server.close()
