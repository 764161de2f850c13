"""The runner protocol: length-prefixed msgspec-msgpack frames over TCP, multiplexed by stream id.

A frame is a 4-byte big-endian payload length followed by one msgpack-encoded message, an array
whose first element names the message (`["call", ...]`). The format is documented for people in
`docs/runner-protocol.md`; this module is its single implementation: the messages, the framing,
an asyncio connection, a blocking one for threads (a runner serves its call connections on
threads), and two call clients (an asyncio one multiplexing many calls on one connection, and a
blocking one for the threads of sync verbs).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal, cast, get_args

import msgspec

ErrorKind = Literal[
    "not_found", "not_live", "crashed", "bad_request", "verb_error", "internal", "denied", "loop"
]
ERROR_KINDS: frozenset[str] = frozenset(get_args(ErrorKind))

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
# Bytes asked of the socket per read on a blocking connection: under malloc's mmap threshold, as a
# larger buffer costs an mmap() and munmap() per read.
RECEIVE_SIZE = 64 * 1024

_NO_HEADERS: dict[str, str] = {}


def error_kind(text: str) -> ErrorKind:
    """`text` as an error kind; anything unknown (a newer peer's kind) is `internal`."""
    return cast(ErrorKind, text) if text in ERROR_KINDS else "internal"


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame."""


class ConnectionLost(ConnectionError):
    """The connection closed while a call was waiting for its reply."""


class ReplyLost(ConnectionLost):
    """The connection closed after the call was sent, before its reply: the callee stopped while
    it ran (most likely its process died), so the call may have had effects."""


# ---------------------------------------------------------------------------------------------
# Messages. Calls go to a runner's own listening port (from the backplane or from another runner);
# everything else travels on the control connection a runner opens to the backplane.


class Call(msgspec.Struct, tag="call", array_like=True, frozen=True):
    """Invoke `module.verb` with an FTL-JSON request body; answered by a Reply with the same stream."""

    stream: int
    module: str
    verb: str
    body: bytes
    request_id: str
    chain: tuple[str, ...] = ()  # the calling verbs, outermost first ("" chain: an outside caller)
    headers: dict[str, str] = _NO_HEADERS


class Reply(msgspec.Struct, tag="reply", array_like=True, frozen=True):
    """An FTL-JSON response body, or an error (`error_kind` set) with the message for the caller."""

    stream: int
    body: bytes = b""
    error_kind: str = ""
    error_message: str = ""


class WireDiagnostic(msgspec.Struct, array_like=True, frozen=True):
    message: str
    file: str = ""
    line: int = 0
    column: int = 0


class Register(msgspec.Struct, tag="register", array_like=True, frozen=True):
    """Runner → backplane, first message: the module loaded, here is its schema and where I listen."""

    deployment: str
    pid: int
    endpoint: str
    schema: Any  # the module's schema as `ftl.schema.to_json` gives it


class LoadFailed(msgspec.Struct, tag="load_failed", array_like=True, frozen=True):
    """Runner → backplane, first message: the module could not be imported or extracted."""

    deployment: str
    pid: int
    diagnostics: list[WireDiagnostic]


class Routes(msgspec.Struct, tag="routes", array_like=True, frozen=True):
    """Backplane → runner: where every live module listens, and what each of this module's verbs may call.

    `calls` maps a verb's schema name to the targets it may call: `module.verb`, or
    `module.verb@realm` for an external realm. The runner answers with RoutesApplied once no call it
    made is still waiting on an endpoint this table no longer lists.
    """

    version: int
    endpoints: dict[str, str]
    calls: dict[str, list[str]]


class RoutesApplied(msgspec.Struct, tag="routes_applied", array_like=True, frozen=True):
    version: int


class EventRecord(msgspec.Struct, array_like=True, frozen=True):
    """One timeline event from a runner; the module is the runner's own."""

    kind: str
    time: float
    verb: str = ""
    request_id: str = ""
    duration_ms: float | None = None
    level: str = ""
    message: str = ""
    data: dict[str, Any] = {}


class Events(msgspec.Struct, tag="events", array_like=True, frozen=True):
    """Runner → backplane: a batch of timeline events, sent asynchronously."""

    events: list[EventRecord]


class Publish(msgspec.Struct, tag="publish", array_like=True, frozen=True):
    """Runner → backplane: one event published to `module.topic`, a topic of the runner's module.

    Sent without an answer, in the order the runner's code published. `body` is the event in
    FTL-JSON; `request_id` and `caller` (`module.verb`) name the call that published, if any.
    """

    module: str
    topic: str
    body: bytes
    request_id: str = ""
    caller: str = ""


class Stop(msgspec.Struct, tag="stop", array_like=True, frozen=True):
    """Backplane → runner: flush what you have and exit."""


Message = Call | Reply | Register | LoadFailed | Routes | RoutesApplied | Events | Publish | Stop

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def encode_frame(message: Message) -> bytes:
    """One frame: length header and payload. For the event loop's thread; others use BlockingConnection."""
    return _frame(_encoder, message)


def _frame(encoder: msgspec.msgpack.Encoder, message: Message) -> bytes:
    buffer = bytearray(HEADER.size)
    encoder.encode_into(message, buffer, HEADER.size)
    HEADER.pack_into(buffer, 0, len(buffer) - HEADER.size)
    return bytes(buffer)


def decode_message(payload: bytes | memoryview) -> Message:
    message: Message = _decoder.decode(payload)
    return message


class FrameBuffer:
    """Collects received bytes and hands back every complete message."""

    __slots__ = ("_buffer", "_decoder")

    def __init__(self, decoder: msgspec.msgpack.Decoder[Message] | None = None) -> None:
        self._buffer = bytearray()
        self._decoder = decoder or _decoder

    def feed(self, data: bytes) -> list[Message]:
        if not self._buffer:
            # The common case: whole frames arrived in one read; decode without copying.
            messages, used = self._parse(data)
            if used < len(data):
                self._buffer += data[used:]
            return messages
        self._buffer += data
        if len(self._buffer) < HEADER.size:
            return []
        (length,) = HEADER.unpack_from(self._buffer, 0)
        if HEADER.size + length > len(self._buffer) and length <= MAX_FRAME:
            return []  # the first frame is still incomplete: no need to copy yet
        messages, used = self._parse(bytes(self._buffer))
        del self._buffer[:used]
        return messages

    def _parse(self, data: bytes) -> tuple[list[Message], int]:
        messages: list[Message] = []
        position = 0
        size = len(data)
        view = memoryview(data)
        while size - position >= HEADER.size:
            (length,) = HEADER.unpack_from(data, position)
            if length > MAX_FRAME:
                raise ProtocolError(f"frame of {length} bytes is over the {MAX_FRAME} byte limit")
            end = position + HEADER.size + length
            if end > size:
                break
            try:
                messages.append(self._decoder.decode(view[position + HEADER.size : end]))
            except msgspec.DecodeError as exc:
                raise ProtocolError(f"undecodable frame: {exc}") from exc
            position = end
        return messages, position


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """`127.0.0.1:8000` → ("127.0.0.1", 8000)."""
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"malformed endpoint {endpoint!r}: expected host:port")
    return host.strip("[]"), int(port)


