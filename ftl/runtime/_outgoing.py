"""Outgoing calls: the verbs of other modules that user code calls through generated clients.

A call is checked here first, before anything is sent: it must be made while a verb runs, be in
that verb's `+calls` in the current route table, and stay within the call-depth limit. Then it
goes straight to the callee's runner (the backplane is never an extra hop): from a sync verb on
a blocking socket owned by its worker thread, from an async verb on a pooled connection. A call
to another realm goes over HTTP (`_realm_calls`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from ftl.runtime import context as call_context
from ftl.runtime._call_errors import CallFailed
from ftl.runtime._in_flight import InFlight
from ftl.runtime._realm_calls import RealmCalls
from ftl.runtime._wire import decode_response, encode_event, encode_request
from ftl.runtime.context import MAX_CALL_DEPTH, CallContext, describe_chain
from ftl.runtime.protocol import (
    BlockingCallClient,
    ClientPool,
    ConnectionLost,
    Message,
    Publish,
    Reply,
    ReplyLost,
    Routes,
    error_kind,
)


class OutgoingCalls:
    """The runner's call transport (`ftl._sdk.calls.CallTransport`), routed by the pushed table.

    Create it on the runner's event loop.
    """

    def __init__(
        self, module: str, realm_calls: RealmCalls, send_control: Callable[[Message], None] | None = None
    ) -> None:
        self.module = module
        self._realm_calls = realm_calls
        self._send_control = send_control  # any thread may call it
        self._loop_thread = threading.get_ident()
        self._routes = Routes(0, {}, {})
        self._allowed: dict[str, frozenset[str]] = {}
        self._in_flight = InFlight(asyncio.get_running_loop())  # counted per target endpoint
        self._pool = ClientPool()
        self._threads = threading.local()

    # -- route tables ---------------------------------------------------------------------------

    def use_routes(self, routes: Routes) -> set[str] | None:
        """Switch to `routes`: the endpoints that left the table, or None if a newer one is in use."""
        if routes.version < self._routes.version:
            return None
        dropped = set(self._routes.endpoints.values()) - set(routes.endpoints.values())
        with self._in_flight.lock:  # a call that picked an old endpoint is counted before we look
            self._routes = routes
            self._allowed = {verb: frozenset(targets) for verb, targets in routes.calls.items()}
        return dropped

    async def settle(self, dropped: set[str]) -> None:
        """Return once no call waits on a `dropped` endpoint; pooled connections to them are closed."""
        await self._in_flight.wait_idle(dropped)
        self._pool.retain(set(self._routes.endpoints.values()))

    # -- the transport --------------------------------------------------------------------------

    def call(self, module: str, verb: str, request: Any, response_type: Any, realm: str | None) -> Any:
        context = self._check(module, verb, realm)
        if threading.get_ident() == self._loop_thread:
            raise CallFailed(
                "denied",
                f"{module}.{verb} was called synchronously from an async verb, which would block the runner: "
                "use `await client.call_async(request)`",
            )
        body = encode_request(module, verb, request)
        if realm:
            return self._realm_calls.call(
                context.request_id, module, verb, realm, body, response_type, caller=_caller(context)
            )
        endpoint = self._begin(module)
        try:
            client = self._thread_client(endpoint)
            reply = client.call(module, verb, body, context.request_id, context.chain, context.headers)
        except ReplyLost:
            raise CallFailed("crashed", _stopped(module)) from None
        except (ConnectionLost, OSError) as exc:
            raise CallFailed("not_live", f"module {module} went away during the call: {exc}") from None
        finally:
            self._in_flight.end(endpoint)
        return _result(module, verb, reply, response_type)

    async def call_async(
        self, module: str, verb: str, request: Any, response_type: Any, realm: str | None
    ) -> Any:
        context = self._check(module, verb, realm)
        body = encode_request(module, verb, request)
        if realm:
            return await asyncio.to_thread(
                self._realm_calls.call,
                context.request_id,
                module,
                verb,
                realm,
                body,
                response_type,
                caller=_caller(context),
            )
        endpoint = self._begin(module)
        try:
            client = self._pool.ready(endpoint) or await self._pool.get(endpoint)
            reply = await client.call(module, verb, body, context.request_id, context.chain, context.headers)
        except ReplyLost:
            raise CallFailed("crashed", _stopped(module)) from None
        except (ConnectionLost, OSError) as exc:
            raise CallFailed("not_live", f"module {module} went away during the call: {exc}") from None
        finally:
            self._in_flight.end(endpoint)
        return _result(module, verb, reply, response_type)

    def publish(self, module: str, topic: str, event: Any, event_type: Any) -> None:
        """Send `event` to the backplane's log of `module.topic`, which must be this module's."""
        if module != self.module:
            raise CallFailed(
                "denied",
                f"{self.module} may not publish to {module}.{topic}: "
                "a module publishes only to its own topics",
            )
        body = encode_event(module, topic, event, event_type)
        if self._send_control is None:
            raise CallFailed("not_live", f"cannot publish to {module}.{topic}: the runner has no backplane")
        context = call_context.current()
        request_id, caller = (context.request_id, _caller(context)) if context is not None else ("", "")
        self._send_control(Publish(module, topic, body, request_id, caller))

    def _check(self, module: str, verb: str, realm: str | None) -> CallContext:
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

    def _begin(self, module: str) -> str:
        """The module's endpoint, counted as in flight in the same step as it is looked up."""
        with self._in_flight.lock:
            endpoint = self._routes.endpoints.get(module)
            if not endpoint:
                raise CallFailed("not_live", f"module {module} is not live right now")
            self._in_flight.begin_locked(endpoint)
        return endpoint

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


def _caller(context: CallContext) -> str:
    """The calling verb as timeline events name it (`data["caller"]`)."""
    return f"{context.module}.{context.verb}"


def _result(module: str, verb: str, reply: Reply, response_type: Any) -> Any:
    if reply.error_kind:
        raise CallFailed(error_kind(reply.error_kind), reply.error_message)
    return decode_response(module, verb, reply.body, response_type)


def _stopped(module: str) -> str:
    return f"module {module} stopped during the call (its runner died)"
