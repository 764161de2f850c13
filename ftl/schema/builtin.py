"""The builtin module: the types FTL itself defines, injected first into every realm by validation.

`BUILTINS_SOURCE` is upstream's text (`BuiltinsSource`); `BUILTINS` is the same module as an AST,
built directly so that validation never has to parse it. Its nodes have no position: an error that
would point into it is reported at the user's reference instead.
"""

from __future__ import annotations

from ftl.schema import ast

__all__ = ["BUILTINS", "BUILTINS_SOURCE", "BUILTIN_MODULE", "builtin_module"]

BUILTIN_MODULE = "builtin"

BUILTINS_SOURCE = """\
// Built-in types for FTL.
builtin module builtin {
  // A reference to a declaration in the schema.
  export data Ref {
    module String
    name String
  }

  // HTTP request structure used for HTTP ingress verbs.
  export data HttpRequest<Body, Path, Query> {
    method String
    path String
    pathParameters Path
    query Query
    headers {String: [String]}
    body Body
  }

  // HTTP response structure used for HTTP ingress verbs.
  export data HttpResponse<Body, Error> {
    status Int
    headers {String: [String]}
    // Either "body" or "error" must be present, not both.
    body Body?
    error Error?
  }

  export data Empty {
  }

  // CatchRequest is a request structure for catch verbs.
  export data CatchRequest<Req> {
    verb builtin.Ref
    request Req
    requestType String
    error String
  }

  // FailedEvent is used in dead letter topics.
  export data FailedEvent<Event> {
      event Event
      error String
  }
}
"""


def _param(name: str) -> ast.Ref:
    return ast.Ref(module="", name=name)


def _data(name: str, fields: list[ast.Field], params: tuple[str, ...] = (), doc: str = "") -> ast.Data:
    return ast.Data(
        name=name,
        fields=tuple(fields),
        type_params=tuple(ast.TypeParameter(name=p) for p in params),
        visibility=ast.Visibility.MODULE,
        comments=(doc,) if doc else (),
    )


def _headers() -> ast.Field:
    return ast.Field("headers", ast.Map(ast.String(), ast.Array(ast.String())))


def builtin_module() -> ast.Module:
    """A fresh copy of the builtin module (equal to `parse_module(BUILTINS_SOURCE)`)."""
    return ast.Module(
        name=BUILTIN_MODULE,
        builtin=True,
        comments=("Built-in types for FTL.",),
        decls=(
            _data(
                "Ref",
                [ast.Field("module", ast.String()), ast.Field("name", ast.String())],
                doc="A reference to a declaration in the schema.",
            ),
            _data(
                "HttpRequest",
                [
                    ast.Field("method", ast.String()),
                    ast.Field("path", ast.String()),
                    ast.Field("pathParameters", _param("Path")),
                    ast.Field("query", _param("Query")),
                    _headers(),
                    ast.Field("body", _param("Body")),
                ],
                params=("Body", "Path", "Query"),
                doc="HTTP request structure used for HTTP ingress verbs.",
            ),
            _data(
                "HttpResponse",
                [
                    ast.Field("status", ast.Int()),
                    _headers(),
                    ast.Field(
                        "body",
                        ast.Optional(_param("Body")),
                        comments=('Either "body" or "error" must be present, not both.',),
                    ),
                    ast.Field("error", ast.Optional(_param("Error"))),
                ],
                params=("Body", "Error"),
                doc="HTTP response structure used for HTTP ingress verbs.",
            ),
            _data("Empty", []),
            _data(
                "CatchRequest",
                [
                    ast.Field("verb", ast.Ref(module=BUILTIN_MODULE, name="Ref")),
                    ast.Field("request", _param("Req")),
                    ast.Field("requestType", ast.String()),
                    ast.Field("error", ast.String()),
                ],
                params=("Req",),
                doc="CatchRequest is a request structure for catch verbs.",
            ),
            _data(
                "FailedEvent",
                [ast.Field("event", _param("Event")), ast.Field("error", ast.String())],
                params=("Event",),
                doc="FailedEvent is used in dead letter topics.",
            ),
        ),
    )


BUILTINS = builtin_module()
