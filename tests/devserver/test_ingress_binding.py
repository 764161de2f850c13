"""HTTP request → `builtin.HttpRequest` JSON, and `builtin.HttpResponse` JSON → HTTP answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ingress_schemas import schema

from ftl.devserver.ingress import BindError, RenderError, Route, build_route_table
from ftl.devserver.ingress.binding import canonical_header_name, float_text, json_text, request_headers


def _route(verb: str) -> Route:
    table, _ = build_route_table(schema())
    return next(r for r in table.routes if r.verb == verb)


def _bind(verb: str, *, params: dict[str, str] | None = None, query: str = "", body: bytes = b"") -> Any:
    route = _route(verb)
    headers = [(b"x-custom-header", b"a"), (b"x-custom-header", b"b"), (b"accept", b"text/plain")]
    return route.binder.bind(route.method, "/p", params or {}, query, headers, body)


def test_a_request_becomes_the_http_request_the_verb_receives() -> None:
    request = _bind("get", params={"id": "42"})
    assert request == {
        "method": "GET",
        "path": "/p",
        "pathParameters": {"id": 42},
        "query": {},
        "headers": {"X-Custom-Header": ["a", "b"], "Accept": ["text/plain"]},
        "body": {},
    }


def test_json_bodies_are_validated_and_aliases_become_field_names() -> None:
    assert _bind("create", body=b'{"id": 1, "user_name": "ada"}')["body"] == {"id": 1, "name": "ada"}
    with pytest.raises(BindError, match=r"\.body\.name is required"):
        _bind("create", body=b'{"id": 1}')
    with pytest.raises(BindError, match="HTTP request body is not valid JSON"):
        _bind("create", body=b"{")


def test_problems_name_their_path_from_the_request_root() -> None:
    with pytest.raises(BindError, match=r"^req\.body\.id\b.*\bInt\b"):
        _bind("create", body=b'{"id": "x", "name": "ada"}')
    with pytest.raises(BindError, match=r"^req\.query\.q is required$"):
        _bind("search")


@pytest.mark.parametrize("body", [b"", b" \r\n"])
def test_an_empty_json_body_says_so_and_names_the_type(body: bytes) -> None:
    with pytest.raises(BindError) as info:
        _bind("create", body=body)
    assert str(info.value) == "request body is empty; expected a JSON users.User"


@pytest.mark.parametrize("query", ["x=1", "x=1&x=2", "[a]=1", "@json={}", "@json=oops"])
def test_a_route_without_a_query_type_ignores_the_query_string(query: str) -> None:
    assert _bind("me", query=query)["query"] == {}


def test_bytes_bodies_travel_as_base64_and_scalar_paths_are_parsed() -> None:
    assert _bind("anyId", params={"id": "x"}, body=b"\x00\xff")["body"] == "AP8="
    assert _bind("replace", params={"id": "-5"}, body=b'{"id": 1, "name": "a"}')["pathParameters"] == -5
    with pytest.raises(BindError, match="failed to parse int from path parameter"):
        _bind("replace", params={"id": "1.5"}, body=b'{"id": 1, "name": "a"}')


def test_query_values_are_read_by_field_type() -> None:
    query = _bind("search", query="q=shoes&page=2&tags=a&tags=b")["query"]
    assert query == {"q": "shoes", "page": 2, "tags": ["a", "b"]}
    assert _bind("search", query="q=a+b%26c")["query"] == {"q": "a b&c"}
    assert _bind("search", query="@json=" + '{"q":"x","page":3}')["query"] == {"q": "x", "page": 3}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", r"\.query\.q is required"),
        ("q=a&q=b", 'failed to parse query parameter "q": multiple values are not supported'),
        ("q=a&page=x", 'failed to parse query parameter "page"'),
        ("q=a&other=1", r"\.query\.other is not a valid field"),
        ("[a]=1", "complex key"),
        ("q=a&@json={}", "only '@json' parameter is allowed"),
    ],
)
def test_bad_queries_say_why(query: str, message: str) -> None:
    with pytest.raises(BindError, match=message):
        _bind("search", query=query)


def test_header_names_are_canonicalised_like_go() -> None:
    assert canonical_header_name("x-custom-header") == "X-Custom-Header"
    assert canonical_header_name("CONTENT-TYPE") == "Content-Type"
    assert canonical_header_name("bad header") == "bad header"
    assert request_headers([(b"a", b"1"), (b"A", b"2")]) == {"A": ["1", "2"]}


def _render(verb: str, response: Any) -> tuple[int, dict[str, list[str]], bytes]:
    data = response if isinstance(response, bytes) else json.dumps(response).encode()
    reply = _route(verb).renderer.render(data)
    headers: dict[str, list[str]] = {}
    for name, value in reply.headers:
        headers.setdefault(name.decode(), []).append(value.decode())
    return reply.status, headers, reply.body


def test_json_responses_use_aliases_sorted_keys_and_go_escaping() -> None:
    status, headers, body = _render("me", {"status": 201, "body": {"name": "<b>", "id": 1}})
    assert status == 201
    assert headers["content-type"] == ["application/json; charset=utf-8"]
    assert body == b'{"id":1,"user_name":"\\u003cb\\u003e"}'


def test_errors_render_with_the_error_type_and_verb_headers_are_kept() -> None:
    status, headers, body = _render(
        "me",
        {"status": 404, "error": "no such user", "headers": {"x-why": ["gone"], "Content-Type": ["text/x"]}},
    )
    assert (status, body) == (404, b"no such user")
    assert headers["x-why"] == ["gone"] and headers["content-type"] == ["text/x"]


def test_unit_bodies_have_no_content_type_and_bytes_are_decoded() -> None:
    status, headers, body = _render("deep", {"body": {}})
    assert (status, body) == (200, b"") and "content-type" not in headers
    status, headers, body = _render("anyId", {"body": "AP8="})
    assert body == b"\x00\xff" and headers["content-type"] == ["application/octet-stream"]


@pytest.mark.parametrize(
    ("verb", "response", "reason"),
    [
        ("me", {"body": {"id": 1}, "error": "x"}, "both body and error are set; set one of them"),
        ("me", {"status": "ok", "body": {}}, 'status must be a final HTTP status (200 to 999), got "ok"'),
        ("me", {"status": 101, "body": {}}, "status must be a final HTTP status (200 to 999), got 101"),
        ("me", b"not json", "response is not JSON: "),
        ("me", b"[]", "response must be a JSON object, got []"),
        ("me", {"status": 400, "error": 5}, "error must be a string, got 5"),
        ("anyId", {"body": "%%%"}, 'body is not valid base64: "%%%"'),
        ("me", {"body": {}, "headers": {"X-A": [1]}}, "header 'X-A' must be a list of strings, got [1]"),
        ("me", {"body": {}, "headers": {"bad name": ["x"]}}, "header name 'bad name' is not a valid HTTP"),
        ("me", {"body": {}, "headers": {"X-A": ["a\r\nB: 1"]}}, "header 'X-A' has a control character"),
    ],
)
def test_unrenderable_responses_say_why(verb: str, response: Any, reason: str) -> None:
    with pytest.raises(RenderError) as info:
        _render(verb, response)
    assert str(info.value).startswith(reason)


def test_long_values_are_cut_short_in_reasons() -> None:
    with pytest.raises(RenderError) as info:
        _render("me", {"status": 400, "error": ["x" * 500]})
    assert str(info.value).startswith('error must be a string, got ["xxx') and str(info.value).endswith("...")
    assert len(str(info.value)) < 120


@pytest.mark.parametrize("response", [{"status": 200}, {"status": 200, "body": None, "error": None}, {}])
def test_neither_body_nor_error_is_an_empty_answer_with_the_status(response: Any) -> None:
    status, headers, body = _render("me", response)
    assert (status, headers, body) == (200, {}, b"")


def test_a_redirect_is_its_status_and_headers() -> None:
    status, headers, body = _render("me", {"status": 302, "headers": {"Location": ["/users/1"]}})
    assert (status, headers, body) == (302, {"location": ["/users/1"]}, b"")


@pytest.mark.parametrize("status", [204, 304])
@pytest.mark.parametrize(
    "parts",
    [
        {},
        {"body": {"id": 1, "name": "a"}},
        {"error": "gone"},
        {"body": {"id": 1, "name": "a"}, "headers": {"Content-Type": ["text/x"], "ETag": ['"v1"']}},
    ],
)
def test_204_and_304_never_carry_a_body_or_a_content_type(status: int, parts: dict[str, Any]) -> None:
    rendered_status, headers, body = _render("me", {"status": status, **parts})
    assert (rendered_status, body) == (status, b"")
    assert "content-type" not in headers and "content-length" not in headers
    if "headers" in parts:
        assert headers == {"etag": ['"v1"']}


def test_the_verb_cannot_set_framing_headers_and_values_lose_surrounding_blanks() -> None:
    sent = {"Content-Length": ["99"], "transfer-encoding": ["chunked"], "X-A": [" v 1\t"]}
    status, headers, body = _render("me", {"status": 400, "error": "a", "headers": sent})
    assert (status, body) == (400, b"a")
    assert headers == {"x-a": ["v 1"], "content-type": ["text/plain; charset=utf-8"]}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.0, "3"),
        (1e21, "1000000000000000000000"),
        (1e-06, "0.000001"),
        (1234.56789, "1234.56789"),
        (-0.5, "-0.5"),
    ],
)
def test_floats_print_shortest_without_exponent(value: float, text: str) -> None:
    assert float_text(value) == text


def test_json_text_is_compact_and_sorted() -> None:
    assert json_text({"b": [1, {"d": 1, "c": "&"}], "a": None}) == b'{"a":null,"b":[1,{"c":"\\u0026","d":1}]}'
