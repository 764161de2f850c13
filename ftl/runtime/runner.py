"""The runner: the process that runs one deployment's user code.

It connects to the backplane's control port, imports the module (`load_module`), registers its
deployment key, extracted schema and the port it listens on, then serves verb calls from the
backplane and from other runners. Sync verbs run in a thread pool, async verbs on the event loop,
all concurrently. Calls the module makes go straight to the callee's runner, using the route
table the backplane pushes; `+calls` and the call-depth limit are checked here, before anything
is sent. Calls, logs and prints become timeline events, linked to their request id and sent to
the backplane in batches. A verb's exception becomes a typed error for its caller, never a crash.

The runner exits when the backplane says Stop, or when its control connection closes (so a
backplane that dies never leaves runners behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import http.client
import inspect
import io
import logging
import os
import sys
import threading
import time
import traceback
import typing
import urllib.parse
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import msgspec

from ftl._sdk.calls import FtlCallError, set_call_transport
from ftl._sdk.markers import Config
from ftl._sdk.names import lower_camel
from ftl.errors import FtlError
from ftl.runtime import context as call_context
from ftl.runtime.context import CALLER_HEADER, MAX_CALL_DEPTH, CallContext, describe_chain
from ftl.runtime.encoding import DecodeError, EncodeError, decode, encode, from_json_value
from ftl.runtime.loader import LoadedModule, VerbHandle, load_module
from ftl.runtime.protocol import (
    ERROR_KINDS,
    BlockingCallClient,
    BlockingConnection,
    Call,
    ClientPool,
    Connection,
    ConnectionLost,
    ErrorKind,
    EventRecord,
    Events,
    LoadFailed,
    Message,
    ProtocolError,
    Register,
    Reply,
    Routes,
    RoutesApplied,
    Stop,
    WireDiagnostic,
    error_kind,
    join_endpoint,
    split_endpoint,
)
from ftl.schema import to_json

# Sync verbs that call other verbs hold a worker thread while they wait, so a deep chain through
# one runner needs many threads; they are only created when used.
MAX_WORKERS = 64
FLUSH_DELAY_S = 0.02
MAX_EVENTS_PER_FRAME = 1000
MAX_BODY_IN_TIMELINE = 4096
REALM_CALL_TIMEOUT_S = 60.0
INCOMING = ""  # the key incoming calls are counted under
# Error kinds a verb passes on unchanged when it lets a failed call escape.
PROPAGATED_KINDS = frozenset({"loop", "denied"})


class RunnerSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a runner needs, sent by the supervisor (through the zygote or argv)."""

    deployment: str
    module_dir: str
    control: str  # the backplane's control endpoint, host:port
    host: str = "127.0.0.1"  # where the runner listens for calls
    realm: str = ""
    project_root: str = ""
    stubs_dir: str = ""
    config: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    realm_endpoints: dict[str, str] = {}  # external realm -> base URL of its ingress


