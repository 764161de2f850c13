"""Serving verb calls: the calls that arrive on the runner's own port.

A call connection is multiplexed (the backplane, async verbs of other runners) or blocking (a
sync verb of another runner waiting for each reply, served on a thread of its own). Sync verbs
run in worker threads, async verbs as tasks on the event loop, all concurrently; each call runs
in its call context, becomes a `call` event on the timeline, and its failure becomes a typed
error reply, never the runner's crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import traceback
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ftl.runtime import context as call_context
from ftl.runtime._call_errors import CallFailed
from ftl.runtime._event_queue import EventQueue
from ftl.runtime._in_flight import InFlight
from ftl.runtime._verb_binding import BoundVerb
from ftl.runtime.context import CALLER_HEADER, MAX_CALL_DEPTH, CallContext, describe_chain
from ftl.runtime.encoding import DecodeError, EncodeError, decode, encode
from ftl.runtime.protocol import (
    BlockingConnection,
    Call,
    Connection,
    ErrorKind,
    EventRecord,
    Message,
    ProtocolError,
    Reply,
)

# Sync verbs that call other verbs hold a worker thread while they wait, so a deep chain through
# one runner needs many threads; they are only created when used.
MAX_WORKERS = 64
MAX_BODY_IN_TIMELINE = 4096
INCOMING = ""  # the key calls being served are counted under
# Error kinds a verb passes on unchanged when it lets a failed call escape.
PROPAGATED_KINDS = frozenset({"loop", "denied"})


class CallServer:
    """Runs the module's verbs for the calls that arrive on the runner's port."""

    def __init__(self, module: str, verbs: Mapping[str, BoundVerb], events: EventQueue) -> None:
        self.module = module
        self._verbs = dict(verbs)
        self._events = events
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix=f"ftl-{module}")
        self._incoming = InFlight(self._loop)

    def connection(self) -> Connection:
        """The protocol of one call connection: the listening server's factory."""
        return Connection(self.on_call, on_blocking=self.on_blocking)

    async def drain(self) -> None:
        """Return once no call is being served."""
        await self._incoming.wait_idle({INCOMING})

    def on_call(self, connection: Connection, message: Message) -> None:
        """A message on a multiplexed call connection (served by the event loop)."""
        if type(message) is not Call:
            return
        prepared = self._prepare(message)
        if isinstance(prepared, Reply):
            connection.send(prepared)
            return
        bound, context = prepared
        self._incoming.begin(INCOMING)
        if bound.handle.is_async:
            self._loop.create_task(self._answer_async(connection, message, bound, context))
        else:
            self._executor.submit(self._answer_sync, connection, message, bound, context)

    def on_blocking(self, connection: BlockingConnection) -> None:
        """A caller that waits for each reply: serve it on a thread of its own."""
        threading.Thread(target=self._serve_blocking, args=(connection,), daemon=True).start()

    def _serve_blocking(self, connection: BlockingConnection) -> None:
        """Sync verbs run right here, in this connection's thread; async ones go to the loop."""
        try:
            while (message := connection.receive()) is not None:
                if type(message) is not Call:
                    continue
                prepared = self._prepare(message)
                if isinstance(prepared, Reply):
                    connection.send(prepared)
                    continue
                bound, context = prepared
                self._incoming.begin(INCOMING)
                if bound.handle.is_async:
                    # The loop answers on this connection itself: one hand-off instead of two.
                    answer = self._answer_async_blocking(connection, message, bound, context)
                    asyncio.run_coroutine_threadsafe(answer, self._loop)
                    continue
                try:
                    connection.send(self._run_sync(message, bound, context))
                finally:
                    self._incoming.end(INCOMING)
        except (OSError, ProtocolError):
            pass  # the caller went away; it has no call waiting here any more
        finally:
            connection.close()

    async def _answer_async_blocking(
        self, connection: BlockingConnection, message: Call, bound: BoundVerb, context: CallContext
    ) -> None:
        try:
            reply = await self._run_async(message, bound, context)
            with contextlib.suppress(OSError):  # the caller went away
                # The caller is waiting for exactly this reply, so the socket has room for it.
                connection.send(reply)
        finally:
            self._incoming.end(INCOMING)

    def _prepare(self, message: Call) -> tuple[BoundVerb, CallContext] | Reply:
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
        return bound, CallContext(message.request_id, self.module, name, chain, message.headers)

    def _answer_sync(
        self, connection: Connection, message: Call, bound: BoundVerb, context: CallContext
    ) -> None:
        reply = self._run_sync(message, bound, context)
        with contextlib.suppress(RuntimeError):  # a closed loop: the runner is exiting
            self._loop.call_soon_threadsafe(self._finish, connection, reply)

    async def _answer_async(
        self, connection: Connection, message: Call, bound: BoundVerb, context: CallContext
    ) -> None:
        self._finish(connection, await self._run_async(message, bound, context))

    def _finish(self, connection: Connection, reply: Reply) -> None:
        connection.send(reply)
        self._incoming.end(INCOMING)

    def _run_sync(self, message: Call, bound: BoundVerb, context: CallContext) -> Reply:
        started, clock = time.time(), time.perf_counter()
        token = call_context.enter(context)
        try:
            request, failure = self._request(bound, message)
            result: Any = None
            error: BaseException | None = failure
            if failure is None:
                try:
                    if bound.takes_request:
                        result = bound.handle.func(request, **bound.kwargs)
                    else:
                        result = bound.handle.func(**bound.kwargs)
                except BaseException as exc:  # a verb's failure is its caller's error, never the runner's
                    error = exc
            return self._reply(bound, message, context, result, error, started, clock)
        finally:
            call_context.leave(token)

    async def _run_async(self, message: Call, bound: BoundVerb, context: CallContext) -> Reply:
        started, clock = time.time(), time.perf_counter()
        call_context.enter(context)  # this task runs in its own copy of the context
        request, failure = self._request(bound, message)
        result: Any = None
        error: BaseException | None = failure
        if failure is None:
            try:
                if bound.takes_request:
                    result = await bound.handle.func(request, **bound.kwargs)
                else:
                    result = await bound.handle.func(**bound.kwargs)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                error = exc
        return self._reply(bound, message, context, result, error, started, clock)

    def _request(self, bound: BoundVerb, message: Call) -> tuple[Any, BaseException | None]:
        if bound.problem:
            return None, _Rejected("internal", bound.problem)
        try:
            return decode(message.body, bound.handle.request_type, root="request"), None
        except DecodeError as exc:
            return None, _Rejected("bad_request", str(exc))

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
                body = encode(result, bound.handle.response_type)
            except (EncodeError, TypeError) as exc:
                error = _Rejected(
                    "internal",
                    f"{self.module}.{context.verb} returned a value that does not fit its response: {exc}",
                )
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
        if isinstance(error, _Rejected):
            kind, text = error.kind, error.message
        else:
            kind, text = _error_of(error)
            data["traceback"] = "".join(traceback.format_exception(error))
        data["error_kind"] = kind
        self._events.add(
            EventRecord("call", started, context.verb, context.request_id, duration_ms, "error", text, data)
        )
        return Reply(message.stream, error_kind=kind, error_message=text)


class _Rejected(Exception):
    """A call refused before or after the verb ran (bad request, bad response, missing config)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message


def _error_of(exc: BaseException) -> tuple[ErrorKind, str]:
    if isinstance(exc, CallFailed):
        return (exc.kind if exc.kind in PROPAGATED_KINDS else "verb_error"), exc.message
    message = str(exc)
    return "verb_error", message or type(exc).__name__


def _text(body: bytes) -> str:
    return body[:MAX_BODY_IN_TIMELINE].decode("utf-8", "replace")
