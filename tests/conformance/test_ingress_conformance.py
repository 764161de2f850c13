"""Every case of `../shared/conformance/ingress.json`, through the real HTTP server.

The ingress app runs on uvicorn (port 0) in a background thread, in front of a stand-in for the
runner side: its `call()` records the `HttpRequest` JSON the verb would receive and answers with
the case's `HttpResponse`. Requests go over a real socket with httpx. Where upstream's behaviour
is a likely bug we do what a user would expect (OVERRIDES, each with its reason); where our
wording of the same fact differs, WORDING names the substring we print.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from conformance_data import json_cases

from ftl.devserver.ingress import IngressApp
from ftl.devserver.timeline import Timeline
from ftl.schema import ast, parse_schema, validate_schema


def _request(method: str, path: str, *, query: Any = None, body: Any = None) -> dict[str, Any]:
    """The `HttpRequest` JSON a verb receives, with no headers and no path parameters."""
    return {
        "method": method,
        "path": path,
        "pathParameters": {},
        "query": query if query is not None else {},
        "headers": {},
        "body": body if body is not None else {},
    }


# An answer with the verb's status and nothing else: no body, so no Content-Type.
_STATUS_ALONE: dict[str, Any] = {"status": 200, "headers": {}, "body": "", "absent_headers": ["Content-Type"]}

# Case id -> what we answer instead of upstream's `expect` (whole, or one part of the verb's request).
OVERRIDES: dict[str, dict[str, Any]] = {
    # A known path with another method is 405, as HTTP says (upstream: 404). Decided for this project.
    "x-method-mismatch": {"status": 405, "error_contains": "405 method not allowed"},
    # Same rule: /getAlias exists, PATCH is just not one of its methods.
    "x-no-routes-for-method": {"status": 405, "error_contains": "405 method not allowed"},
    # `@json` is percent-decoded once, like every other query value (upstream decodes twice).
    "x-query-json-double-unescape": {"verb_request_query": {"a": "x+y"}},
    # Bool path and query values follow strconv.ParseBool, as Bool bodies do (upstream: == "true").
    "x-query-bool-nonstandard": {"verb_request_query": {"bool": True}},
    "x-query-bool-garbage": {"status": 400, "error_contains": 'failed to parse query parameter "bool"'},
    "x-path-bool": {"verb_request_path_parameters": True},
    # A Time query value binds like a String one and is then checked as RFC 3339 (upstream: never works).
    "x-query-time-field": {
        "verb": "extra.queryItem",
        "verb_request": _request("GET", "/queryitem", query={"when": "2009-11-29T21:33:00Z"}),
    },
    # A body is read for every method, not only POST and PUT (upstream drops DELETE bodies).
    "x-delete-data-body": {
        "verb": "extra.deletePayload",
        "verb_request": _request("DELETE", "/payload", body={"id": 1, "tags": []}),
    },
    "x-delete-data-body-optional": {"verb_request_body": {"note": "hi"}},
    # A header name the verb sends in lower case is sent once, canonicalised (upstream: twice).
    "rx-header-lowercase": {"headers": {"Content-Type": ["text/csv"], "X-Thing": ["1"]}},
    # A route that declares no query type ignores the query string, as HTTP clients expect (upstream: 400).
    "x-query-on-unit-query": {
        "verb": "test.getPath",
        "verb_request": {**_request("GET", "/getPath/bob"), "pathParameters": {"username": "bob"}},
    },
    # Neither body nor error is the status alone, like the SDK's `HttpResponse(status=204)` (upstream: 500).
    "rx-neither-body-nor-error": _STATUS_ALONE,
    "rx-null-body-and-error": _STATUS_ALONE,
}

# Case id -> why it is not run.
SKIPPED = {
    "build-unknown-verb": "forces a route to a verb that does not exist; a real route table cannot",
}

# Case id -> the substring of our message that states the same fact as upstream's wording.
WORDING: dict[str, str] = {
    # Still a 400, but it says the body is empty and what it should hold (upstream: "not valid JSON: EOF").
    "x-body-empty": "request body is empty; expected a JSON test.JsonPayload",
    # Wrong types use the SDK spec's wording (`<path>: expected <T>, got <type>`), as FTL-JSON does.
    "x-body-wrong-type": "req.body.foo: expected String, got Int",
    "x-post-int-map-invalid": 'req.body["b"]: expected Int, got String',
}


def _cases(kind: str) -> list[dict[str, Any]]:
    return [case for case in json_cases("ingress.json") if case["kind"] == kind]


_SCHEMAS: dict[str, ast.Schema] = {}


def _schema(text: str) -> ast.Schema:
    if text not in _SCHEMAS:
        parsed = parse_schema(text)
        validated, diagnostics = validate_schema(parsed)
        assert not diagnostics, diagnostics
        _SCHEMAS[text] = validated
    return _SCHEMAS[text]


@dataclass
class _Result:
    body: bytes | None
    error: Any
    request_id: str


@dataclass
class FakeRunners:
    """The backplane's runner side, reduced to what a case pins down."""

    current: ast.Schema = field(default_factory=ast.Schema)
    response: bytes = b'{"status": 200, "body": {}}'
    calls: list[tuple[str, str, Any]] = field(default_factory=list)

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
    ) -> _Result:
        self.calls.append((module, verb, json.loads(body)))
        return _Result(self.response, None, request_id or "req-test")


@dataclass
class Server:
    runners: FakeRunners
    app: IngressApp
    url: str

    def use(self, schema_text: str, response: bytes = b'{"status": 200, "body": {}}') -> None:
        self.runners.current = _schema(schema_text)
        self.runners.response = response
        self.runners.calls.clear()
        self.app.schema_changed()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    runners = FakeRunners()
    app = IngressApp(runners, Timeline())
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not uv.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        port = uv.servers[0].sockets[0].getsockname()[1]
        yield Server(runners, app, f"http://127.0.0.1:{port}")
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