class CallFailed(FtlCallError):
    """An outgoing call failed; `kind` is one of the runner protocol's error kinds."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message


# ---------------------------------------------------------------------------------------------
# Timeline events


class EventQueue:
    """Events waiting to go to the backplane; safe to add to from any thread."""

    def __init__(self) -> None:
        self._events: deque[EventRecord] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._flush_scheduled = False
        self._send: typing.Callable[[list[EventRecord]], None] | None = None

    def start(
        self, loop: asyncio.AbstractEventLoop, send: typing.Callable[[list[EventRecord]], None]
    ) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._send = send
        self.flush()

    def add(self, event: EventRecord) -> None:
        self._events.append(event)
        if self._flush_scheduled or self._loop is None:
            return
        self._flush_scheduled = True
        if threading.get_ident() == self._loop_thread:
            self._loop.call_later(FLUSH_DELAY_S, self.flush)
        else:
            with contextlib.suppress(RuntimeError):  # a closed loop: the runner is exiting
                self._loop.call_soon_threadsafe(self._loop.call_later, FLUSH_DELAY_S, self.flush)

    def flush(self) -> None:
        # Cleared before draining: an event added meanwhile schedules another flush, never gets lost.
        self._flush_scheduled = False
        if self._send is None:
            return
        batch: list[EventRecord] = []
        while self._events:
            batch.append(self._events.popleft())
            if len(batch) == MAX_EVENTS_PER_FRAME:
                self._send(batch)
                batch = []
        if batch:
            self._send(batch)


class TimelineLogHandler(logging.Handler):
    """Every log record becomes a `log` event linked to the request being served."""

    def __init__(self, events: EventQueue) -> None:
        super().__init__(logging.DEBUG)
        self._events = events
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._events.add(
            _log_event(record.levelname.lower(), message, record.created, {"logger": record.name})
        )


class CapturedStream(io.TextIOBase):
    """Stands in for sys.stdout / sys.stderr: each complete line becomes a `log` event."""

    def __init__(self, events: EventQueue, level: str, original: TextIO, passthrough: bool) -> None:
        self._events = events
        self._level = level
        self._original = original
        self._passthrough = passthrough
        self._pending = threading.local()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._original.encoding

    def write(self, text: str) -> int:
        if self._passthrough:
            self._original.write(text)
        pending: str = getattr(self._pending, "text", "") + text
        *lines, rest = pending.split("\n")
        self._pending.text = rest
        for line in lines:
            self._events.add(_log_event(self._level, line, time.time(), {"stream": self._name}))
        return len(text)

    def flush(self) -> None:
        rest = getattr(self._pending, "text", "")
        if rest:
            self._pending.text = ""
            self._events.add(_log_event(self._level, rest, time.time(), {"stream": self._name}))
        if self._passthrough:
            self._original.flush()

    @property
    def _name(self) -> str:
        return "stderr" if self._level == "error" else "stdout"


def _log_event(level: str, message: str, at: float, data: dict[str, Any]) -> EventRecord:
    context = call_context.current()
    if context is None:
        return EventRecord("log", at, level=level, message=message, data=data)
    return EventRecord("log", at, context.verb, context.request_id, None, level, message, data)


def capture_output(events: EventQueue) -> None:
    """Route logging and print() into the timeline; stderr is also kept (for crash reports)."""
    root = logging.getLogger()
    root.addHandler(TimelineLogHandler(events))
    if root.level == logging.WARNING:  # untouched default: show the module's info logs too
        root.setLevel(logging.INFO)
    sys.stdout = CapturedStream(events, "info", sys.__stdout__ or sys.stdout, passthrough=False)
    sys.stderr = CapturedStream(events, "error", sys.__stderr__ or sys.stderr, passthrough=True)


# ---------------------------------------------------------------------------------------------
# Verbs


@dataclass(frozen=True, slots=True)
class BoundVerb:
    """A verb ready to call: its handle, whether it takes the request, its injected values."""

    handle: VerbHandle
    takes_request: bool
    kwargs: Mapping[str, Any]
    problem: str = ""  # why it cannot run (a config or secret value missing or malformed)


def bind_verb(
    module: str, handle: VerbHandle, config: Mapping[str, Any], secrets: Mapping[str, Any]
) -> BoundVerb:
    try:
        hints = typing.get_type_hints(handle.func, include_extras=True)
        parameters: Mapping[str, inspect.Parameter] | None = inspect.signature(handle.func).parameters
    except (TypeError, ValueError, NameError):
        hints, parameters = {}, None
    kwargs: dict[str, Any] = {}
    problems: list[str] = []
    for parameter, marker in handle.injections.items():
        kind, values = ("config", config) if isinstance(marker, Config) else ("secret", secrets)
        name = marker.name or lower_camel(parameter)
        declared = hints.get(parameter, Any)
        if typing.get_origin(declared) is typing.Annotated:
            declared = typing.get_args(declared)[0]
        if name not in values:
            known = parameters.get(parameter) if parameters is not None else None
            if known is None or known.default is inspect.Parameter.empty:
                problems.append(
                    f"{kind} `{name}` of module {module} is not set (`ftl {kind} set {module}.{name} ...`)"
                )
            continue
        try:
            kwargs[parameter] = from_json_value(values[name], declared, root=name)
        except (DecodeError, TypeError) as exc:
            problems.append(f"{kind} `{name}` of module {module} has the wrong type: {exc}")
    if parameters is None:
        takes_request = True  # an opaque callable: give it the request, as the SDK contract says
    else:
        takes_request = any(
            p.name not in handle.injections
            and p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for p in parameters.values()
        )
    return BoundVerb(handle, takes_request, kwargs, "; ".join(problems))


def _text(body: bytes) -> str:
    return body[:MAX_BODY_IN_TIMELINE].decode("utf-8", "replace")


def _error_of(exc: BaseException) -> tuple[ErrorKind, str]:
    if isinstance(exc, CallFailed):
        return (exc.kind if exc.kind in PROPAGATED_KINDS else "verb_error"), exc.message
    message = str(exc)
    return "verb_error", message or type(exc).__name__


# ---------------------------------------------------------------------------------------------
# The runner


class InFlight:
    """Calls in flight per key (a target endpoint, or "" for incoming calls), counted from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._counts: dict[str, int] = {}
        # Held while counting; callers also hold it to make "look up, then count" one step.
        self.lock = threading.Lock()
        self._changed = asyncio.Event()
        self._waiters = 0

    def begin(self, key: str) -> None:
        with self.lock:
            self.begin_locked(key)

    def begin_locked(self, key: str) -> None:
        self._counts[key] = self._counts.get(key, 0) + 1

    def end(self, key: str) -> None:
        with self.lock:
            left = self._counts[key] - 1
            if left:
                self._counts[key] = left
            else:
                del self._counts[key]
        if not left and self._waiters:
            if threading.get_ident() == self._loop_thread:
                self._changed.set()
            else:
                self._loop.call_soon_threadsafe(self._changed.set)

    async def wait_idle(self, keys: set[str]) -> None:
        self._waiters += 1
        try:
            while True:
                self._changed.clear()
                with self.lock:
                    busy = any(key in self._counts for key in keys)
                if not busy:
                    return
                await self._changed.wait()
        finally:
            self._waiters -= 1


