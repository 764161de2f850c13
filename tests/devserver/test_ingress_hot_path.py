"""The ingress hot path: bodiless requests are not read, request ids are cheap but still unique."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from ingress_schemas import schema

from ftl.devserver.ingress import IngressApp
from ftl.devserver.routes import CallResult
from ftl.devserver.timeline import Timeline
from ftl.runtime.context import new_request_id

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class EchoBackplane:
    """Answers every call with the request body it got as the HTTP response body."""

    def __init__(self) -> None:
        self.current = schema()
        self.bodies: list[bytes] = []

    def schema(self) -> Any:
        return self.current

    async def call(
        self,
        module: str,
        verb: str,
        body: bytes,
        *,
        request_id: str | None = None,
        caller: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> CallResult:
        self.bodies.append(body)
        return CallResult(b'{"body": {"id": 1, "name": "ada"}}', None, request_id or "req-fake")


def scope(method: str, path: str, headers: list[tuple[bytes, bytes]], version: str = "1.1") -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": version,
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
    }


async def test_a_request_without_content_length_or_transfer_encoding_is_answered_without_reading() -> None:
    app = IngressApp(EchoBackplane(), Timeline())
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("a request without a body was read")

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope("GET", "/users/me", [(b"host", b"ingress")]), receive, send)
    assert sent[0]["status"] == 200


async def test_framed_bodies_are_read_and_other_http_versions_are_always_read() -> None:
    backplane = EchoBackplane()
    app = IngressApp(backplane, Timeline())
    chunks = [
        {"type": "http.request", "body": b'{"id": 5, ', "more_body": True},
        {"type": "http.request", "body": b'"user_name": "bo"}', "more_body": False},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    chunked = [(b"host", b"ingress"), (b"transfer-encoding", b"chunked")]
    await app(scope("POST", "/users", chunked), receive, send)
    assert sent[0]["status"] == 200
    assert b'"name":"bo"' in backplane.bodies[0]

    chunks.append({"type": "http.request", "body": b'{"id": 6, "user_name": "cy"}', "more_body": False})
    await app(scope("POST", "/users", [(b"host", b"ingress")], version="2"), receive, send)
    assert b'"name":"cy"' in backplane.bodies[1]


async def test_request_ids_look_as_before_and_never_repeat() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"req-[0-9a-f]{16}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    app = IngressApp(EchoBackplane(), Timeline())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ingress") as http:
        answers = [await http.get("/users/me") for _ in range(3)]
    assert len({a.headers["x-ftl-request-id"] for a in answers}) == 3


def test_forked_processes_never_share_request_ids() -> None:
    # Runners are forked from one zygote: each child must get its own prefix.
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave at once
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert re.fullmatch(r"req-[0-9a-f]{16}", child_id)
    assert child_id[:12] != new_request_id()[:12]