def join_endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---------------------------------------------------------------------------------------------
# asyncio side


class Connection(asyncio.Protocol):
    """One framed connection. Every received message goes to `on_message(connection, message)`.

    With `coalesce`, frames sent during one pass of the event loop go out in one write at its end
    (for a caller with many calls in flight: one system call instead of one per call).
    """

    def __init__(
        self,
        on_message: Callable[[Connection, Message], None],
        on_lost: Callable[[Connection, Exception | None], None] | None = None,
        *,
        coalesce: bool = False,
    ) -> None:
        self._on_message = on_message
        self._on_lost = on_lost
        self._frames = FrameBuffer()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._closed_waiter: asyncio.Future[None] | None = None
        self._coalesce = coalesce
        self._outgoing: list[bytes] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # Kept: asyncio.get_running_loop() costs a getpid() system call each time.
        self._loop = asyncio.get_running_loop()
        self._closed_waiter = self._loop.create_future()

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._frames.feed(data)
        except ProtocolError as exc:
            self.abort(exc)
            return
        on_message = self._on_message
        for message in messages:
            on_message(self, message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._closed_waiter is not None and not self._closed_waiter.done():
            self._closed_waiter.set_result(None)
        if self._on_lost is not None:
            self._on_lost(self, exc)

    def send(self, message: Message) -> None:
        transport = self.transport
        if transport is None or self.closed or transport.is_closing():
            return
        if not self._coalesce:
            transport.write(encode_frame(message))
            return
        if not self._outgoing:
            assert self._loop is not None
            self._loop.call_soon(self._flush)
        self._outgoing.append(encode_frame(message))

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        transport = self.transport
        if outgoing and transport is not None and not transport.is_closing():
            transport.write(outgoing[0] if len(outgoing) == 1 else b"".join(outgoing))

    @property
    def peer(self) -> str:
        if self.transport is None:
            return ""
        address = self.transport.get_extra_info("peername")
        return join_endpoint(address[0], address[1]) if address else ""

    def close(self) -> None:
        """Close once everything written so far has been sent."""
        if self.transport is not None:
            self._flush()
            self.transport.close()

    async def wait_closed(self) -> None:
        if self._closed_waiter is not None:
            await asyncio.shield(self._closed_waiter)

    def abort(self, exc: Exception | None = None) -> None:
        if self.transport is not None:
            self.transport.abort()


class CallClient:
    """Calls over one pooled connection to a runner; any number of calls in flight at once."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._next_stream = 0
        self._connection: Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    async def connect(cls, endpoint: str) -> CallClient:
        client = cls(endpoint)
        host, port = split_endpoint(endpoint)
        client._loop = loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: Connection(client._received, client._lost, coalesce=True), host, port
        )
        client._connection = connection
        return client

    @property
    def closed(self) -> bool:
        return self._connection is None or self._connection.closed

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def call(
        self,
        module: str,
        verb: str,
        body: bytes,
        request_id: str,
        chain: tuple[str, ...] = (),
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        connection = self._connection
        if connection is None or connection.closed or self._loop is None:
            raise ConnectionLost(f"connection to {self.endpoint} is closed")
        self._next_stream += 1
        stream = self._next_stream
        future: asyncio.Future[Reply] = self._loop.create_future()
        self._pending[stream] = future
        try:
            connection.send(
                Call(stream, module, verb, body, request_id, chain, dict(headers) if headers else _NO_HEADERS)
            )
            return await future
        finally:
            self._pending.pop(stream, None)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def _received(self, connection: Connection, message: Message) -> None:
        if isinstance(message, Reply):
            future = self._pending.get(message.stream)
            if future is not None and not future.done():
                future.set_result(message)

    def _lost(self, connection: Connection, exc: Exception | None) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ReplyLost(f"connection to {self.endpoint} closed during the call"))


class ClientPool:
    """One CallClient per endpoint, connected on first use and shared by every caller."""

    def __init__(self) -> None:
        self._clients: dict[str, CallClient] = {}
        self._connecting: dict[str, asyncio.Task[CallClient]] = {}

    def ready(self, endpoint: str) -> CallClient | None:
        """The connected client for `endpoint`, if there is one (the no-await fast path)."""
        client = self._clients.get(endpoint)
        return client if client is not None and not client.closed else None

    async def get(self, endpoint: str) -> CallClient:
        client = self.ready(endpoint)
        if client is not None:
            return client
        connecting = self._connecting.get(endpoint)
        if connecting is None:
            connecting = asyncio.get_running_loop().create_task(CallClient.connect(endpoint))
            self._connecting[endpoint] = connecting
            connecting.add_done_callback(lambda _: self._connected(endpoint, connecting))
        return await asyncio.shield(connecting)

    def _connected(self, endpoint: str, task: asyncio.Task[CallClient]) -> None:
        if self._connecting.get(endpoint) is task:
            del self._connecting[endpoint]
        if not task.cancelled() and task.exception() is None:
            self._clients[endpoint] = task.result()

    def retain(self, endpoints: Collection[str]) -> None:
        """Close the clients of every endpoint not in `endpoints`."""
        for endpoint in [e for e in self._clients if e not in endpoints]:
            self._clients.pop(endpoint).close()

    def close(self) -> None:
        self.retain(())


# ---------------------------------------------------------------------------------------------
# Blocking side: threads on sockets of their own, with no hand-off through the event loop. A sync
# verb calling another verb waits in its own thread, so the call costs one round trip; a runner
# serves each call connection on threads (`ftl.runtime._serving`).


class BlockingConnection:
    """A framed connection on a socket in blocking mode: one thread receives, any thread sends."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket = sock
        self._encoder = msgspec.msgpack.Encoder()
        self._frames = FrameBuffer(msgspec.msgpack.Decoder(Message))
        self._received: list[Message] = []
        self._sending = threading.Lock()  # held for a whole frame, and while encoding with _encoder
        self.closed = False

    @classmethod
    def connect(cls, endpoint: str, timeout: float | None = None) -> BlockingConnection:
        host, port = split_endpoint(endpoint)
        return cls(socket.create_connection((host, port), timeout=timeout))

    def send(self, message: Message) -> None:
        with self._sending:
            self._socket.sendall(_frame(self._encoder, message))

    def try_send(self, message: Message) -> bool:
        """`send` without waiting, for the event loop's thread: False (and nothing sent) when another
        thread is sending; what the socket cannot take at once, a thread of its own finishes."""
        if not self._sending.acquire(blocking=False):
            return False
        try:
            frame = _frame(self._encoder, message)
            sent = self._socket.send(frame, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        except BaseException:
            self._sending.release()
            raise
        if sent == len(frame):
            self._sending.release()
        else:  # the lock goes with the rest of the frame, so nothing is sent in between
            threading.Thread(target=self._send_rest, args=(memoryview(frame)[sent:],), daemon=True).start()
        return True

    def _send_rest(self, rest: memoryview) -> None:
        try:
            self._socket.sendall(rest)
        except OSError:
            pass  # the peer went away; the next send or receive says so
        finally:
            self._sending.release()

    def receive(self) -> Message | None:
        """The next message, or None once the peer has closed the connection."""
        if not self._received and not self._read():
            return None
        return self._received.pop(0)

    def receive_all(self) -> list[Message] | None:
        """Every message received so far (waiting for one at least), or None once the peer has closed."""
        if not self._received and not self._read():
            return None
        received, self._received = self._received, []
        return received

    def _read(self) -> bool:
        """Read until a whole message has arrived; False when the peer closed first."""
        while not self._received:
            data = self._socket.recv(RECEIVE_SIZE)
            if not data:
                return False
            self._received = self._frames.feed(data)
        return True

    def close(self) -> None:
        """Close; a thread blocked in a send or receive on this connection returns with an error."""
        self.closed = True
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        with self._sending:  # the descriptor is never released under a sender's feet
            self._socket.close()


class BlockingCallClient:
    """One call at a time over a connection owned by a single thread."""

    def __init__(self, endpoint: str, timeout: float | None = None) -> None:
        self.endpoint = endpoint
        self._connection = BlockingConnection.connect(endpoint, timeout)
        self._next_stream = 0

    @property
    def closed(self) -> bool:
        return self._connection.closed

    def call(
        self,
        module: str,
        verb: str,
        body: bytes,
        request_id: str,
        chain: tuple[str, ...] = (),
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        self._next_stream += 1
        stream = self._next_stream
        headers = dict(headers) if headers else _NO_HEADERS
        try:
            self._connection.send(Call(stream, module, verb, body, request_id, chain, headers))
            while (reply := self._connection.receive()) is not None:
                if isinstance(reply, Reply) and reply.stream == stream:
                    return reply
        except (OSError, ProtocolError):
            self.close()
            raise
        self.close()
        raise ReplyLost(f"connection to {self.endpoint} closed during the call")

    def close(self) -> None:
        self._connection.close()