class Runner:
    """Serves one loaded module: incoming calls, outgoing calls, routes, events."""

    def __init__(
        self,
        spec: RunnerSpec,
        loaded: LoadedModule,
        control: Connection,
        events: EventQueue,
    ) -> None:
        self.spec = spec
        self.module = loaded.name
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._control = control
        self._events = events
        self._verbs: dict[str, BoundVerb] = {}
        for handle in loaded.verbs.values():
            bound = bind_verb(loaded.name, handle, spec.config, spec.secrets)
            self._verbs[handle.name] = bound
            self._verbs.setdefault(handle.python_name, bound)
        self._executor = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix=f"ftl-{loaded.name}")
        self._routes = Routes(0, {}, {})
        self._allowed: dict[str, frozenset[str]] = {}
        self._outgoing = InFlight(self._loop)
        self._incoming = InFlight(self._loop)
        self._pool = ClientPool()
        self._threads = threading.local()
        self.stopped: asyncio.Future[int] = self._loop.create_future()
        self.transport = RunnerTransport(self)

    # -- control connection ---------------------------------------------------------------------

    def on_control(self, connection: Connection, message: Message) -> None:
        if isinstance(message, Routes):
            self._apply_routes(message)
        elif isinstance(message, Stop):
            self._loop.create_task(self.stop())

    def on_control_lost(self) -> None:
        if not self.stopped.done():
            self.stopped.set_result(0)

    def _apply_routes(self, routes: Routes) -> None:
        if routes.version < self._routes.version:
            self._control.send(RoutesApplied(routes.version))  # overtaken by a newer table already
            return
        dropped = set(self._routes.endpoints.values()) - set(routes.endpoints.values())
        with self._outgoing.lock:  # a call that picked an old endpoint is counted before we look
            self._routes = routes
            self._allowed = {verb: frozenset(targets) for verb, targets in routes.calls.items()}
        self._loop.create_task(self._acknowledge(routes, dropped))

    async def _acknowledge(self, routes: Routes, dropped: set[str]) -> None:
        # Only once nothing we sent is still waiting on a dropped endpoint may it be stopped.
        await self._outgoing.wait_idle(dropped)
        self._pool.retain(set(self._routes.endpoints.values()))
        self._control.send(RoutesApplied(routes.version))

    async def stop(self) -> None:
        """Finish the calls in flight, send the last events, and exit."""
        await self._incoming.wait_idle({INCOMING})
        self._events.flush()
        self._control.close()
        await self._control.wait_closed()
        if not self.stopped.done():
            self.stopped.set_result(0)

    def send_events(self, batch: list[EventRecord]) -> None:
        self._control.send(Events(batch))

    # -- incoming calls -------------------------------------------------------------------------

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

    # -- outgoing calls -------------------------------------------------------------------------

    def check_call(self, module: str, verb: str, realm: str | None) -> CallContext:
        """The calling verb's context, if it may call the target now; else CallFailed."""
        target = f"{module}.{verb}" + (f"@{realm}" if realm else "")
        context = call_context.current()
        if context is None or context.module != self.module:
            raise CallFailed(
                "denied", f"{target} was called outside a verb call: calls must be made while a verb runs"
            )
        if target not in self._allowed.get(context.verb, ()):
            raise CallFailed(
                "denied",
                f"{self.module}.{context.verb} may not call {target}: it is not in the verb's +calls "
                "(call it through the generated client, `ftl_modules`, so the build records it)",
            )
        if context.depth + 1 > MAX_CALL_DEPTH:
            chain = describe_chain((*context.chain, target))
            raise CallFailed("loop", f"call depth limit {MAX_CALL_DEPTH} exceeded (a call loop?): {chain}")
        return context

    def _begin_call(self, module: str) -> str:
        """The module's endpoint, counted as in flight in the same step as it is looked up."""
        with self._outgoing.lock:
            endpoint = self._routes.endpoints.get(module)
            if not endpoint:
                raise CallFailed("not_live", f"module {module} is not live right now")
            self._outgoing.begin_locked(endpoint)
        return endpoint

    def call_sync(self, module: str, verb: str, request: Any, response_type: Any, realm: str | None) -> Any:
        context = self.check_call(module, verb, realm)
        if threading.get_ident() == self._loop_thread:
            raise CallFailed(
                "denied",
                f"{module}.{verb} was called synchronously from an async verb, which would block the runner: "
                "use `await client.call_async(request)`",
            )
        body = _encode_request(module, verb, request)
        if realm:
            return self._realm_call(context, module, verb, realm, body, response_type)
        endpoint = self._begin_call(module)
        try:
            client = self._thread_client(endpoint)
            reply = client.call(module, verb, body, context.request_id, context.chain, context.headers)
        except (ConnectionLost, OSError) as exc:
            raise CallFailed("not_live", f"module {module} went away during the call: {exc}") from None
        finally:
            self._outgoing.end(endpoint)
        return _result(module, verb, reply, response_type)

    async def call_async(
        self, module: str, verb: str, request: Any, response_type: Any, realm: str | None
    ) -> Any:
        context = self.check_call(module, verb, realm)
        body = _encode_request(module, verb, request)
        if realm:
            return await asyncio.to_thread(
                self._realm_call, context, module, verb, realm, body, response_type
            )
        endpoint = self._begin_call(module)
        try:
            client = self._pool.ready(endpoint) or await self._pool.get(endpoint)
            reply = await client.call(module, verb, body, context.request_id, context.chain, context.headers)
        except (ConnectionLost, OSError) as exc:
            raise CallFailed("not_live", f"module {module} went away during the call: {exc}") from None
        finally:
            self._outgoing.end(endpoint)
        return _result(module, verb, reply, response_type)

    def _thread_client(self, endpoint: str) -> BlockingCallClient:
        clients: dict[str, BlockingCallClient] | None = getattr(self._threads, "clients", None)
        if clients is None:
            clients = self._threads.clients = {}
        if getattr(self._threads, "version", None) != self._routes.version:
            # A new route table: let go of connections to endpoints that left it.
            self._threads.version = self._routes.version
            live = set(self._routes.endpoints.values())
            for gone in [e for e in clients if e not in live]:
                clients.pop(gone).close()
        client = clients.get(endpoint)
        if client is None or client.closed:
            try:
                client = clients[endpoint] = BlockingCallClient(endpoint)
            except OSError as exc:
                raise CallFailed("not_live", f"cannot reach {endpoint}: {exc}") from None
        return client

    def _realm_call(
        self, context: CallContext, module: str, verb: str, realm: str, body: bytes, response_type: Any
    ) -> Any:
        base = self.spec.realm_endpoints.get(realm)
        if not base:
            raise CallFailed(
                "not_live",
                f"no endpoint for realm {realm}: set config `{realm}-realm-endpoint` in ftl-project.toml "
                f"or env FTL_REALM_ENDPOINT_{realm.upper()}",
            )
        url = urllib.parse.urlsplit(base)
        path = f"{url.path.rstrip('/')}/_ftl/realm/{module}/{verb}"
        connection_type = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        connection = connection_type(url.netloc, timeout=REALM_CALL_TIMEOUT_S)
        headers = {
            "Content-Type": "application/json",
            "X-Ftl-Request-Id": context.request_id,
            "X-Ftl-Caller-Realm": self.spec.realm,
        }
        target = f"{module}.{verb}@{realm}"
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except OSError as exc:
            raise CallFailed("not_live", f"realm {realm} at {base} is unreachable: {exc}") from None
        finally:
            connection.close()
        if response.status == 200:
            try:
                return decode(payload, response_type, lenient=True, root="response")
            except DecodeError as exc:
                raise CallFailed(
                    "internal", f"{target} answered with an unexpected response: {exc}"
                ) from None
        kind, message = _realm_error(response.status, payload)
        raise CallFailed(kind, f"{target}: {message}")


