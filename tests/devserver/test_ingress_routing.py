"""The ingress route table: literal segments win, 404 for unknown paths, 405 for other methods."""

from __future__ import annotations

from ingress_schemas import schema

from ftl.devserver.ingress import Match, MethodNotAllowed, RouteTable, build_route_table
from ftl.devserver.ingress.routing import split_path
from ftl.schema import ast


def _table() -> RouteTable:
    table, problems = build_route_table(schema())
    assert problems == []
    return table


def _verb(found: object) -> str:
    assert isinstance(found, Match), found
    return f"{found.route.module}.{found.route.verb}"


def test_every_ingress_verb_gets_a_route() -> None:
    routes = {(r.method, r.pattern, f"{r.module}.{r.verb}") for r in _table().routes}
    assert ("GET", "/users/{id}", "users.get") in routes
    assert ("POST", "/users", "users.create") in routes
    assert len(routes) == 8  # the verbs without +ingress have none


def test_literal_segments_win_over_parameters() -> None:
    table = _table()
    assert _verb(table.match("GET", "/users/me")) == "users.me"
    found = table.match("GET", "/users/42")
    assert _verb(found) == "users.get"
    assert isinstance(found, Match) and found.params == {"id": "42"}


def test_a_literal_branch_without_a_route_falls_back_to_the_parameter() -> None:
    table = _table()
    assert _verb(table.match("GET", "/a/b/c")) == "users.shallow"
    found = table.match("GET", "/a/b/d")  # "b" is a literal on the way to /a/b/c, but /a/{x}/d fits
    assert _verb(found) == "users.deep" and isinstance(found, Match) and found.params == {"x": "b"}


def test_a_literal_path_without_the_method_falls_back_to_a_parameter_route_with_it() -> None:
    found = _table().match("POST", "/search")
    assert _verb(found) == "users.anyId"
    assert isinstance(found, Match) and found.params == {"id": "search"}


def test_unknown_paths_are_none_and_other_methods_are_method_not_allowed() -> None:
    table = _table()
    assert table.match("GET", "/nope/nope") is None
    assert table.match("GET", "/") is None
    assert table.match("DELETE", "/users/me") == MethodNotAllowed(("GET", "HEAD", "PUT"))
    assert table.match("DELETE", "/users") == MethodNotAllowed(("POST",))


def test_head_is_answered_by_the_get_route_of_the_path() -> None:
    table = _table()
    assert _verb(table.match("HEAD", "/users/me")) == "users.me"  # a literal path
    found = table.match("HEAD", "/users/42")
    assert _verb(found) == "users.get" and isinstance(found, Match) and found.params == {"id": "42"}
    assert _verb(table.match("HEAD", "/a/b/c")) == "users.shallow"
    assert _verb(table.match("HEAD", "/a/x/d")) == "users.deep"
    assert table.match("HEAD", "/users") == MethodNotAllowed(("POST",))  # no GET to stand in
    assert table.match("HEAD", "/nope/nope") is None


def test_trailing_slashes_are_ignored_and_empty_segments_do_not_bind() -> None:
    table = _table()
    assert _verb(table.match("GET", "/users/7/")) == "users.get"
    assert table.match("GET", "/a//d") is None
    assert split_path("/") == [] and split_path("/x/y/") == ["x", "y"]


def test_realm_verbs_are_only_the_export_realm_ones() -> None:
    table = _table()
    lookup = table.realm_verb("users", "lookup")
    assert lookup is not None and lookup.name == "lookup"
    assert table.realm_verb("users", "internal") is None
    assert table.realm_verb("users", "get") is None
    assert table.realm_verb("nobody", "lookup") is None


def test_colliding_routes_keep_the_first_and_say_why() -> None:
    text = """
realm r {
  module a {
    export verb one(HttpRequest<Unit, {String: String}, Unit>) HttpResponse<Unit, String>
      +ingress http GET /x/{id}
  }
  module b {
    export verb two(HttpRequest<Unit, {String: String}, Unit>) HttpResponse<Unit, String>
      +ingress http GET /x/{name}
  }
}
"""
    # Validation rejects duplicate routes in one realm; a projection must still not crash on them.
    from ftl.schema import parse_schema

    table, problems = build_route_table(_with_builtin(parse_schema(text)))
    assert [f"{r.module}.{r.verb}" for r in table.routes] == ["a.one"]
    assert problems == ["b.two: route GET /x/{name} is taken by a.one"]


def _with_builtin(parsed: ast.Schema) -> ast.Schema:
    builtin = schema("realm r {\n  module m {\n  }\n}\n").realms[0].modules[0]
    assert builtin.builtin
    return ast.Schema(tuple(ast.replace(r, modules=(builtin, *r.modules)) for r in parsed.realms))
