"""HTTP ingress verbs (spec section 5.1): request and response types, body, path and query
parameters, and routes unique across the realm (R10, reported with both modules when they differ).

As upstream, types declared in another module are not examined (only their kind could be known).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ftl.errors import Position
from ftl.files import display_path
from ftl.schema import ast
from ftl.schema.printer import print_type
from ftl.schema.validate._context import RealmIndex, Report, is_builtin, line_col

__all__ = ["check_ingress", "check_unique_routes"]

_BODY_KINDS = (
    ast.Bytes,
    ast.String,
    ast.Unit,
    ast.Float,
    ast.Int,
    ast.Bool,
    ast.Map,
    ast.Array,
)
_BODY_ERROR = "must have a body of bytes, string, data structure, unit, float, int, bool, map, or array not"
_SCALAR_PATH = (ast.String, ast.Int, ast.Float, ast.Bool, ast.Time)


def check_ingress(module: ast.Module, index: RealmIndex, report: Report) -> None:
    for verb in module.verbs():
        for md in verb.metadata:
            if isinstance(md, ast.MetadataIngress):
                _IngressVerb(module, verb, md, index, report).check()


@dataclass(frozen=True)
class _Route:
    module: str
    verb: ast.Verb
    md: ast.MetadataIngress


def check_unique_routes(modules: Iterable[ast.Module], report: Report) -> None:
    """No two ingress verbs of a realm share a method and a path shape (parameters as `{}`).

    Within one file of one module the error is upstream's. Across modules or files it names the
    verb that serves the route, with its module and place; a route under `/NAME/` is served by
    module NAME (`ftl new` gives each module that prefix), so the copy elsewhere is the one reported.
    """
    served: dict[tuple[str, str], list[_Route]] = {}
    for module in modules:
        verbs = sorted(module.verbs(), key=lambda verb: verb.name)  # upstream's order: sorted declarations
        for verb in verbs:
            for md in verb.metadata:
                if isinstance(md, ast.MetadataIngress):
                    served.setdefault((md.method, md.path_shape), []).append(_Route(module.name, verb, md))
    for routes in served.values():
        if len(routes) > 1:
            _report_duplicates(routes, report)


def _report_duplicates(routes: list[_Route], report: Report) -> None:
    owner = next((route for route in routes if route.module == _prefix(route.md)), routes[0])
    ordered = [owner, *(route for route in routes if route is not owner)]
    for earlier, route in itertools.pairwise(ordered):
        md, verb = route.md, route.verb
        if earlier.module == route.module and earlier.verb.pos.filename == verb.pos.filename:
            report.error(
                f"duplicate http ingress {md.method} {md.path_shape} for {line_col(earlier.verb.pos)}:"
                f'"{earlier.verb.name}" and {line_col(verb.pos)}:"{verb.name}"',
                md.pos,
                verb.pos,
            )
            continue
        first = owner.md
        also = f" as {first.method} {first.path_text}" if first.path_text != md.path_text else ""
        report.error(
            f"ingress route {md.method} {md.path_text} is already served by {owner.module}."
            f"{owner.verb.name}{also} ({_place(first.pos, md.pos)})",
            md.pos,
            verb.pos,
        )


def _prefix(md: ast.MetadataIngress) -> str:
    """The first segment of the route's path when it is literal (`/users/{id}` -> `users`)."""
    first = md.path[0] if md.path else None
    return first.text if isinstance(first, ast.IngressPathLiteral) else ""


def _place(pos: Position, here: Position) -> str:
    """`line:col` in the same file as `here`, else `path:line:col` as the user sees the path."""
    if not pos.filename or pos.filename == here.filename:
        return line_col(pos)
    return str(pos.with_filename(display_path(Path(pos.filename))))


