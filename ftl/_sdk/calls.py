"""Outgoing calls from user code to other modules' verbs, through a pluggable transport.

Generated stubs (`ftl_modules.<module>`) hold one `VerbClient` per exported verb. A client hands
the call to the active `CallTransport`: the runner installs one that routes through the backplane,
`ftl.testing` installs one that routes to fakes. With none installed a call fails clearly.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Generic, Protocol, TypeVar

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class FtlCallError(Exception):
    """A call to another module's verb could not be made (or the callee reported an error)."""


class CallTransport(Protocol):
    """Carries calls made through generated clients. `module`/`verb` are schema names."""

    def call(self, module: str, verb: str, request: Any, response_type: Any, realm: str | None) -> Any: ...

    async def call_async(
        self, module: str, verb: str, request: Any, response_type: Any, realm: str | None
    ) -> Any: ...


_process_transport: CallTransport | None = None
_context_transport: contextvars.ContextVar[CallTransport | None] = contextvars.ContextVar(
    "ftl_call_transport", default=None
)


def set_call_transport(transport: CallTransport | None) -> None:
    """Install the process-wide transport (the runner does this once at start-up)."""
    global _process_transport
    _process_transport = transport


@contextmanager
def using_transport(transport: CallTransport) -> Iterator[None]:
    """Route calls made in this context (thread or task) through `transport`; used by tests."""
    token = _context_transport.set(transport)
    try:
        yield
    finally:
        _context_transport.reset(token)


def _describe(module: str, verb: str, realm: str | None) -> str:
    return f"{module}.{verb}" + (f"@{realm}" if realm else "")


def current_transport(target: str = "") -> CallTransport:
    transport = _context_transport.get() or _process_transport
    if transport is None:
        what = f"{target} was called" if target else "a verb client was used"
        raise FtlCallError(
            f"{what} outside FTL: generated clients only work inside a running module "
            "(`ftl dev`, `ftl serve`); in tests use ftl.testing.call(verb, request, fakes={...})"
        )
    return transport


def publish_event(module: str, topic: str, event: Any, event_type: Any) -> None:
    """Publish through the active transport, if it supports topics."""
    transport = current_transport(f"topic {module}.{topic}")
    publish = getattr(transport, "publish", None)
    if publish is None:
        raise FtlCallError(f"cannot publish to {module}.{topic}: this runtime does not support topics")
    publish(module, topic, event, event_type)


class VerbClient(Generic[Req, Resp]):
    """A typed handle on another module's verb: `client(request)` or `await client.call_async(request)`."""

    __slots__ = ("module", "realm", "request_type", "response_type", "verb")

    def __init__(
        self, module: str, verb: str, request_type: Any, response_type: Any, realm: str | None = None
    ) -> None:
        self.module = module
        self.verb = verb
        self.request_type = request_type
        self.response_type = response_type
        self.realm = realm

    def __repr__(self) -> str:
        return f"<ftl verb client {_describe(self.module, self.verb, self.realm)}>"

    def __call__(self, request: Req) -> Resp:
        transport = current_transport(_describe(self.module, self.verb, self.realm))
        result: Resp = transport.call(self.module, self.verb, request, self.response_type, self.realm)
        return result

    async def call_async(self, request: Req) -> Resp:
        transport = current_transport(_describe(self.module, self.verb, self.realm))
        result: Resp = await transport.call_async(
            self.module, self.verb, request, self.response_type, self.realm
        )
        return result


class SourceClient(VerbClient[None, Resp]):
    """A client for a verb that takes no request (`Unit`): `client()`."""

    __slots__ = ()

    def __call__(self, request: None = None) -> Resp:
        return super().__call__(None)

    async def call_async(self, request: None = None) -> Resp:
        return await super().call_async(None)
