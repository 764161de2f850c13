"""The HTTP ingress: an ASGI app that routes requests to verbs through the backplane.

The hot path is deliberately plain ASGI (one route-table lookup, the route's precompiled binder,
one backplane call, the route's renderer, one timeline append): everything schema-dependent is
compiled when the route table is rebuilt, which happens lazily on the first request after the
backplane reports a schema change, so the switch is atomic from the point of view of a request.

Status codes: 400 bad input (with the reason), 404 unknown path, 405 known path with another
method, 413 body over the limit, 503 verb not live, 500 for verb failures and for responses that
cannot be rendered (no internals: the reason goes to the ingress event on the timeline). HEAD is
answered like GET without the body. `/_ftl/realm/{module}/{verb}` is the cross-realm entry point,
open only to `export realm` verbs; its errors are JSON `{"error": {"kind", "message"}}`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Final, Protocol

import msgspec

from ftl.devserver.ingress.binding import (
    APPLICATION_JSON,
    BODYLESS_STATUSES,
    INTERNAL_ERROR,
    BindError,
    HttpReply,
    RenderError,
    text_reply,
)
from ftl.devserver.ingress.routing import Match, MethodNotAllowed, RouteTable, build_route_table
from ftl.devserver.timeline import Timeline, TimelineEvent
from ftl.runtime._wire import REQUEST_ROOT
from ftl.runtime.context import new_request_id
from ftl.schema import ast
from ftl.schema.jsonvalidate import normalize_json

DEFAULT_MAX_BODY_BYTES: Final = 10 * 1024 * 1024
RENDER_FAILED: Final = "response could not be rendered"
REALM_PREFIX: Final = "/_ftl/realm/"
READINESS_PATH: Final = "/_readiness"
REQUEST_ID_HEADER: Final = "X-Ftl-Request-Id"
CALLER_REALM_HEADER: Final = "X-Ftl-Caller-Realm"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Why a request failed, for its ingress event: (kind, what happened); None when it did not.
Failure = tuple[str, str] | None

_encode = msgspec.json.encode


class CallErrorLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def message(self) -> str: ...


class CallResultLike(Protocol):
    @property
    def body(self) -> bytes | None: ...
    @property
    def error(self) -> CallErrorLike | None: ...
    @property
    def request_id(self) -> str: ...


class IngressBackend(Protocol):
    """The part of the Backplane the ingress uses."""

    def schema(self) -> ast.Schema: ...

    async def call(
        self,
        module: str,
        verb: str,
        body: bytes,
        *,
        request_id: str | None = None,
        caller: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> CallResultLike: ...


# How a failed call answers an HTTP client; a verb's own failure never shows its message here.
_STATUS_BY_KIND: Final = {
    "not_live": 503,
    "crashed": 503,
    "not_found": 503,
    "bad_request": 400,
    "denied": 403,
}
_REALM_STATUS_BY_KIND: Final = {
    "not_live": 503,
    "crashed": 503,
    "not_found": 404,
    "bad_request": 400,
    "denied": 403,
    "loop": 508,
}


# HTTP/1.x: a request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 6.3),
# so there is nothing to wait for.
_UNFRAMED_MEANS_EMPTY: Final = frozenset({"1.0", "1.1"})


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class IngressApp:
    """ASGI app. Call `schema_changed()` (wired to `Backplane.on_change`) when the schema moves."""

    def __init__(
        self,
        backend: IngressBackend,
        timeline: Timeline | None = None,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.backend = backend
        self.timeline = timeline
        self.max_body_bytes = max_body_bytes
        self.problems: list[str] = []  # routes left out of the current table, and why
        self._table = RouteTable()
        self._stale = True

    # -- the route table ---------------------------------------------------------------------

    def schema_changed(self, *_: object) -> None:
        """Mark the route table stale; the next request rebuilds it from `backend.schema()`."""
        self._stale = True

    @property
    def table(self) -> RouteTable:
        if self._stale:
            self._stale = False
            self._table, self.problems = build_route_table(self.backend.schema())
        return self._table

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        request_id = ""
        module = verb = ""
        error: Failure = None
        try:
            if path == READINESS_PATH:
                reply = HttpReply(200, [], b"")
            elif path.startswith(REALM_PREFIX):
                module, _, verb = path[len(REALM_PREFIX) :].partition("/")
                reply, request_id, error = await self._realm_call(scope, receive, method, module, verb)
            else:
                found = self.table.match(method, path)
                if type(found) is Match:
                    module, verb = found.route.module, found.route.verb
                    reply, request_id, error = await self._ingress_call(scope, receive, found)
                elif type(found) is MethodNotAllowed:
                    allow = ", ".join(found.allowed).encode()
                    reply = text_reply(405, "405 method not allowed", [(b"allow", allow)])
                else:
                    reply = text_reply(404, "404 page not found")
        except _BodyTooLarge:
            reply = text_reply(413, f"413 request body is larger than {self.max_body_bytes} bytes")
        except _ClientGone:
            return
        except asyncio.CancelledError:
            # The server stops (Ctrl-C) before the call finished: a clear answer, not a traceback.
            reply = text_reply(503, "503 the server is shutting down")
            error = ("shutting_down", "the server stopped before the call finished")
        request_id = request_id or new_request_id()
        await _send(send, reply, request_id, method == "HEAD")
        if self.timeline is not None:
            self._record(started, method, path, module, verb, request_id, reply.status, error)

    async def _ingress_call(
        self, scope: Scope, receive: Receive, found: Match
    ) -> tuple[HttpReply, str, Failure]:
        route = found.route
        body = await self._read_body(scope, receive)
        try:
            request = route.binder.bind(
                scope["method"],
                scope["path"],
                found.params,
                scope["query_string"].decode("utf-8", "replace"),
                scope["headers"],
                body,
            )
        except BindError as problem:
            return text_reply(400, str(problem)), "", None
        request_id = new_request_id()
        try:
            payload = _encode(request)
            result = await self.backend.call(route.module, route.verb, payload, request_id=request_id)
        except Exception as problem:  # a bug on the backplane side must still answer the client
            return INTERNAL_ERROR, request_id, ("internal", f"internal: {problem!r}")
        failure = result.error
        if failure is None:
            try:
                return route.renderer.render(result.body or b""), result.request_id, None
            except RenderError as problem:
                return INTERNAL_ERROR, result.request_id, ("bad_response", f"{RENDER_FAILED}: {problem}")
        status = _STATUS_BY_KIND.get(failure.kind, 500)
        if status == 503:
            reply = text_reply(503, f"503 verb {route.module}.{route.verb} is not live")
        elif status == 400:
            reply = text_reply(400, failure.message)
        elif status == 403:
            reply = text_reply(403, "403 forbidden")
        else:
            reply = INTERNAL_ERROR
        return reply, result.request_id, (failure.kind, f"{failure.kind}: {failure.message}")

    async def _realm_call(
        self, scope: Scope, receive: Receive, method: str, module: str, verb_name: str
    ) -> tuple[HttpReply, str, Failure]:
        verb = self.table.realm_verb(module, verb_name)
        if verb is None or "/" in verb_name:
            message = f"no verb {module}.{verb_name} exported to other realms"
            return _realm_error(404, "not_found", message), "", None
        if method != "POST":
            reply = _realm_error(405, "bad_request", "cross-realm calls use POST")
            reply.headers.append((b"allow", b"POST"))
            return reply, "", None
        headers = _header_map(scope["headers"])
        body = await self._read_body(scope, receive)
        try:
            decoded = msgspec.json.decode(body or b"{}")
        except msgspec.DecodeError:
            return _realm_error(400, "bad_request", "request body is not valid JSON"), "", None
        request, problems = normalize_json(decoded, verb.request, self.backend.schema(), REQUEST_ROOT)
        if problems:
            return _realm_error(400, "bad_request", "\n".join(problems)), "", None
        caller_realm = headers.get(CALLER_REALM_HEADER.lower(), "")
        forwarded = {CALLER_REALM_HEADER: caller_realm} if caller_realm else None
        request_id = headers.get(REQUEST_ID_HEADER.lower()) or new_request_id()
        try:
            result = await self.backend.call(
                module, verb_name, _encode(request), request_id=request_id, headers=forwarded
            )
        except Exception as problem:  # a bug on the backplane side must still answer the caller
            failed = ("internal", f"internal: {problem!r}")
            return _realm_error(500, "internal", "internal error"), request_id, failed
        failure = result.error
        if failure is None:
            reply = HttpReply(200, [(b"content-type", APPLICATION_JSON)], result.body or b"{}")
            return reply, result.request_id, None
        status = _REALM_STATUS_BY_KIND.get(failure.kind, 500)
        # Realm callers are FTL runtimes that raise the verb's error on their side: they get its message.
        reply = _realm_error(status, failure.kind, failure.message)
        return reply, result.request_id, (failure.kind, failure.message)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.max_body_bytes
        framed = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    raise _BodyTooLarge
                framed = True
            elif name == b"transfer-encoding":
                framed = True
        if not framed and scope.get("http_version") in _UNFRAMED_MEANS_EMPTY:
            return b""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise _BodyTooLarge
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _record(
        self,
        started: float,
        method: str,
        path: str,
        module: str,
        verb: str,
        request_id: str,
        status: int,
        error: Failure,
    ) -> None:
        assert self.timeline is not None
        data: dict[str, Any] = {"method": method, "path": path, "status": status}
        message = f"{method} {path} {status}"
        level = "error" if status >= 500 else "info"
        if error is not None:
            data["error_kind"], data["error"] = error
            if level == "error":
                # `ftl logs` and the console show the message: a failure says why there.
                message = f"{message}: {error[1]}"
        self.timeline.add(
            TimelineEvent(
                kind="ingress",
                time=time.time(),
                module=module,
                verb=verb,
                request_id=request_id,
                duration_ms=(time.perf_counter() - started) * 1000,
                level=level,
                message=message,
                data=data,
            )
        )
        if error is not None and error[0] == "bad_response":
            # The verb's own mistake, invisible to its HTTP client: a log line the developer sees.
            self.timeline.add(
                TimelineEvent(
                    kind="log",
                    time=time.time(),
                    module=module,
                    verb=verb,
                    request_id=request_id,
                    level="error",
                    message=f"{module}.{verb}: {error[1]}",
                )
            )


def _realm_error(status: int, kind: str, message: str) -> HttpReply:
    body = _encode({"error": {"kind": kind, "message": message}})
    return HttpReply(status, [(b"content-type", APPLICATION_JSON)], body)


def _header_map(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}


async def _send(send: Send, reply: HttpReply, request_id: str, head: bool) -> None:
    if reply.status in BODYLESS_STATUSES:
        headers = [*reply.headers, (b"x-ftl-request-id", request_id.encode())]
        body = b""
    else:
        # A HEAD answer states the length the GET body would have (RFC 9110 9.3.2) and sends none.
        headers = [
            *reply.headers,
            (b"content-length", str(len(reply.body)).encode()),
            (b"x-ftl-request-id", request_id.encode()),
        ]
        body = b"" if head else reply.body
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
