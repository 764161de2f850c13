"""The module dependency graph as server-rendered SVG, with a layered layout written here.

    graph = module_graph(schema)          # nodes: modules (and external realms' modules), edges by kind
    svg = render_svg(graph)               # Markup, ready to drop into a page

Edges come from the schema: `+calls` (calls), `+subscribe` (subscribes), and any other
reference to another module's declarations (uses, i.e. types). Modules of pinned external realms
are nodes of their own, drawn apart. The layout is the classic layered (Sugiyama) scheme: break
cycles, assign layers by longest path, route long edges through dummy nodes, order each layer
by barycentres to cut crossings, then place nodes and draw edges as curves through their dummies.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from markupsafe import Markup

from ftl.schema import ast

__all__ = ["EDGE_KINDS", "Edge", "GraphNode", "Layout", "ModuleGraph", "layout", "module_graph", "render_svg"]

# Strongest first: an edge that is several kinds at once is drawn as the first of them.
EDGE_KINDS: Final = ("calls", "subscribes", "uses")

NODE_HEIGHT: Final = 46
LAYER_GAP: Final = 70
NODE_GAP: Final = 28
MARGIN: Final = 20
CHAR_WIDTH: Final = 7.6
MIN_NODE_WIDTH: Final = 96
ORDERING_SWEEPS: Final = 8


@dataclass(frozen=True, slots=True)
class GraphNode:
    id: str  # "module" or "module@realm"
    module: str
    realm: str = ""  # "" for the project's own realm
    verbs: int = 0
    builtin: bool = False

    @property
    def external(self) -> bool:
        return bool(self.realm)

    @property
    def label(self) -> str:
        return self.id


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    kinds: frozenset[str]

    @property
    def kind(self) -> str:
        return next(kind for kind in EDGE_KINDS if kind in self.kinds)


@dataclass(frozen=True, slots=True)
class ModuleGraph:
    nodes: tuple[GraphNode, ...]
    edges: tuple[Edge, ...]

    def node(self, node_id: str) -> GraphNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)


def module_graph(schema: ast.Schema) -> ModuleGraph:
    """Every non-builtin module of the schema, and the dependencies between them."""
    nodes: dict[str, GraphNode] = {}
    kinds: dict[tuple[str, str], set[str]] = {}
    for realm in schema.realms:
        realm_name = realm.name if realm.external else ""
        for module in realm.modules:
            if module.builtin:
                continue
            source = _node_id(module.name, realm_name)
            nodes[source] = GraphNode(source, module.name, realm_name, sum(1 for _ in module.verbs()))
            for target_module, target_realm, kind in _references(module):
                target = _node_id(target_module, target_realm or realm_name)
                if target != source:
                    kinds.setdefault((source, target), set()).add(kind)
    for _, target in kinds:
        target_module, _, target_realm = target.partition("@")
        if target not in nodes and target_module != "builtin":
            # Referenced but not (yet) in the schema: still drawn, so the dependency shows.
            nodes[target] = GraphNode(target, target_module, target_realm)
    edges = tuple(
        Edge(source, target, frozenset(found))
        for (source, target), found in sorted(kinds.items())
        if source in nodes and target in nodes
    )
    ordered = sorted(nodes.values(), key=lambda n: (n.external, n.realm, n.module))
    return ModuleGraph(tuple(ordered), edges)


def _node_id(module: str, realm: str) -> str:
    return f"{module}@{realm}" if realm else module


def _references(module: ast.Module) -> Iterable[tuple[str, str, str]]:
    """(module, realm, kind) for every reference out of `module`."""
    special: set[int] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.MetadataCalls):
            for ref in node.calls:
                special.add(id(ref))
                yield ref.module, ref.realm, "calls"
        elif isinstance(node, ast.MetadataSubscriber):
            special.add(id(node.topic))
            yield node.topic.module, node.topic.realm, "subscribes"
    for node in ast.walk(module):
        if isinstance(node, ast.Ref) and id(node) not in special and node.module not in ("", "builtin"):
            yield node.module, node.realm, "uses"


# ---------------------------------------------------------------------------------------------
# Layout


@dataclass(slots=True)
class _Vertex:
    id: str
    width: float
    dummy: bool = False
    layer: int = 0
    x: float = 0.0


@dataclass(frozen=True, slots=True)
class PlacedNode:
    node: GraphNode
    x: float  # left
    y: float  # top
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class PlacedEdge:
    edge: Edge
    points: tuple[tuple[float, float], ...]  # from the source's bottom to the target's top
    reversed: bool = False  # drawn against the layering because it closes a cycle


@dataclass(frozen=True, slots=True)
class Layout:
    nodes: tuple[PlacedNode, ...]
    edges: tuple[PlacedEdge, ...]
    width: float
    height: float


@dataclass(slots=True)
class _Layered:
    vertices: dict[str, _Vertex] = field(default_factory=dict)
    layers: list[list[str]] = field(default_factory=list)
    down: dict[str, list[str]] = field(default_factory=dict)  # edges between adjacent layers
    up: dict[str, list[str]] = field(default_factory=dict)
    chains: list[tuple[Edge, list[str], bool]] = field(default_factory=list)


def node_width(node: GraphNode) -> float:
    return max(MIN_NODE_WIDTH, len(node.label) * CHAR_WIDTH + 28)


def layout(graph: ModuleGraph) -> Layout:
    """Positions for every node and a polyline for every edge; dependents above dependencies."""
    if not graph.nodes:
        return Layout((), (), 2 * MARGIN, 2 * MARGIN)
    layered = _layer(graph)
    _order(layered)
    _place(layered)
    by_id = {n.id: n for n in graph.nodes}
    nodes = tuple(
        PlacedNode(by_id[v.id], v.x - v.width / 2, _layer_top(v.layer), v.width, NODE_HEIGHT)
        for v in layered.vertices.values()
        if not v.dummy
    )
    edges = []
    for edge, chain, flipped in layered.chains:
        points = [(layered.vertices[chain[0]].x, _layer_top(layered.vertices[chain[0]].layer) + NODE_HEIGHT)]
        for dummy in chain[1:-1]:
            vertex = layered.vertices[dummy]
            points.append((vertex.x, _layer_top(vertex.layer) + NODE_HEIGHT / 2))
        last = layered.vertices[chain[-1]]
        points.append((last.x, _layer_top(last.layer)))
        if flipped:
            points.reverse()
        edges.append(PlacedEdge(edge, tuple(points), flipped))
    width = max(v.x + v.width / 2 for v in layered.vertices.values()) + MARGIN
    height = _layer_top(len(layered.layers) - 1) + NODE_HEIGHT + MARGIN
    return Layout(nodes, tuple(edges), width, height)


def _layer_top(layer: int) -> float:
    return MARGIN + layer * (NODE_HEIGHT + LAYER_GAP)


def _acyclic(node_ids: list[str], edges: Iterable[Edge]) -> list[tuple[Edge, bool]]:
    """Each edge, flipped when it closes a cycle (a back edge of a depth-first search)."""
    out: dict[str, list[Edge]] = {n: [] for n in node_ids}
    for edge in edges:
        out[edge.source].append(edge)
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    flipped: set[int] = set()
    for root in node_ids:
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            current, index = stack[-1]
            if index < len(out[current]):
                stack[-1] = (current, index + 1)
                edge = out[current][index]
                seen = state.get(edge.target)
                if seen == 1:
                    flipped.add(id(edge))
                elif seen is None:
                    state[edge.target] = 1
                    stack.append((edge.target, 0))
            else:
                state[current] = 2
                stack.pop()
    return [(edge, id(edge) in flipped) for targets in out.values() for edge in targets]


def _layer(graph: ModuleGraph) -> _Layered:
    node_ids = [n.id for n in graph.nodes]
    directed = _acyclic(node_ids, graph.edges)
    successors: dict[str, list[str]] = {n: [] for n in node_ids}
    indegree = dict.fromkeys(node_ids, 0)
    for edge, flipped in directed:
        source, target = (edge.target, edge.source) if flipped else (edge.source, edge.target)
        successors[source].append(target)
        indegree[target] += 1
    # Longest path from the sources: a module sits one layer below the lowest module using it.
    layer_of = dict.fromkeys(node_ids, 0)
    ready = [n for n in node_ids if indegree[n] == 0]
    while ready:
        current = ready.pop(0)
        for target in successors[current]:
            layer_of[target] = max(layer_of[target], layer_of[current] + 1)
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    layered = _Layered()
    by_id = {n.id: n for n in graph.nodes}
    for node_id in node_ids:
        layered.vertices[node_id] = _Vertex(node_id, node_width(by_id[node_id]), layer=layer_of[node_id])
    for edge, flipped in directed:
        source, target = (edge.target, edge.source) if flipped else (edge.source, edge.target)
        chain = [source]
        for layer in range(layer_of[source] + 1, layer_of[target]):
            dummy = f"\0{edge.source}\0{edge.target}\0{layer}"
            layered.vertices[dummy] = _Vertex(dummy, 12.0, dummy=True, layer=layer)
            chain.append(dummy)
        chain.append(target)
        for upper, lower in itertools.pairwise(chain):
            layered.down.setdefault(upper, []).append(lower)
            layered.up.setdefault(lower, []).append(upper)
        layered.chains.append((edge, chain, flipped))
    depth = max(v.layer for v in layered.vertices.values()) + 1
    layered.layers = [[] for _ in range(depth)]
    for vertex in layered.vertices.values():
        layered.layers[vertex.layer].append(vertex.id)
    return layered


def _order(layered: _Layered) -> None:
    """Reorder each layer by the mean position of its neighbours, sweeping down and up; keep the best."""
    best = [list(layer) for layer in layered.layers]
    best_crossings = _crossings(layered, best)
    current = [list(layer) for layer in best]
    for sweep in range(ORDERING_SWEEPS):
        downward = sweep % 2 == 0
        indices = range(1, len(current)) if downward else range(len(current) - 2, -1, -1)
        for i in indices:
            fixed = current[i - 1] if downward else current[i + 1]
            neighbours = layered.up if downward else layered.down
            current[i] = _by_barycentre(current[i], fixed, neighbours)
        crossings = _crossings(layered, current)
        if crossings < best_crossings:
            best, best_crossings = [list(layer) for layer in current], crossings
    layered.layers = best


def _by_barycentre(layer: list[str], fixed: list[str], neighbours: Mapping[str, list[str]]) -> list[str]:
    position = {v: i for i, v in enumerate(fixed)}

    def key(item: tuple[int, str]) -> tuple[float, int]:
        index, vertex = item
        linked = [position[n] for n in neighbours.get(vertex, []) if n in position]
        return (sum(linked) / len(linked) if linked else float(index), index)

    return [vertex for _, vertex in sorted(enumerate(layer), key=key)]


def _crossings(layered: _Layered, layers: list[list[str]]) -> int:
    total = 0
    for upper, lower in itertools.pairwise(layers):
        below = {v: i for i, v in enumerate(lower)}
        pairs = sorted(
            (i, below[target])
            for i, vertex in enumerate(upper)
            for target in layered.down.get(vertex, [])
            if target in below
        )
        for a in range(len(pairs)):
            for b in range(a + 1, len(pairs)):
                if pairs[a][0] < pairs[b][0] and pairs[a][1] > pairs[b][1]:
                    total += 1
    return total


def _place(layered: _Layered) -> None:
    """Pack each layer left to right, then pull vertices toward their neighbours without overlaps."""
    for layer in layered.layers:
        x = float(MARGIN)
        for vertex_id in layer:
            vertex = layered.vertices[vertex_id]
            vertex.x = x + vertex.width / 2
            x += vertex.width + NODE_GAP
    for sweep in range(4):
        downward = sweep % 2 == 0
        order = layered.layers if downward else list(reversed(layered.layers))
        neighbours = layered.up if downward else layered.down
        for layer in order:
            _relax(layered, layer, neighbours)
    left = min(v.x - v.width / 2 for v in layered.vertices.values())
    for vertex in layered.vertices.values():
        vertex.x += MARGIN - left


def _relax(layered: _Layered, layer: list[str], neighbours: Mapping[str, list[str]]) -> None:
    vertices = [layered.vertices[v] for v in layer]
    wanted = []
    for vertex in vertices:
        linked = [layered.vertices[n].x for n in neighbours.get(vertex.id, [])]
        wanted.append(sum(linked) / len(linked) if linked else vertex.x)
    # Left to right: as close to the wanted spot as the left neighbour allows; then the same leftward.
    for i, vertex in enumerate(vertices):
        vertex.x = wanted[i]
        if i:
            previous = vertices[i - 1]
            vertex.x = max(vertex.x, previous.x + (previous.width + vertex.width) / 2 + NODE_GAP)
    for i in range(len(vertices) - 2, -1, -1):
        vertex, following = vertices[i], vertices[i + 1]
        limit = following.x - (following.width + vertex.width) / 2 - NODE_GAP
        vertex.x = min(vertex.x, limit)


# ---------------------------------------------------------------------------------------------
# SVG


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _path(points: tuple[tuple[float, float], ...]) -> str:
    """A smooth vertical curve through the points (a cubic Bézier per segment)."""
    (x0, y0), rest = points[0], points[1:]
    parts = [f"M{_fmt(x0)},{_fmt(y0)}"]
    for x1, y1 in rest:
        middle = (y0 + y1) / 2
        parts.append(f"C{_fmt(x0)},{_fmt(middle)} {_fmt(x1)},{_fmt(middle)} {_fmt(x1)},{_fmt(y1)}")
        x0, y0 = x1, y1
    return " ".join(parts)


def render_svg(graph: ModuleGraph, *, module_url: str = "/modules/{module}") -> Markup:
    """The graph as an `<svg>` element; own modules link to their pages."""
    placed = layout(graph)
    parts: list[Markup] = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" class="module-graph" role="img" '
            'aria-label="module dependency graph" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
        ).format(w=_fmt(placed.width), h=_fmt(placed.height)),
        Markup(
            "<defs>"
            '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow-head"/></marker>'
            "</defs>"
        ),
    ]
    for placed_edge in placed.edges:
        edge = placed_edge.edge
        title = f"{edge.source} → {edge.target}: {', '.join(k for k in EDGE_KINDS if k in edge.kinds)}"
        parts.append(
            Markup(
                '<g class="edge edge-{kind}" data-source="{source}" data-target="{target}">'
                '<title>{title}</title><path d="{d}" marker-end="url(#arrow)"/></g>'
            ).format(
                kind=edge.kind,
                source=edge.source,
                target=edge.target,
                title=title,
                d=_path(placed_edge.points),
            )
        )
    for placed_node in placed.nodes:
        parts.append(_node_svg(placed_node, module_url))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _node_svg(placed: PlacedNode, module_url: str) -> Markup:
    node = placed.node
    classes = "node external" if node.external else "node"
    plural = "" if node.verbs == 1 else "s"
    subtitle = f"realm {node.realm}" if node.external else f"{node.verbs} verb{plural}"
    center = placed.x + placed.width / 2
    body = Markup(
        '<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="8"/>'
        '<text class="node-name" x="{cx}" y="{ty}" text-anchor="middle">{name}</text>'
        '<text class="node-sub" x="{cx}" y="{sy}" text-anchor="middle">{sub}</text>'
    ).format(
        x=_fmt(placed.x),
        y=_fmt(placed.y),
        w=_fmt(placed.width),
        h=_fmt(placed.height),
        cx=_fmt(center),
        ty=_fmt(placed.y + 20),
        sy=_fmt(placed.y + 36),
        name=node.module,
        sub=subtitle,
    )
    if node.external:
        return Markup('<g class="{c}" data-node="{id}">{body}</g>').format(c=classes, id=node.id, body=body)
    href = module_url.format(module=node.module)
    return Markup('<a href="{href}"><g class="{c}" data-node="{id}">{body}</g></a>').format(
        href=href, c=classes, id=node.id, body=body
    )
