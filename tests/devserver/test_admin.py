"""The admin JSON API, in front of a stand-in backplane."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from ingress_schemas import schema

from ftl.devserver.admin import ServerUrls, create_admin_app, event_stream
from ftl.devserver.admin_names import VerbNotFound, resolve_target, resolve_verb
from ftl.devserver.backplane import DeploymentInfo
from ftl.devserver.deployer import DeployResult
from ftl.devserver.routes import CallError, CallResult
from ftl.devserver.timeline import Timeline, TimelineEvent
from ftl.errors import Diagnostic, FtlError, Position
from ftl.project import Project, RealmPin
from ftl.schema import ast

pytestmark = pytest.mark.anyio

URLS = ServerUrls("http://127.0.0.1:8891", "http://127.0.0.1:8892", "http://127.0.0.1:8892")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class FakeBackplane:
    current: ast.Schema
    realm: str = "shop"
    project: Project | None = None
    answer: CallResult = field(default_factory=lambda: CallResult(b'{"id":1,"name":"ada"}', None, "req-1"))
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    deployed: list[list[Path]] = field(default_factory=list)
    deploy_error: str = ""

    def schema(self) -> ast.Schema:
        return self.current

    def deployments(self) -> list[DeploymentInfo]:
        return [DeploymentInfo("dpl-shop-users-abc", "users", "live", "127.0.0.1:4000", 100.5, 1)]

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
        self.calls.append((module, verb, json.loads(body)))
        return self.answer

    async def deploy(self, module_dirs: Sequence[Path]) -> DeployResult:
        if self.deploy_error:
            raise FtlError(self.deploy_error)
        self.deployed.append(list(module_dirs))
        diagnostic = Diagnostic("bad thing", Position("users/__init__.py", 3, 5))
        return DeployResult("chs-1", "FAILED", [], [diagnostic])


@pytest.fixture
def backplane() -> FakeBackplane:
    return FakeBackplane(schema())


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


@pytest.fixture
async def client(backplane: FakeBackplane, timeline: Timeline) -> AsyncIterator[httpx.AsyncClient]:
    app = create_admin_app(backplane, timeline, URLS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=URLS.admin_url) as http:
        yield http


async def test_status_and_deployments(client: httpx.AsyncClient) -> None:
    status = (await client.get("/api/status")).json()
    assert status == {
        "realm": "shop",
        "ingress_url": URLS.ingress_url,
        "admin_url": URLS.admin_url,
        "console_url": URLS.console_url,
    }
    assert (await client.get("/api/deployments")).json() == [
        {
            "key": "dpl-shop-users-abc",
            "module": "users",
            "state": "live",
            "endpoint": "127.0.0.1:4000",
            "started_at": 100.5,
            "version": 1,
        }
    ]


async def test_schema_as_text_json_one_module_and_public(client: httpx.AsyncClient) -> None:
    text = (await client.get("/api/schema")).text
    assert "realm shop {" in text and "verb lookup" in text
    as_json = (await client.get("/api/schema", params={"format": "json"})).json()
    assert isinstance(as_json, dict)
    only = (await client.get("/api/schema", params={"module": "users"})).text
    assert "module users" in only and "module builtin" not in only
    missing = await client.get("/api/schema", params={"module": "nope"})
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "unknown module nope"
    assert (await client.get("/api/schema", params={"format": "yaml"})).status_code == 400
    public = (await client.get("/api/schema", params={"public": "1"})).text
    assert "verb lookup" in public and "verb internal" not in public


@pytest.mark.parametrize("spelling", ["users.lookup", "users.LOOKUP".lower()])
async def test_call_either_spelling(
    client: httpx.AsyncClient, backplane: FakeBackplane, spelling: str
) -> None:
    response = await client.post("/api/call", json={"verb": spelling, "body": {"id": 7}})
    assert response.status_code == 200
    assert response.json() == {"request_id": "req-1", "body": {"id": 1, "name": "ada"}}
    assert backplane.calls == [("users", "lookup", {"id": 7})]


def test_resolve_verb_accepts_snake_case_and_suggests_close_names() -> None:
    text = """
