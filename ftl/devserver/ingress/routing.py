"""The ingress route table, projected from the `+ingress` metadata of the live schema.

Routes live in a segment trie. A lookup tries literal segments before parameters at every level
(so `/users/me` wins over `/users/{id}`), and backtracks when a branch has no route. A path that
matches some route but none for the request's method answers 405 with the allowed methods; a path
that matches nothing is a 404. HEAD falls back to the GET route of a path. Each route carries its
binder and renderer, compiled here once per schema change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ftl.devserver.ingress.binding import NotHttpVerb, RequestBinder, ResponseRenderer
from ftl.devserver.ingress.shapes import TypeIndex, ingress_of, is_lenient
from ftl.schema import ast


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str  # "/users/{id}", as written in the schema
    module: str
    verb: str
    params: tuple[str, ...]  # parameter names, in path order
    binder: RequestBinder = field(repr=False, compare=False)
    renderer: ResponseRenderer = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class MethodNotAllowed:
    allowed: tuple[str, ...]


@dataclass(slots=True)
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    routes: dict[str, Route] = field(default_factory=dict)  # by method, on the node a path ends at


def split_path(path: str) -> list[str]:
    """`/users/42/` → ["users", "42"]; `/` → []."""
    trimmed = path.strip("/")
    return trimmed.split("/") if trimmed else []


class RouteTable:
    """Immutable once built; the ingress swaps in a new table when the schema changes."""

    def __init__(
        self, routes: Iterable[Route] = (), realm_verbs: Iterable[tuple[str, ast.Verb]] = ()
    ) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
        self._root = _Node()
        self._static: dict[str, dict[str, Route]] = {}
        for route in self.routes:
            node = self._root
            segments = split_path(route.pattern)
            for segment in segments:
                if segment.startswith("{") and segment.endswith("}"):
                    if node.param is None:
                        node.param = _Node()
                    node = node.param
                else:
                    node = node.literals.setdefault(segment, _Node())
            node.routes.setdefault(route.method, route)
            if not route.params:
                self._static.setdefault("/".join(segments), {}).setdefault(route.method, route)
        self._realm_verbs = {(module, verb.name): verb for module, verb in realm_verbs}

    def match(self, method: str, path: str) -> Match | MethodNotAllowed | None:
        """The route for this request, the methods this path allows, or None (404).

        HEAD is answered by the GET route when there is no HEAD route of its own (RFC 9110 9.3.2)."""
        segments = split_path(path)
        static = self._static.get("/".join(segments))
        if static is not None:
            route = static.get(method)
            if route is not None:
                return Match(route, {})
        allowed: set[str] = set()
        found = _search(self._root, segments, 0, [], method, allowed)
        if found is not None:
            route, values = found
            return Match(route, dict(zip(route.params, values, strict=True)))
        if allowed:
            if method == "HEAD" and "GET" in allowed:
                return self.match("GET", path)
            if "GET" in allowed:
                allowed.add("HEAD")  # answered by the GET route
            return MethodNotAllowed(tuple(sorted(allowed)))
        return None

    def realm_verb(self, module: str, verb: str) -> ast.Verb | None:
        """A verb this realm exports to other realms (`export realm`), or None."""
        return self._realm_verbs.get((module, verb))


def _search(
    node: _Node, segments: list[str], i: int, values: list[str], method: str, allowed: set[str]
) -> tuple[Route, list[str]] | None:
    if i == len(segments):
        route = node.routes.get(method)
        if route is not None:
            return route, list(values)
        allowed.update(node.routes)
        return None
    segment = segments[i]
    child = node.literals.get(segment)
    if child is not None:
        found = _search(child, segments, i + 1, values, method, allowed)
        if found is not None:
            return found
    if node.param is not None and segment:
        values.append(segment)
        found = _search(node.param, segments, i + 1, values, method, allowed)
        values.pop()
        if found is not None:
            return found
    return None


def build_route_table(schema: ast.Schema) -> tuple[RouteTable, list[str]]:
    """The route table of the schema's internal realm(s), and a note for each route left out."""
    index = TypeIndex(schema)
    routes: list[Route] = []
    realm_verbs: list[tuple[str, ast.Verb]] = []
    problems: list[str] = []
    taken: dict[tuple[str, str], str] = {}
    for realm in schema.internal_realms():
        for module in realm.modules:
            if module.builtin:
                continue
            for verb in module.verbs():
                if verb.visibility is ast.Visibility.REALM:
                    realm_verbs.append((module.name, verb))
                ingress = ingress_of(verb)
                if ingress is None:
                    continue
                name = f"{module.name}.{verb.name}"
                # Parameters count as one shape, whatever their names: `/a/{x}` and `/a/{y}` collide.
                key = (ingress.method, ingress.path_shape)
                if key in taken:
                    route_text = f"{ingress.method} {ingress.path_text}"
                    problems.append(f"{name}: route {route_text} is taken by {taken[key]}")
                    continue
                try:
                    binder = RequestBinder(schema, index, module.name, verb, is_lenient(verb))
                    renderer = ResponseRenderer(schema, index, module.name, verb)
                except NotHttpVerb as problem:
                    problems.append(str(problem))
                    continue
                taken[key] = name
                params = tuple(c.name for c in ingress.path if isinstance(c, ast.IngressPathParameter))
                routes.append(
                    Route(ingress.method, ingress.path_text, module.name, verb.name, params, binder, renderer)
                )
    return RouteTable(routes, realm_verbs), problems