def _send(client: httpx.Client, url: str, request: dict[str, Any]) -> httpx.Response:
    target = url + request["path"] + (f"?{request['query']}" if request["query"] else "")
    headers = [(name, value) for name, values in request["headers"].items() for value in values]
    body = request["body"].encode("utf-8")
    return client.request(request["method"], target, headers=headers, content=body)


@pytest.mark.parametrize("case", _cases("request"), ids=lambda case: case["id"])
def test_request_case(
    case: dict[str, Any], server: Server, client: httpx.Client, conformance_dir: Path
) -> None:
    if case["id"] in SKIPPED:
        pytest.skip(SKIPPED[case["id"]])
    override = OVERRIDES.get(case["id"], {})
    verb_name = override.get("verb", case["verb"])
    server.use(case["schema"], _plain_response(case["schema"], verb_name))
    expect = override if "status" in override or "verb_request" in override else case["expect"]

    response = _send(client, server.url, case["request"])

    if "verb_request" not in expect:
        assert response.status_code == expect["status"], response.text
        if "body" in expect:
            assert response.text == expect["body"]
        else:
            assert WORDING.get(case["id"], expect["error_contains"]) in response.text
            assert response.text.endswith("\n")
            assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert server.runners.calls == []
        return
    assert response.status_code == 200, response.text
    [(module, verb, received)] = server.runners.calls
    assert f"{module}.{verb}" == verb_name
    wanted = dict(expect["verb_request"])
    for key, part in (
        ("verb_request_query", "query"),
        ("verb_request_body", "body"),
        ("verb_request_path_parameters", "pathParameters"),
    ):
        if key in override:
            wanted[part] = override[key]
    # The client adds transport headers (Host, User-Agent, ...): compare only those the case sends.
    sent = {name.lower() for name in case["request"]["headers"]}
    received["headers"] = {k: v for k, v in received["headers"].items() if k.lower() in sent}
    assert received == wanted


def _plain_response(schema_text: str, verb_ref: str | None) -> bytes:
    """A 200 `HttpResponse` that fits the verb's response body type, so rendering cannot fail."""
    if not verb_ref:
        return b"{}"
    module_name, verb_name = verb_ref.split(".")
    realm = _schema(schema_text).realms[0]
    module = realm.module(module_name)
    verb = module.decl(verb_name) if module else None
    body: Any = {}
    if isinstance(verb, ast.Verb) and isinstance(verb.response, ast.Ref) and verb.response.type_args:
        zero: dict[type, Any] = {ast.String: "", ast.Bytes: "", ast.Int: 0, ast.Float: 0.5, ast.Bool: False}
        body = zero.get(type(verb.response.type_args[0]), {})
    return json.dumps({"status": 200, "body": body}).encode()


# Verb -> a request its route accepts (response cases are about the answer, not the binding).
VALID_REQUESTS: dict[str, tuple[str, str, str]] = {
    "test.getAlias": ("GET", "/getAlias?alias=a", ""),
    "httpingress.get": ("GET", "/users/1/posts/2", ""),
    "httpingress.post": ("POST", "/users", '{"user_id": 1, "postId": 2}'),
    "httpingress.lenient": ("POST", "/lenient", '{"user_id": 1, "postId": 2}'),
    "httpingress.put": ("PUT", "/users/1", '{"postId": "2"}'),
    "httpingress.delete": ("DELETE", "/users/1", ""),
    "httpingress.arrayString": ("POST", "/array/string", '["a"]'),
    "httpingress.arrayData": ("POST", "/array/data", '[{"item": "a"}]'),
    "httpingress.int": ("POST", "/int", "1"),
    "httpingress.float": ("POST", "/float", "1.5"),
    "httpingress.bool": ("POST", "/bool", "true"),
    "httpingress.bytes": ("POST", "/bytes", "abc"),
    "httpingress.string": ("POST", "/string", "abc"),
    "httpingress.typeEnum": ("POST", "/typeenum", '{"name": "A", "value": "a"}'),
}


def _request_for(server: Server, verb: str) -> tuple[str, str, str]:
    if verb in VALID_REQUESTS:
        return VALID_REQUESTS[verb]
    for route in server.app.table.routes:
        if f"{route.module}.{route.verb}" == verb:
            assert not route.params, f"{verb}: add a request to VALID_REQUESTS"
            return route.method, route.pattern, ""
    raise AssertionError(f"no route for {verb}")


@pytest.mark.parametrize("case", _cases("response"), ids=lambda case: case["id"])
def test_response_case(
    case: dict[str, Any], server: Server, client: httpx.Client, conformance_dir: Path
) -> None:
    raw = case.get("verb_response_raw")
    verb_response = raw.encode() if raw is not None else json.dumps(case["verb_response"]).encode()
    server.use(case["schema"], verb_response)
    method, path, body = _request_for(server, case["verb"])
    expect = {**case["expect"], **OVERRIDES.get(case["id"], {})}

    response = client.request(method, server.url + path, content=body.encode())

    assert response.status_code == expect["status"]
    for name, values in expect["headers"].items():
        assert response.headers.get_list(name) == values, name
    for name in expect.get("absent_headers", []):
        assert name not in response.headers
    assert response.content == expect["body"].encode("utf-8")


def test_every_case_is_listed(conformance_dir: Path) -> None:
    ids = {case["id"] for case in json.loads((conformance_dir / "ingress.json").read_text())}
    assert len(ids) == 168
    assert set(OVERRIDES) <= ids and set(SKIPPED) <= ids and set(WORDING) <= ids
