"""Serving verb calls: the calls that arrive on the runner's own port.

Call connections are served by threads, not by the event loop. The thread that reads a call to a
sync verb runs it right there and sends the reply itself: with the GIL, handing each call to a
worker thread and its reply back to the loop costs more than a small verb does. Calls to async
verbs go to the event loop as tasks, one hand-off per batch of frames read.

A sync verb may be slow or block, and the other calls on its connection must not wait for it. So
while calls are being served, a watchdog on the event loop looks at every connection each
`WATCH_INTERVAL_S`: one whose running calls made no progress since the last look, and that no
thread is reading, gets one more thread, which reads on and runs what it reads. Threads beyond
each connection's first are created only when needed this way, up to `MAX_EXTRA_THREADS`; a
spare one leaves after a while.

Each call runs in its call context, becomes a `call` event on the timeline, and its failure
becomes a typed error reply (with the exception's type and user-code place, `_call_errors`),
never the runner's crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from ftl.runtime import context as call_context
from ftl.runtime._call_errors import CallFailed, encode_failure, verb_failure
from ftl.runtime._event_queue import EventQueue
from ftl.runtime._in_flight import InFlight
from ftl.runtime._verb_binding import BoundVerb
from ftl.runtime._wire import Rejected, answered, invoke, received
from ftl.runtime.context import CALLER_HEADER, MAX_CALL_DEPTH, CallContext, describe_chain
from ftl.runtime.protocol import BlockingConnection, Call, ErrorKind, EventRecord, ProtocolError, Reply

# Calls running at once on one connection each hold a thread (a sync verb calling another verb
# holds it while it waits), so a busy runner may need many.
MAX_EXTRA_THREADS = 64
WATCH_INTERVAL_S = 0.001
WATCH_IDLE_LOOKS = 100  # the watchdog rests after this many looks at no call running
SPARE_THREAD_S = 30.0  # how long a thread with nothing to do waits for work before it ends
MAX_BODY_IN_TIMELINE = 4096
INCOMING = ""  # the key calls being served are counted under
# Error kinds a verb passes on unchanged when it lets a failed call escape.
PROPAGATED_KINDS = frozenset({"loop", "denied"})

_Prepared = tuple[Call, BoundVerb, CallContext]


class CallServer:
    """Runs the module's verbs for the calls that arrive on the runner's port."""

    def __init__(self, module: str, verbs: Mapping[str, BoundVerb], events: EventQueue) -> None:
        self.module = module
        self._verbs = dict(verbs)
        self._events = events
        self._loop = asyncio.get_running_loop()
        self._incoming = InFlight(self._loop)
        self._lock = threading.Lock()
        self._streams: set[_CallStream] = set()
        self._threads = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._watching = False  # a look is due (or about to be scheduled)
        self._watch: asyncio.TimerHandle | None = None
        self._idle_looks = 0

    def connection(self) -> asyncio.Protocol:
        """The protocol of one accepted call connection: the listening server's factory."""
        return _Handover(self._accept)

    async def drain(self) -> None:
        """Return once no call is being served."""
        await self._incoming.wait_idle({INCOMING})

    # -- connections and their threads --------------------------------------------------------

    def _accept(self, sock: socket.socket) -> None:
        stream = _CallStream(self, BlockingConnection(sock))
        with self._lock:
            self._streams.add(stream)
        self._start_thread(stream)

    def _start_thread(self, stream: _CallStream, *, extra: bool = False) -> None:
        """Give `stream` a thread: its first, or an `extra` one while there are fewer than the limit."""
        with self._lock:
            # Every stream in the set has a thread: the others are extra ones.
            if extra and self._threads - len(self._streams) >= MAX_EXTRA_THREADS:
                return
            self._threads += 1
        stream.thread_started()
        thread = threading.Thread(target=self._serve, args=(stream,), name=f"ftl-{self.module}", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # the system has no thread left to give
            self._thread_ended(stream)

    def _serve(self, stream: _CallStream) -> None:
        try:
            while (prepared := stream.next_call()) is not None:
                if not self._watching:
                    self._start_watching()
                message, bound, context = prepared
                try:
                    stream.send(self._run_sync(message, bound, context))
                finally:
                    self._incoming.end(INCOMING)
                    stream.call_done()
        finally:
            self._thread_ended(stream)

    def _thread_ended(self, stream: _CallStream) -> None:
        last = stream.thread_ended()
        with self._lock:
            self._threads -= 1
            if last:
                self._streams.discard(stream)

    def read(self, stream: _CallStream, connection: BlockingConnection) -> list[_Prepared] | None:
        """Read what arrived on `stream`: the sync calls to run, or None when the caller is gone.

        Calls that need no verb are answered here, and async ones handed to the loop.
        """
        try:
            messages = connection.receive_all()
        except (OSError, ProtocolError):
            messages = None
        if messages is None:
            return None
        sync_calls: list[_Prepared] = []
        async_calls: list[_Prepared] = []
        for message in messages:
            if type(message) is not Call:
                continue
            prepared = self._prepare(message)
            if type(prepared) is Reply:
                stream.send(prepared)
                continue
            assert type(prepared) is tuple
            self._incoming.begin(INCOMING)
            (async_calls if prepared[1].handle.is_async else sync_calls).append(prepared)
        if async_calls:
            try:
                self._loop.call_soon_threadsafe(self._start_tasks, stream, async_calls)
            except RuntimeError:  # a closed loop: the runner is exiting
                for _ in async_calls:
                    self._incoming.end(INCOMING)
        return sync_calls

    # -- the watchdog ---------------------------------------------------------------------------

    def _start_watching(self) -> None:
        self._watching = True
        with contextlib.suppress(RuntimeError):  # a closed loop: the runner is exiting
            self._loop.call_soon_threadsafe(self._schedule_look)

    def _schedule_look(self) -> None:
        self._idle_looks = 0
        if self._watch is None:
            self._watch = self._loop.call_later(WATCH_INTERVAL_S, self._look)

    def _look(self) -> None:
        # Cleared before looking: a thread that starts a call meanwhile schedules the next look.
        self._watch = None
        self._watching = False
        with self._lock:
            streams = list(self._streams)
        running = False
        for stream in streams:
            if stream.stuck():
                self._start_thread(stream, extra=True)
            running = running or stream.running > 0
        self._idle_looks = 0 if running else self._idle_looks + 1
        if self._idle_looks < WATCH_IDLE_LOOKS:
            self._watching = True
            self._watch = self._loop.call_later(WATCH_INTERVAL_S, self._look)

    # -- running calls --------------------------------------------------------------------------

    def _start_tasks(self, stream: _CallStream, calls: list[_Prepared]) -> None:
        for message, bound, context in calls:
            task = self._loop.create_task(self._answer_async(stream, message, bound, context))
            self._tasks.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._tasks.discard)

    async def _answer_async(
        self, stream: _CallStream, message: Call, bound: BoundVerb, context: CallContext
    ) -> None:
        try:
            stream.send_from_loop(await self._run_async(message, bound, context))
        finally:
            self._incoming.end(INCOMING)

    def _prepare(self, message: Call) -> _Prepared | Reply:
        """The verb to run and its call context, or the error reply when there is nothing to run."""
        bound = self._verbs.get(message.verb) if message.module == self.module else None
        if bound is None:
            problem = (
                f"module {self.module} has no verb {message.verb}"
                if message.module == self.module
                else f"this runner serves module {self.module}, not {message.module}"
            )
            return Reply(message.stream, error_kind="not_found", error_message=problem)
        name = bound.handle.name
        chain = (*message.chain, f"{self.module}.{name}")
        if len(chain) > MAX_CALL_DEPTH:
            problem = f"call depth limit {MAX_CALL_DEPTH} exceeded (a call loop?): {describe_chain(chain)}"
            return Reply(message.stream, error_kind="loop", error_message=problem)
        return message, bound, CallContext(message.request_id, self.module, name, chain, message.headers)

    def _run_sync(self, message: Call, bound: BoundVerb, context: CallContext) -> Reply:
        started, clock = time.time(), time.perf_counter()
        token = call_context.enter(context)
        try:
            request, failure = _request(bound, message)
            result: Any = None
            error: BaseException | None = failure
            if failure is None:
                try:
                    result = invoke(bound.handle.func, bound.takes_request, request, bound.kwargs)
                except BaseException as exc:  # a verb's failure is its caller's error, never the runner's
                    error = exc
            return self._reply(bound, message, context, result, error, started, clock)
        finally:
            call_context.leave(token)

    async def _run_async(self, message: Call, bound: BoundVerb, context: CallContext) -> Reply:
        started, clock = time.time(), time.perf_counter()
        call_context.enter(context)  # this task runs in its own copy of the context
        request, failure = _request(bound, message)
        result: Any = None
        error: BaseException | None = failure
        if failure is None:
            try:
                result = await invoke(bound.handle.func, bound.takes_request, request, bound.kwargs)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                error = exc
        return self._reply(bound, message, context, result, error, started, clock)

    def _reply(
        self,
        bound: BoundVerb,
        message: Call,
        context: CallContext,
        result: Any,
        error: BaseException | None,
        started: float,
        clock: float,
    ) -> Reply:
        body = b""
        if error is None:
            try:
                body = answered(bound.encode_response, context.chain[-1], result)  # chain[-1]: this verb
            except Rejected as rejected:
                error = rejected
        duration_ms = (time.perf_counter() - clock) * 1000
        data: dict[str, Any] = {"request": _text(message.body)}
        caller = context.caller or context.headers.get(CALLER_HEADER, "")
        if caller:
            data["caller"] = caller
        if error is None:
            data["response"] = _text(body)
            self._events.add(
                EventRecord("call", started, context.verb, context.request_id, duration_ms, "info", "", data)
            )
            return Reply(message.stream, body)
        details = b""
        if isinstance(error, Rejected):
            kind, text = error.kind, error.message
        else:
            kind, text = _error_of(error)
            failure = verb_failure(error)
            data["exception"] = failure.exception
            if failure.where:
                data["where"] = failure.where
            data["traceback"] = failure.traceback
            details = encode_failure(failure)
        data["error_kind"] = kind
        self._events.add(
            EventRecord("call", started, context.verb, context.request_id, duration_ms, "error", text, data)
        )
        return Reply(message.stream, details, error_kind=kind, error_message=text)


