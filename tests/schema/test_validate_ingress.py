"""HTTP ingress rules (validate/ingress.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from validate_support import errors, messages, realm, validated

from ftl.schema import ast, parse_module
from ftl.schema.validate import validate_schema


def _ingress(
    request: str, response: str = "builtin.HttpResponse<String, String>", route: str = "POST /x"
) -> str:
    return realm(f"""
    module m {{
      export data D {{ id String }}
      enum V: String {{ A = "a" }}
      enum T {{ A String }}
      typealias Native Any
        +typemap go "x.Native"
      verb v({request}) {response}
        +ingress http {route}
    }}
    """)


@pytest.mark.parametrize(
    ("request_type", "route"),
    [
        ("builtin.HttpRequest<Bytes, Unit, Unit>", "POST /x"),
        ("HttpRequest<m.D, Unit, Unit>", "PUT /x"),
        ("builtin.HttpRequest<[m.D], Unit, Unit>", "POST /x"),
        ("builtin.HttpRequest<m.T, Unit, Unit>", "POST /x"),
        ("builtin.HttpRequest<m.Native, Unit, Unit>", "POST /x"),
        ("builtin.HttpRequest<Unit, m.D, {String: [String]}>", "GET /x/{id}"),
        ("builtin.HttpRequest<Unit, Int, m.D>", "GET /x/{id}"),
        ("builtin.HttpRequest<Unit, {String: String}, Unit>", "DELETE /x/{a}/{b}"),
        ("builtin.HttpRequest<Unit, Unit, Unit>", "GET /"),
    ],
)
def test_valid_ingress(request_type: str, route: str) -> None:
    validated(_ingress(request_type, route=route))


def test_request_and_response_must_be_http_types() -> None:
    assert errors(_ingress("builtin.Empty", "builtin.Empty", "GET /x")) == [
        "9:10: ingress verb v: request type builtin.Empty must be builtin.HttpRequest",
        "9:25: ingress verb v: response type builtin.Empty must be builtin.HttpResponse",
    ]


def test_an_alias_of_an_http_type_is_accepted() -> None:
    text = realm("""
    module m {
      typealias Req builtin.HttpRequest<Unit, Unit, Unit>
      verb v(m.Req) builtin.HttpResponse<String, String>
        +ingress http GET /x
    }
    """)
    validated(text)


@pytest.mark.parametrize(
    ("request_type", "route", "message"),
    [
        (
            "builtin.HttpRequest<String, Unit, Unit>",
            "GET /x",
            "ingress verb v: GET request type builtin.HttpRequest<String, Unit, Unit> "
            "must have a body of unit not String",
        ),
        (
            "builtin.HttpRequest<Time, Unit, Unit>",
            "POST /x",
            "ingress verb v: request type builtin.HttpRequest<Time, Unit, Unit> must have a body of bytes, "
            "string, data structure, unit, float, int, bool, map, or array not Time",
        ),
        (
            "builtin.HttpRequest<m.V, Unit, Unit>",
            "POST /x",
            "ingress verb v: request type builtin.HttpRequest<m.V, Unit, Unit> must have a body of bytes, "
            "string, data structure, unit, float, int, bool, map, or array not enum m.V",
        ),
        (
            "builtin.HttpRequest<Unit, String, Unit>",
            "GET /x",
            "ingress verb v: cannot use path parameter type String, expected Unit or Map as ingress has no "
            "path parameters",
        ),
        (
            "builtin.HttpRequest<Unit, {Int: String}, Unit>",
            "GET /x/{id}",
            "ingress verb v: request type builtin.HttpRequest<Unit, {Int: String}, Unit> "
            "path params can only support maps of strings, not {Int: String}",
        ),
        (
            "builtin.HttpRequest<Unit, [String], Unit>",
            "GET /x/{id}",
            "ingress verb v: request type builtin.HttpRequest<Unit, [String], Unit> "
            "must have a param of data structure, unit or map not [String]",
        ),
        (
            "builtin.HttpRequest<Unit, Unit, {String: Int}>",
            "GET /x",
            "ingress verb v: request type builtin.HttpRequest<Unit, Unit, {String: Int}> "
            "query params can only support maps of strings or string arrays, not {String: Int}",
        ),
        (
            "builtin.HttpRequest<Unit, Unit, String>",
            "GET /x",
            "ingress verb v: request type builtin.HttpRequest<Unit, Unit, String> must have a param of data "
            "structure, unit or map not String",
        ),
    ],
)
def test_invalid_ingress(request_type: str, route: str, message: str) -> None:
    assert messages(_ingress(request_type, route=route)) == [message]


def test_path_parameters_are_checked_where_written() -> None:
    text = _ingress("builtin.HttpRequest<Unit, m.D, Unit>", route="GET /x/{id}/{missing}")
    assert errors(text) == [
        "10:31: ingress verb v: request pathParameter type m.D does not contain a field corresponding to "
        'the parameter "missing"'
    ]
    text = _ingress("builtin.HttpRequest<Unit, String, Unit>", route="GET /x/{a}/{b}")
    assert [e.split(": ")[0] for e in errors(text)] == ["10:26", "10:30"]


def test_types_of_other_modules_are_not_examined() -> None:
    text = realm("""
    module a { export data Location { lat Float } }
    module b {
      verb v(builtin.HttpRequest<Unit, a.Location, Unit>) builtin.HttpResponse<a.Location, String>
        +ingress http GET /x/{name}
    }
    """)
    validated(text)


def test_routes_are_unique_across_the_realm() -> None:
    text = realm("""
    module a {
      verb one(builtin.HttpRequest<Unit, {String: String}, Unit>) builtin.HttpResponse<String, String>
        +ingress http GET /users/{id}
    }
    module b {
      verb two(builtin.HttpRequest<Unit, {String: String}, Unit>) builtin.HttpResponse<String, String>
        +ingress http GET /users/{name}
      verb three(builtin.HttpRequest<Unit, {String: String}, Unit>) builtin.HttpResponse<String, String>
        +ingress http POST /users/{name}
    }
    """)
    assert errors(text) == [
        "9:5: ingress route GET /users/{name} is already served by a.one as GET /users/{id} (5:5)"
    ]


def test_a_duplicate_route_within_one_module_keeps_upstreams_message() -> None:
    text = realm("""
    module a {
      verb one(builtin.HttpRequest<Unit, {String: String}, Unit>) builtin.HttpResponse<String, String>
        +ingress http GET /users/{id}
      verb two(builtin.HttpRequest<Unit, {String: String}, Unit>) builtin.HttpResponse<String, String>
        +ingress http GET /users/{name}
    }
    """)
    assert errors(text) == ['7:5: duplicate http ingress GET /users/{} for 4:3:"one" and 6:3:"two"']


def test_a_route_under_a_modules_prefix_is_served_by_that_module() -> None:
    # `a` sorts first, but `/b/...` is b's (the prefix `ftl new` gives it): the copy in a is reported.
    text = realm("""
    module a {
      verb copy(builtin.HttpRequest<Unit, {String: String}, Unit>) builtin.HttpResponse<String, String>
        +ingress http GET /b/hello/{name}
    }
    module b {
      verb hello(builtin.HttpRequest<Unit, {String: String}, Unit>) builtin.HttpResponse<String, String>
        +ingress http GET /b/hello/{name}
    }
    """)
    assert errors(text) == ["5:5: ingress route GET /b/hello/{name} is already served by b.hello (9:5)"]


def test_a_duplicate_route_in_another_file_names_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `ftl build` merges modules extracted from their own files.
    monkeypatch.chdir(tmp_path)
    signature = "(builtin.HttpRequest<Unit, {String: String}, Unit>) builtin.HttpResponse<String, String>"

    def module(name: str, verb: str) -> ast.Module:
        text = f"module {name} {{\n  verb {verb}{signature}\n    +ingress http GET /b/hello/{{name}}\n}}\n"
        return parse_module(text, str(tmp_path / f"{name}.ftl"))

    realm = ast.Realm("r", (module("a", "copy"), module("b", "hello")))
    _, diagnostics = validate_schema(ast.Schema((realm,)))
    assert [str(d) for d in diagnostics] == [
        f"{tmp_path / 'a.ftl'}:3:5: "
        "ingress route GET /b/hello/{name} is already served by b.hello (b.ftl:3:5)"
    ]