class RunnerTransport:
    """What generated clients call through (`ftl._sdk.calls.CallTransport`)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def call(self, module: str, verb: str, request: Any, response_type: Any, realm: str | None) -> Any:
        return self._runner.call_sync(module, verb, request, response_type, realm)

    async def call_async(
        self, module: str, verb: str, request: Any, response_type: Any, realm: str | None
    ) -> Any:
        return await self._runner.call_async(module, verb, request, response_type, realm)


class _Rejected(Exception):
    """A call refused before or after the verb ran (bad request, bad response, missing config)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message


def _encode_request(module: str, verb: str, request: Any) -> bytes:
    try:
        return encode(request, type(request), root="request")
    except (EncodeError, TypeError) as exc:
        raise CallFailed("bad_request", f"request for {module}.{verb}: {exc}") from None


def _result(module: str, verb: str, reply: Reply, response_type: Any) -> Any:
    if reply.error_kind:
        raise CallFailed(error_kind(reply.error_kind), reply.error_message)
    try:
        return decode(reply.body, response_type, root="response")
    except DecodeError as exc:
        raise CallFailed("internal", f"{module}.{verb} answered with an unexpected response: {exc}") from None


_STATUS_KINDS: dict[int, ErrorKind] = {400: "bad_request", 403: "denied", 404: "not_found", 503: "not_live"}


