"""Schemas shared by the ingress unit tests."""

from __future__ import annotations

from ftl.schema import ast, parse_schema, validate_schema

SHOP = """
realm shop {
  module users {
    export realm data User {
      id Int
      name String +alias json "user_name"
    }

    export realm data UserPath {
      id Int
    }

    export data Search {
      q String
      page Int?
      tags [String]
    }

    export verb me(HttpRequest<Unit, Unit, Unit>) HttpResponse<users.User, String>
      +ingress http GET /users/me

    export verb get(HttpRequest<Unit, users.UserPath, Unit>) HttpResponse<users.User, String>
      +ingress http GET /users/{id}

    export verb create(HttpRequest<users.User, Unit, Unit>) HttpResponse<users.User, String>
      +ingress http POST /users

    export verb replace(HttpRequest<users.User, Int, Unit>) HttpResponse<users.User, String>
      +ingress http PUT /users/{id}

    export verb search(HttpRequest<Unit, Unit, users.Search>) HttpResponse<[users.User], String>
      +ingress http GET /search

    export verb deep(HttpRequest<Unit, {String: String}, Unit>) HttpResponse<Unit, String>
      +ingress http GET /a/{x}/d

    export verb shallow(HttpRequest<Unit, Unit, Unit>) HttpResponse<Unit, String>
      +ingress http GET /a/b/c

    export verb anyId(HttpRequest<Bytes, String, Unit>) HttpResponse<Bytes, String>
      +ingress http POST /{id}

    export realm verb lookup(users.UserPath) users.User

    export verb internal(users.UserPath) users.User
  }
}
"""


def schema(text: str = SHOP) -> ast.Schema:
    validated, diagnostics = validate_schema(parse_schema(text))
    assert not diagnostics, [str(d) for d in diagnostics]
    return validated
