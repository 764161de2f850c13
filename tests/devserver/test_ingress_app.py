"""The ingress ASGI app: status codes of its own, error mapping, the realm path, the timeline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from ingress_schemas import schema

from ftl.devserver.ingress import IngressApp
from ftl.devserver.routes import CallError, CallResult
from ftl.devserver.timeline import Timeline
from ftl.schema import ast


@dataclass
class FakeBackplane:
    current: ast.Schema
    answer: bytes = b'{"status": 200, "body": {"id": 1, "name": "ada"}}'
    error: CallError | None = None
    calls: list[tuple[str, str, bytes, str | None, Mapping[str, str] | None]] = field(default_factory=list)

    def schema(self) -> ast.Schema:
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
        self.calls.append((module, verb, body, request_id, headers))
        rid = request_id or "req-fake"
        return CallResult(None, self.error, rid) if self.error else CallResult(self.answer, None, rid)


pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def backplane() -> FakeBackplane:
    return FakeBackplane(schema())


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


@pytest.fixture
def app(backplane: FakeBackplane, timeline: Timeline) -> IngressApp:
    return IngressApp(backplane, timeline, max_body_bytes=64)


@pytest.fixture
async def client(app: IngressApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ingress") as http:
        yield http


async def test_a_call_goes_through_and_shares_its_request_id_with_the_timeline(
    client: httpx.AsyncClient, backplane: FakeBackplane, timeline: Timeline
) -> None:
    response = await client.get("/users/7")
    assert response.status_code == 200
    assert response.json() == {"id": 1, "user_name": "ada"}
    [(module, verb, _, request_id, _)] = backplane.calls
    assert (module, verb) == ("users", "get")
    assert response.headers["x-ftl-request-id"] == request_id
    [event] = timeline.query(kind="ingress")
    assert (event.module, event.verb, event.request_id) == ("users", "get", request_id)
    assert event.data == {"method": "GET", "path": "/users/7", "status": 200}


async def test_unknown_paths_404_and_other_methods_405_with_allow(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nowhere/at/all")
    assert (missing.status_code, missing.text) == (404, "404 page not found\n")
    wrong = await client.delete("/users/me")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, HEAD, PUT"


async def test_bad_input_is_400_with_the_reason(client: httpx.AsyncClient, backplane: FakeBackplane) -> None:
    response = await client.get("/users/abc")
    assert response.status_code == 400
    assert "failed to parse path parameter" in response.text
    assert backplane.calls == []


async def test_bodies_over_the_limit_are_413(client: httpx.AsyncClient, backplane: FakeBackplane) -> None:
    response = await client.post("/users", content=b'{"id": 1, "user_name": "' + b"x" * 100 + b'"}')
    assert response.status_code == 413
    assert backplane.calls == []


@pytest.mark.parametrize("kind", ["not_live", "crashed", "not_found"])
async def test_a_verb_that_is_not_live_is_503(
    client: httpx.AsyncClient, backplane: FakeBackplane, kind: str
) -> None:
    backplane.error = CallError(kind, "module users is not live right now")  # type: ignore[arg-type]
    response = await client.get("/users/me")
    assert response.status_code == 503


async def test_verb_failures_are_500_without_internals_but_recorded(
    client: httpx.AsyncClient, backplane: FakeBackplane, timeline: Timeline
) -> None:
    backplane.error = CallError("verb_error", "KeyError: 'secret-table-name'")
    response = await client.get("/users/me")
    assert (response.status_code, response.text) == (500, "Internal Server Error\n")
    [event] = timeline.query(kind="ingress")
    assert "secret-table-name" in event.data["error"] and event.level == "error"


async def test_the_route_table_follows_schema_changes(
    client: httpx.AsyncClient, backplane: FakeBackplane, app: IngressApp
) -> None:
    assert (await client.get("/users/me")).status_code == 200
    backplane.current = schema("realm shop {\n  module other {\n  }\n}\n")
    assert (await client.get("/users/me")).status_code == 200  # not told yet: the old table still serves
    app.schema_changed()
    assert (await client.get("/users/me")).status_code == 404


async def test_readiness(client: httpx.AsyncClient) -> None:
    response = await client.get("/_readiness")
    assert (response.status_code, response.content) == (200, b"")


async def test_the_realm_path_serves_only_export_realm_verbs(
    client: httpx.AsyncClient, backplane: FakeBackplane
) -> None:
    backplane.answer = b'{"id":7,"name":"ada"}'
    headers = {"X-Ftl-Request-Id": "req-from-bank", "X-Ftl-Caller-Realm": "bank"}
    response = await client.post("/_ftl/realm/users/lookup", json={"id": 7}, headers=headers)
    assert response.status_code == 200 and response.json() == {"id": 7, "name": "ada"}
    [(module, verb, body, request_id, forwarded)] = backplane.calls
    assert (module, verb, body, request_id) == ("users", "lookup", b'{"id":7}', "req-from-bank")
    assert forwarded == {"X-Ftl-Caller-Realm": "bank"}

    for path in ("/_ftl/realm/users/internal", "/_ftl/realm/users/get", "/_ftl/realm/nobody/lookup"):
        refused = await client.post(path, json={"id": 7})
        assert refused.status_code == 404 and refused.json()["error"]["kind"] == "not_found"
    bad = await client.post("/_ftl/realm/users/lookup", json={"id": "x"})
    assert bad.status_code == 400 and "req.id" in bad.json()["error"]["message"]
    assert (await client.get("/_ftl/realm/users/lookup")).status_code == 405


async def test_realm_calls_pass_the_verb_error_message(
    client: httpx.AsyncClient, backplane: FakeBackplane
) -> None:
    backplane.error = CallError("verb_error", "insufficient funds")
    response = await client.post("/_ftl/realm/users/lookup", json={"id": 7})
    assert response.status_code == 500
    assert response.json() == {"error": {"kind": "verb_error", "message": "insufficient funds"}}


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b'{"status": 400, "error": 5}', "error must be a string, got 5"),
        (b'{"body": {"id": 1, "name": "a"}, "error": "x"}', "both body and error are set"),
        (b'{"status": 100, "body": {}}', "status must be a final HTTP status (200 to 999), got 100"),
        (b"secret-table-name", "response is not JSON"),
    ],
)
async def test_a_response_that_cannot_be_rendered_is_a_bare_500_and_the_timeline_says_why(
    client: httpx.AsyncClient, backplane: FakeBackplane, timeline: Timeline, answer: bytes, reason: str
) -> None:
    backplane.answer = answer
    response = await client.get("/users/me")
    assert (response.status_code, response.text) == (500, "Internal Server Error\n")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    [event] = timeline.query(kind="ingress")
    assert event.level == "error" and event.request_id == response.headers["x-ftl-request-id"]
    assert event.message.startswith(f"GET /users/me 500: response could not be rendered: {reason}")
    assert event.data["error_kind"] == "bad_response"
    assert event.data["error"].startswith(f"response could not be rendered: {reason}")
    [log] = timeline.query(kind="log")  # what `ftl dev` prints
    assert log.level == "error" and log.request_id == event.request_id
    assert log.message.startswith(f"users.me: response could not be rendered: {reason}")


async def test_a_verb_failure_is_told_in_the_ingress_event_message(
    client: httpx.AsyncClient, backplane: FakeBackplane, timeline: Timeline
) -> None:
    backplane.error = CallError("verb_error", "KeyError: 'user'")
    await client.get("/users/me")
    [event] = timeline.query(kind="ingress")
    assert event.message == "GET /users/me 500: verb_error: KeyError: 'user'"
    assert event.data["error_kind"] == "verb_error"


@pytest.mark.parametrize("status", [204, 304])
async def test_204_and_304_go_out_without_body_content_type_or_length(
    client: httpx.AsyncClient, backplane: FakeBackplane, timeline: Timeline, status: int
) -> None:
    backplane.answer = b'{"status": %d, "body": {"id": 1, "name": "ada"}}' % status
    response = await client.get("/users/me")
    assert (response.status_code, response.content) == (status, b"")
    assert "content-type" not in response.headers and "content-length" not in response.headers
    assert response.headers["x-ftl-request-id"]
    [event] = timeline.query(kind="ingress")
    assert (event.level, event.data["status"]) == ("info", status)


async def test_a_response_with_neither_body_nor_error_is_its_status_and_headers(
    client: httpx.AsyncClient, backplane: FakeBackplane
) -> None:
    backplane.answer = b'{"status": 302, "headers": {"Location": ["/users/1"]}, "body": null, "error": null}'
    response = await client.get("/users/me")
    assert (response.status_code, response.content) == (302, b"")
    assert response.headers["location"] == "/users/1" and response.headers["content-length"] == "0"
    assert "content-type" not in response.headers


async def test_head_is_answered_like_get_without_the_body(
    client: httpx.AsyncClient, backplane: FakeBackplane, timeline: Timeline
) -> None:
    got = await client.get("/users/7")
    head = await client.head("/users/7")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(got.content)) == got.headers["content-length"]
    assert head.headers["content-type"] == got.headers["content-type"]
    [_, (module, verb, body, _, _)] = backplane.calls
    assert (module, verb) == ("users", "get") and b'"method":"HEAD"' in body
    newest = timeline.query(kind="ingress")[0]
    assert newest.data == {"method": "HEAD", "path": "/users/7", "status": 200}


async def test_head_without_a_get_route_is_405_or_404_without_a_body(client: httpx.AsyncClient) -> None:
    post_only = await client.head("/users")
    assert (post_only.status_code, post_only.content) == (405, b"")
    assert post_only.headers["allow"] == "POST"
    assert post_only.headers["content-length"] == str(len("405 method not allowed\n"))
    missing = await client.head("/nowhere/at/all")
    assert (missing.status_code, missing.content) == (404, b"")


async def test_a_call_cut_short_by_shutdown_is_a_clear_503(timeline: Timeline) -> None:
    class StoppingBackplane(FakeBackplane):
        async def call(self, *args: Any, **kwargs: Any) -> CallResult:
            raise asyncio.CancelledError  # what uvicorn does to requests still running at shutdown

    app = IngressApp(StoppingBackplane(schema()), timeline)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/users/me", "query_string": b"", "headers": []}
    await app(scope, receive, send)
    assert sent[0]["status"] == 503
    assert sent[1]["body"] == b"503 the server is shutting down\n"
    [event] = timeline.query(kind="ingress")
    assert event.data["error_kind"] == "shutting_down"