def _realm_error(status: int, payload: bytes) -> tuple[ErrorKind, str]:
    try:
        error = msgspec.json.decode(payload)["error"]
        kind, message = str(error["kind"]), str(error["message"])
    except (msgspec.DecodeError, KeyError, TypeError):
        kind, message = "", payload[:200].decode("utf-8", "replace") or f"HTTP {status}"
    if kind in ERROR_KINDS:
        return error_kind(kind), message
    return _STATUS_KINDS.get(status, "verb_error"), message


# ---------------------------------------------------------------------------------------------
# Entry points


def main(spec: RunnerSpec) -> int:
    """Run the deployment until stopped; returns the exit code. The caller should `os._exit` with it."""
    faulthandler.enable()
    events = EventQueue()
    capture_output(events)
    if spec.project_root:
        os.chdir(spec.project_root)
    return asyncio.run(_run(spec, events))


async def _run(spec: RunnerSpec, events: EventQueue) -> int:
    loop = asyncio.get_running_loop()
    runner: Runner | None = None
    lost = loop.create_future()

    def on_message(connection: Connection, message: Message) -> None:
        if runner is not None:
            runner.on_control(connection, message)

    def on_lost(connection: Connection, exc: Exception | None) -> None:
        if not lost.done():
            lost.set_result(None)
        if runner is not None:
            runner.on_control_lost()

    host, port = split_endpoint(spec.control)
    try:
        _, control = await loop.create_connection(lambda: Connection(on_message, on_lost), host, port)
    except OSError as exc:
        print(f"ftl runner: cannot reach the backplane at {spec.control}: {exc}", file=sys.stderr)
        return 2
    try:
        loaded = load_module(Path(spec.module_dir), stubs=Path(spec.stubs_dir) if spec.stubs_dir else None)
    except FtlError as exc:
        return await _load_failed(control, spec, [_wire(d.message, d.pos) for d in exc.diagnostics])
    except BaseException as exc:  # user code raised while being imported
        traceback.print_exc()
        where = _user_frame(exc)
        message = f"importing the module failed: {type(exc).__name__}: {exc}"
        return await _load_failed(control, spec, [WireDiagnostic(message, *where)])
    if lost.done():
        return 0
    runner = Runner(spec, loaded, control, events)
    server = await loop.create_server(
        lambda: Connection(runner.on_call, on_blocking=runner.on_blocking), spec.host, 0
    )
    port = server.sockets[0].getsockname()[1]
    set_call_transport(runner.transport)
    control.send(
        Register(spec.deployment, os.getpid(), join_endpoint(spec.host, port), to_json(loaded.schema))
    )
    events.start(loop, runner.send_events)
    code = await runner.stopped
    server.close()
    return code


