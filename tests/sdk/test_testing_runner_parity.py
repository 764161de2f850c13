"""`ftl.testing.call` and a running module answer the same request with the same value or error."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

import ftl
from ftl.runtime._call_errors import CallFailed
from ftl.runtime._event_queue import EventQueue
from ftl.runtime._serving import CallServer
from ftl.runtime._verb_binding import BoundVerb
from ftl.runtime.encoding import decode
from ftl.runtime.loader import VerbHandle
from ftl.runtime.protocol import CallClient, EventRecord, join_endpoint
from ftl.testing import call

MODULE = __name__.partition(".")[0]  # no ftl.toml above this file: the package names the module


@dataclass
class Stamp:
    at: datetime


@ftl.verb
def stamp(req: Stamp) -> Stamp:
    return Stamp(req.at.replace(tzinfo=None)) if req.at.year == 2000 else req


@ftl.verb
async def sloppy(req: Stamp) -> Stamp:
    return {"at": req.at}  # type: ignore[return-value]


class _Quiet(EventQueue):
    def add(self, event: EventRecord) -> None:
        pass


async def _served(verb: Any, body: bytes) -> tuple[str, Any]:
    handle = VerbHandle(
        verb.__name__, verb.__name__, verb, asyncio.iscoroutinefunction(verb), Stamp, Stamp, {}
    )
    server = CallServer(MODULE, {verb.__name__: BoundVerb(handle, True, {})}, _Quiet())
    listener = await asyncio.get_running_loop().create_server(server.connection, "127.0.0.1", 0)
    try:
        client = await CallClient.connect(join_endpoint("127.0.0.1", listener.sockets[0].getsockname()[1]))
        reply = await client.call(MODULE, verb.__name__, body, "req-1", ())
        client.close()
    finally:
        listener.close()
    if reply.error_kind:
        return reply.error_kind, reply.error_message
    return "ok", decode(reply.body, Stamp, root="response")


def _tested(verb: Any, body: bytes) -> tuple[str, Any]:
    try:
        return "ok", call(verb, json.loads(body))
    except CallFailed as failed:
        return failed.kind, failed.message


@pytest.mark.parametrize(
    ("verb", "body"),
    [
        (stamp, b'{"at": "2024-05-01T12:00:00+02:00"}'),
        (stamp, b'{"at": 1}'),  # a request that does not fit
        (stamp, b'{"at": "2024-05-01T12:00:00Z", "extra": 1}'),
        (stamp, b'{"at": "2000-01-01T00:00:00Z"}'),  # a response that does not fit
        (sloppy, b'{"at": "2024-05-01T12:00:00Z"}'),
    ],
)
def test_the_same_request_gets_the_same_answer(verb: Any, body: bytes) -> None:
    tested = _tested(verb, body)
    assert tested == asyncio.run(_served(verb, body))
    if body != b'{"at": "2024-05-01T12:00:00+02:00"}':
        assert tested[0] != "ok"
    else:
        assert tested == ("ok", Stamp(datetime(2024, 5, 1, 10, tzinfo=UTC)))