realm shop {
  module users {
    export verb getUser(Unit) Unit
    export verb getUsers(Unit) Unit
  }
}
"""
    current = schema(text)
    found = resolve_verb(current, "users.get_user")
    assert not isinstance(found, VerbNotFound) and found[0] == "users" and found[1].name == "getUser"
    missing = resolve_verb(current, "users.get_usr")
    assert isinstance(missing, VerbNotFound)
    assert missing.message == "module users has no verb get_usr"
    assert missing.suggestions[0] == "users.getUser"
    nowhere = resolve_verb(current, "usrs.getUser")
    assert isinstance(nowhere, VerbNotFound) and nowhere.message == "unknown verb usrs.getUser"
    assert nowhere.suggestions == ["users.getUser"]  # only the module was misspelled
    close = resolve_verb(current, "usrs.getUsr")
    assert isinstance(close, VerbNotFound) and "users.getUser" in close.suggestions
    assert isinstance(resolve_verb(current, "nodot"), VerbNotFound)


async def test_call_unknown_verb_is_404_with_suggestions(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/call", json={"verb": "users.lookp"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["kind"] == "not_found" and "users.lookup" in error["suggestions"]


async def test_call_bad_body_is_400_before_any_call(
    client: httpx.AsyncClient, backplane: FakeBackplane
) -> None:
    response = await client.post("/api/call", json={"verb": "users.lookup", "body": {"id": "x"}})
    assert response.status_code == 400
    assert "request.id" in response.json()["error"]["message"]
    assert backplane.calls == []
    not_json = await client.post("/api/call", content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert (await client.post("/api/call", json={"body": {}})).status_code == 400


async def test_call_verb_error_carries_the_message(
    client: httpx.AsyncClient, backplane: FakeBackplane
) -> None:
    backplane.answer = CallResult(None, CallError("verb_error", "ValueError: no such user"), "req-9")
    response = await client.post("/api/call", json={"verb": "users.lookup", "body": {"id": 7}})
    assert response.status_code == 500
    assert response.json() == {
        "request_id": "req-9",
        "error": {"kind": "verb_error", "message": "ValueError: no such user"},
    }


async def test_call_verb_error_tells_the_developer_what_was_raised(
    client: httpx.AsyncClient, backplane: FakeBackplane
) -> None:
    raised = CallError("verb_error", "no such user", "KeyError", "/p/users/__init__.py:9", "Traceback ...\n")
    backplane.answer = CallResult(None, raised, "req-9")
    response = await client.post("/api/call", json={"verb": "users.lookup", "body": {"id": 7}})
    assert response.json()["error"] == {
        "kind": "verb_error",
        "message": "no such user",
        "exception": "KeyError",
        "where": "/p/users/__init__.py:9",
        "traceback": "Traceback ...\n",
    }


def test_bare_verb_names_suggest_the_modules_verbs_of_that_name() -> None:
    found = resolve_verb(schema(), "lookup")
    assert isinstance(found, VerbNotFound)
    assert found.message == "expected MODULE.VERB, got 'lookup'"
    assert found.suggestions == ["users.lookup"]


def test_log_targets_resolve_modules_and_verbs_in_either_spelling() -> None:
    assert resolve_target(schema(), "users") == ("users", None)
    assert resolve_target(schema(), "users.any_id") == ("users", "anyId")
    assert resolve_target(schema(), "users.anyId") == ("users", "anyId")
    assert resolve_target(schema(), "user") == VerbNotFound("unknown module user", ["users"])
    assert resolve_target(schema(), "builtin") == VerbNotFound("unknown module builtin", [])
    no_verb = resolve_target(schema(), "users.lookpu")
    assert isinstance(no_verb, VerbNotFound) and no_verb.suggestions == ["users.lookup"]


async def test_timeline_filters_and_pages(client: httpx.AsyncClient, timeline: Timeline) -> None:
    for i in range(5):
        timeline.add(TimelineEvent(kind="log", time=0, module="users", verb="get", message=str(i)))
    timeline.add(TimelineEvent(kind="call", time=0, module="orders", request_id="req-x"))
    page = (await client.get("/api/timeline", params={"kind": "log", "limit": 2})).json()
    assert [e["message"] for e in page] == ["4", "3"]
    rest = (await client.get("/api/timeline", params={"kind": "log", "before_id": page[-1]["id"]})).json()
    assert [e["message"] for e in rest] == ["2", "1", "0"]
    traced = (await client.get("/api/timeline", params={"request_id": "req-x"})).json()
    assert [e["module"] for e in traced] == ["orders"]
    assert (await client.get("/api/timeline", params={"limit": "many"})).status_code == 400


async def test_a_limit_of_zero_asks_for_no_events(client: httpx.AsyncClient, timeline: Timeline) -> None:
    for i in range(150):
        timeline.add(TimelineEvent(kind="log", time=0, message=str(i)))
    assert (await client.get("/api/timeline", params={"limit": 0})).json() == []
    assert len((await client.get("/api/timeline")).json()) == 100  # no limit: the default page
    assert len((await client.get("/api/timeline", params={"limit": 1})).json()) == 1
    for name in ("limit", "backlog"):
        path = "/api/timeline" if name == "limit" else "/api/timeline/stream"
        refused = await client.get(path, params={name: -1})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == f"{name} must be 0 or more, not -1"


async def test_the_event_stream_says_hello_then_sends_each_event(timeline: Timeline) -> None:
    filters = {"kind": "log", "module": None, "verb": None, "request_id": None}
    stream = event_stream(timeline, filters, backlog=0)
    assert await stream.__anext__() == b": connected\n\n"
    timeline.add(TimelineEvent(kind="call", time=0, message="skipped"))
    added = timeline.add(TimelineEvent(kind="log", time=0, message="hello"))
    chunk = await stream.__anext__()
    assert chunk.startswith(f"id: {added.id}\ndata: ".encode()) and chunk.endswith(b"\n\n")
    assert json.loads(chunk.split(b"data: ", 1)[1])["message"] == "hello"
    await stream.aclose()
    assert timeline.subscriber_count() == 0


async def test_deploy_passes_absolute_dirs_and_returns_diagnostics(
    client: httpx.AsyncClient, backplane: FakeBackplane, tmp_path: Path
) -> None:
    response = await client.post("/api/deploy", json={"module_dirs": [str(tmp_path / "users")]})
    assert response.json() == {
        "changeset": "chs-1",
        "state": "FAILED",
        "deployments": [],
        "diagnostics": ["users/__init__.py:3:5: bad thing"],
    }
    assert backplane.deployed == [[tmp_path / "users"]]
    assert (await client.post("/api/deploy", json={"module_dirs": []})).status_code == 400
    backplane.deploy_error = "the backplane is not running"
    refused = await client.post("/api/deploy", json={"module_dirs": ["x"]})
    assert refused.status_code == 400 and refused.json()["error"]["message"] == "the backplane is not running"


async def test_realms_lists_pins(client: httpx.AsyncClient, backplane: FakeBackplane, tmp_path: Path) -> None:
    pin = RealmPin("bank", "https://example.com/bank.git", "main", "a" * 40, "ftl-public-schema.ftl")
    backplane.project = Project(tmp_path / "ftl-project.toml", "shop", (".",), realms=(pin,))
    [listed] = (await client.get("/api/realms")).json()
    assert listed["name"] == "bank" and listed["git_commit"] == "a" * 40 and listed["loaded"] is False


async def test_call_errors_inline_answer_200_with_the_status(
    client: httpx.AsyncClient, backplane: FakeBackplane
) -> None:
    backplane.answer = CallResult(None, CallError("verb_error", "ValueError: no such user"), "req-9")
    response = await client.post(
        "/api/call", params={"errors": "inline"}, json={"verb": "users.lookup", "body": {"id": 7}}
    )
    assert response.status_code == 200
    assert response.json() == {
        "request_id": "req-9",
        "error": {"kind": "verb_error", "message": "ValueError: no such user", "status": 500},
    }


async def test_the_event_stream_says_resync_where_a_slow_reader_lost_events() -> None:
    timeline = Timeline(stream_queue_size=2)
    stream = event_stream(timeline, {}, backlog=0)
    assert await stream.__anext__() == b": connected\n\n"
    added = [timeline.add(TimelineEvent(kind="log", time=0, message=str(i))) for i in range(5)]
    chunks = [await stream.__anext__() for _ in range(3)]
    await stream.aclose()
    resync = {"skipped": 3, "first_id": added[0].id, "last_id": added[2].id}
    assert chunks[0] == b"event: resync\ndata: %s\n\n" % json.dumps(resync).encode()
    # Then the newest events, which a slow reader never loses.
    assert [json.loads(chunk.split(b"data: ", 1)[1])["message"] for chunk in chunks[1:]] == ["3", "4"]


# -- only the developer's own tools ----------------------------------------------------------------

EVIL = "http://evil.example"


async def test_posts_must_be_declared_json(client: httpx.AsyncClient, backplane: FakeBackplane) -> None:
    payload = json.dumps({"verb": "users.lookup", "body": {"id": 7}})
    for path in ("/api/call", "/api/deploy"):
        for media_type in ("text/plain", "application/x-www-form-urlencoded", ""):
            headers = {"Content-Type": media_type} if media_type else {}
            refused = await client.post(path, content=payload, headers=headers)
            assert refused.status_code == 415, (path, headers)
            assert "Content-Type: application/json" in refused.json()["error"]["message"]
    assert backplane.calls == [] and backplane.deployed == []
    declared = {"Content-Type": "application/json; charset=utf-8"}
    assert (await client.post("/api/call", content=payload, headers=declared)).status_code == 200


async def test_requests_from_another_sites_page_are_refused(
    client: httpx.AsyncClient, backplane: FakeBackplane
) -> None:
    body = {"verb": "users.lookup", "body": {"id": 7}}
    refused = await client.post("/api/call", json=body, headers={"Origin": EVIL})
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "kind": "forbidden",
        "message": f"a page from {EVIL} may not use the admin API: only the console's own pages may "
        "(tools such as ftl call send no Origin)",
    }
    for origin in (EVIL, "null", "http://127.0.0.1:9999", "https://127.0.0.1:8892"):
        assert (await client.get("/api/timeline", headers={"Origin": origin})).status_code == 403, origin
    assert backplane.calls == []
    # The console's own pages send their own origin; tools send none.
    own = await client.post("/api/call", json=body, headers={"Origin": URLS.admin_url})
    assert own.status_code == 200
    assert (await client.post("/api/call", json=body)).status_code == 200
    assert len(backplane.calls) == 2


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8892", "127.0.0.1.evil.example", "192.168.1.20:8892", "admin"]
)
async def test_a_host_that_is_not_this_server_is_refused(
    client: httpx.AsyncClient, backplane: FakeBackplane, host: str
) -> None:
    for request in (
        client.build_request("GET", "/api/timeline", headers={"Host": host}),
        client.build_request("GET", "/", headers={"Host": host}),
        client.build_request("POST", "/api/call", json={"verb": "users.lookup"}, headers={"Host": host}),
    ):
        refused = await client.send(request)
        assert refused.status_code == 403
        message = refused.json()["error"]["message"]
        assert message.startswith(f"Host {host!r} is not this admin server: use {URLS.admin_url}")
    assert backplane.calls == []


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:8892", "localhost:8892", "LOCALHOST", "[::1]:8892", "127.0.0.2", "console.localhost:8892"],
)
async def test_loopback_hosts_are_this_server(client: httpx.AsyncClient, host: str) -> None:
    assert (await client.get("/api/status", headers={"Host": host})).status_code == 200


async def test_the_bound_host_name_is_this_server_and_a_wildcard_bind_takes_any_address(
    backplane: FakeBackplane, timeline: Timeline
) -> None:
    lan = ServerUrls("http://0.0.0.0:8891", "http://0.0.0.0:8892", "")
    named = create_admin_app(backplane, timeline, URLS, bound_hosts=["devbox.lan"])
    anywhere = create_admin_app(backplane, timeline, lan, bound_hosts=["0.0.0.0"])

    async def status(app: Any, host: str) -> int:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as http:
            return (await http.get("/api/status")).status_code

    assert await status(named, "devbox.lan:8892") == 200
    assert await status(named, "other.lan:8892") == 403
    assert await status(anywhere, "192.168.1.20:8892") == 200
    assert await status(anywhere, "[fd00::1]:8892") == 200
    assert await status(anywhere, "evil.example:8892") == 403


async def test_a_call_cut_short_by_shutdown_is_a_clear_503(
    client: httpx.AsyncClient, backplane: FakeBackplane, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def stopping(*args: Any, **kwargs: Any) -> CallResult:
        raise asyncio.CancelledError  # what uvicorn does to requests still running at shutdown

    monkeypatch.setattr(backplane, "call", stopping)
    response = await client.post("/api/call", json={"verb": "users.lookup", "body": {"id": 7}})
    assert response.status_code == 503
    assert response.json()["error"] == {
        "kind": "shutting_down",
        "message": "the server stopped before the call finished",
    }