async def _load_failed(control: Connection, spec: RunnerSpec, diagnostics: list[WireDiagnostic]) -> int:
    control.send(LoadFailed(spec.deployment, os.getpid(), diagnostics))
    control.close()
    await control.wait_closed()
    return 1


def _wire(message: str, pos: Any) -> WireDiagnostic:
    if pos is None:
        return WireDiagnostic(message)
    return WireDiagnostic(message, pos.filename, pos.line, pos.column)


def _user_frame(exc: BaseException) -> tuple[str, int, int]:
    """Where in user code an import failed: the innermost frame outside FTL and the stdlib."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno or 0, exc.offset or 0
    ftl_root = str(Path(__file__).resolve().parent.parent)
    stdlib = os.path.dirname(os.__file__)
    place = ("", 0, 0)
    for frame in traceback.extract_tb(exc.__traceback__):
        if not frame.filename.startswith((ftl_root, stdlib, "<")):
            place = (frame.filename, frame.lineno or 0, (frame.colno or 0) + 1)
    return place


def run_and_exit(spec: RunnerSpec) -> typing.NoReturn:
    """Run, then leave at once: worker threads still blocked in user code must not hold the exit."""
    try:
        code = main(spec)
    except BaseException:
        traceback.print_exc(file=sys.__stderr__)
        code = 1
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run_and_exit(msgspec.json.decode(sys.argv[1], type=RunnerSpec))