class _CallStream:
    """One call connection and the threads serving it: at most one reads, the others run calls.

    Calls read but not started wait in `pending`. `progress` moves whenever a call starts or a
    read ends; the watchdog compares it between looks.
    """

    def __init__(self, server: CallServer, connection: BlockingConnection) -> None:
        self._server = server
        self._connection = connection
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: deque[_Prepared] = deque()
        self._reading = False
        self._closed = False
        self._idle = 0  # threads waiting for work
        self._seen = -1  # `progress` at the watchdog's last look
        self.threads = 0
        self.running = 0  # calls being run by this stream's threads
        self.progress = 0

    def next_call(self) -> _Prepared | None:
        """The next sync call for this thread to run, reading when nobody else does; None: leave."""
        while True:
            with self._lock:
                while True:
                    if self._pending:
                        self.running += 1
                        self.progress += 1
                        return self._pending.popleft()
                    if self._closed:
                        return None
                    if not self._reading:
                        self._reading = True
                        break
                    if self._idle:
                        return None  # one spare thread is enough
                    self._idle += 1
                    woken = self._wake.wait(SPARE_THREAD_S)
                    self._idle -= 1
                    if not woken and not self._pending:
                        return None
            calls: list[_Prepared] | None = None
            try:
                calls = self._server.read(self, self._connection)
            finally:
                with self._lock:
                    self._reading = False
                    self.progress += 1
                    if calls is None:
                        self._closed = True
                        self._wake.notify_all()
                    else:
                        self._pending.extend(calls)

    def thread_started(self) -> None:
        with self._lock:
            self.threads += 1

    def call_done(self) -> None:
        with self._lock:
            self.running -= 1

    def stuck(self) -> bool:
        """Whether calls are running without progress since the last look while nobody reads.

        A spare thread waiting for work is woken instead (and False returned).
        """
        with self._lock:
            moved, self._seen = self.progress != self._seen, self.progress
            if moved or not self.running or self._reading or self._closed:
                return False
            if self._idle:
                self._wake.notify()
                return False
            return True

    def thread_ended(self) -> bool:
        """Called by each thread as it leaves; True (and the connection closed) for the last one."""
        with self._lock:
            self.threads -= 1
            last = self.threads == 0
        if last:
            self._connection.close()
        return last

    def send(self, reply: Reply) -> None:
        with contextlib.suppress(OSError):  # the caller went away
            self._connection.send(reply)

    def send_from_loop(self, reply: Reply) -> None:
        """`send`, but never keeping the loop waiting for the socket (or another sender)."""
        try:
            sent = self._connection.try_send(reply)
        except OSError:
            return  # the caller went away
        if not sent:
            threading.Thread(target=self.send, args=(reply,), daemon=True).start()


class _Handover(asyncio.Protocol):
    """Takes an accepted connection off the event loop before it reads anything, for threads to serve."""

    def __init__(self, accept: Callable[[socket.socket], None]) -> None:
        self._accept = accept

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        # A duplicate of the descriptor outlives the transport, which closes only its own.
        raw = transport.get_extra_info("socket")
        sock = socket.socket(fileno=os.dup(raw.fileno()))
        transport.abort()
        sock.setblocking(True)
        self._accept(sock)


def _request(bound: BoundVerb, message: Call) -> tuple[Any, Rejected | None]:
    """The request to call the verb with, or why it is not called (a bad request, missing config)."""
    if bound.problem:
        return None, Rejected("internal", bound.problem)
    try:
        return received(bound.decode_request, message.body), None
    except Rejected as rejected:
        return None, rejected


def _error_of(exc: BaseException) -> tuple[ErrorKind, str]:
    if isinstance(exc, CallFailed):
        return (exc.kind if exc.kind in PROPAGATED_KINDS else "verb_error"), exc.message
    message = str(exc)
    return "verb_error", message or type(exc).__name__


def _text(body: bytes) -> str:
    return body[:MAX_BODY_IN_TIMELINE].decode("utf-8", "replace")