class _IngressVerb:
    def __init__(
        self, module: ast.Module, verb: ast.Verb, md: ast.MetadataIngress, index: RealmIndex, report: Report
    ) -> None:
        self.module = module
        self.verb = verb
        self.md = md
        self.index = index
        self.report = report

    def error(self, message: str, pos: Position) -> None:
        self.report.error(f"ingress verb {self.verb.name}: {message}", pos, self.md.pos)

    def check(self) -> None:
        verb = self.verb
        request = self.http_type(verb.request, "HttpRequest", 3)
        if request is None:
            self.error(
                f"request type {print_type(verb.request)} must be builtin.HttpRequest", verb.request.pos
            )
        else:
            body, path, query = request.type_args
            if self.md.method == "GET":
                unwrapped = body.type if isinstance(body, ast.Optional) else body
                if not isinstance(unwrapped, ast.Unit):
                    self.error(
                        f"GET request type {print_type(verb.request)} must have a body of unit "
                        f"not {print_type(unwrapped)}",
                        verb.request.pos,
                    )
            else:
                self.body("request", verb.request, body, optional_field=False)
            self.path_parameters(path)
            self.query(query)
        response = self.http_type(verb.response, "HttpResponse", 2)
        if response is None:
            self.error(
                f"response type {print_type(verb.response)} must be builtin.HttpResponse", verb.response.pos
            )
        else:
            self.body("response", verb.response, response.type_args[0], optional_field=True)

    def http_type(self, type_: ast.Type, name: str, arity: int) -> ast.Ref | None:
        """`type_` (through aliases) as `builtin.<name><...>`, or None when it is something else."""
        seen: set[tuple[str, str]] = set()
        while isinstance(type_, ast.Ref) and type_.key not in seen:
            if is_builtin(type_, name):
                return type_ if len(type_.type_args) == arity else None
            seen.add(type_.key)
            decl = self.index.resolve(type_, ast.TYPE_DECLS)
            if not isinstance(decl, ast.TypeAlias):
                return None
            type_ = decl.type
        return None

    def local(self, type_: ast.Type) -> tuple[ast.Type, ast.Decl | None] | None:
        """`type_` through local aliases and the declaration it names; None to skip examining it."""
        if isinstance(type_, ast.Ref):
            if type_.realm or (type_.module != self.module.name):
                return None  # another module's (or realm's) type, or a type parameter: not examined
            decl = self.index.resolve(type_, ast.TYPE_DECLS)
            if decl is None:
                return None  # unknown: reported where references are checked
            return type_, decl
        return type_, None

    def body(self, what: str, owner: ast.Type, body: ast.Type, optional_field: bool) -> None:
        # The body field of HttpRequest is `Body`, of HttpResponse `Body?`: upstream unwraps one `?`.
        if not optional_field and isinstance(body, ast.Optional):
            body = body.type
        found = self.local(body)
        if found is None:
            return
        type_, decl = found
        if decl is None:
            if isinstance(type_, _BODY_KINDS):
                return
            shown = print_type(type_)
        elif isinstance(decl, ast.Data):
            return
        elif isinstance(decl, ast.Enum):
            if decl.type is None:
                return
            shown = f"enum {print_type(type_)}"
        elif isinstance(decl, ast.TypeAlias) and any(
            isinstance(m, ast.MetadataTypeMap) for m in decl.metadata
        ):
            return
        else:
            shown = f"{decl.kind} {print_type(type_)}"
        self.error(f"{what} type {print_type(owner)} {_BODY_ERROR} {shown}", owner.pos)

    def path_parameters(self, path: ast.Type) -> None:
        request = self.verb.request
        parameters = [c for c in self.md.path if isinstance(c, ast.IngressPathParameter)]
        if isinstance(path, ast.Unit):
            return
        if isinstance(path, ast.Map):
            if not (isinstance(path.key, ast.String) and isinstance(path.value, ast.String)):
                self.error(
                    f"request type {print_type(request)} path params can only support maps of strings, "
                    f"not {print_type(path)}",
                    request.pos,
                )
            return
        if isinstance(path, _SCALAR_PATH):
            if not parameters:
                self.error(
                    f"cannot use path parameter type {print_type(path)}, expected Unit or Map as ingress "
                    "has no path parameters",
                    request.pos,
                )
            elif len(parameters) > 1:
                for parameter in parameters:
                    self.error(
                        f'cannot use path parameter "{parameter.name}" with request type {print_type(path)} '
                        "as it has multiple path parameters, expected Data or Map type",
                        parameter.pos,
                    )
            return
        found = self.local(path)
        if found is None:
            return
        _, decl = found
        if isinstance(decl, ast.Data):
            names = {f.name for f in decl.fields}
            names.update(
                md.alias for f in decl.fields for md in f.metadata if isinstance(md, ast.MetadataAlias)
            )
            for parameter in parameters:
                if parameter.name not in names:
                    self.error(
                        f"request pathParameter type {print_type(path)} does not contain a field "
                        f'corresponding to the parameter "{parameter.name}"',
                        parameter.pos,
                    )
            return
        self.error(
            f"request type {print_type(request)} must have a param of data structure, unit or map "
            f"not {print_type(path)}",
            request.pos,
        )

    def query(self, query: ast.Type) -> None:
        request = self.verb.request
        if isinstance(query, ast.Unit):
            return
        if isinstance(query, ast.Map):
            value = query.value.element if isinstance(query.value, ast.Array) else query.value
            if not (isinstance(query.key, ast.String) and isinstance(value, ast.String)):
                self.error(
                    f"request type {print_type(request)} query params can only support maps of strings "
                    f"or string arrays, not {print_type(query)}",
                    request.pos,
                )
            return
        found = self.local(query)
        if found is None:
            return
        _, decl = found
        if not isinstance(decl, ast.Data):
            self.error(
                f"request type {print_type(request)} must have a param of data structure, unit or map "
                f"not {print_type(query)}",
                request.pos,
            )
