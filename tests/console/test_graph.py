"""The module dependency graph: edges from the schema, the layered layout, and the SVG."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

from ftl.devserver.console.graph import (
    Edge,
    GraphNode,
    ModuleGraph,
    PlacedNode,
    layout,
    module_graph,
    render_svg,
)
from ftl.schema import ast, parse_schema

from .schemas import shop_schema

SVG = "{http://www.w3.org/2000/svg}"


def edges_of(graph: ModuleGraph) -> dict[tuple[str, str], set[str]]:
    return {(e.source, e.target): set(e.kinds) for e in graph.edges}


def chain_graph(*names: str, extra: tuple[tuple[str, str], ...] = ()) -> ModuleGraph:
    """a → b → c ... plus `extra` edges, all `calls`."""
    pairs = [*itertools.pairwise(names), *extra]
    return ModuleGraph(
        tuple(GraphNode(n, n) for n in names),
        tuple(Edge(s, t, frozenset({"calls"})) for s, t in pairs),
    )


def test_edges_come_from_calls_subscriptions_types_and_external_realms() -> None:
    graph = module_graph(shop_schema())
    assert [n.id for n in graph.nodes] == ["orders", "payments", "shipping", "bank@bank"]
    assert edges_of(graph) == {
        ("orders", "payments"): {"calls"},
        ("orders", "bank@bank"): {"calls"},
        ("shipping", "orders"): {"subscribes", "uses"},
    }
    shipping = next(e for e in graph.edges if e.source == "shipping")
    assert shipping.kind == "subscribes"
    bank = graph.node("bank@bank")
    assert bank is not None and bank.external and bank.realm == "bank"
    orders = graph.node("orders")
    assert orders is not None and orders.verbs == 2 and not orders.external


def test_references_to_builtin_and_to_itself_are_not_edges() -> None:
    schema = parse_schema(
        """
        realm r {
          module web {
            data Page { title String }
            verb get(builtin.HttpRequest<Unit, Unit, Unit>) builtin.HttpResponse<web.Page, String>
              +ingress http GET /page
              +calls web.render
            verb render(Unit) web.Page
          }
        }
        """
    )
    graph = module_graph(schema)
    assert [n.id for n in graph.nodes] == ["web"]
    assert graph.edges == ()


def test_a_reference_to_a_module_not_in_the_schema_still_draws_it() -> None:
    schema = parse_schema("realm r {\n  module a {\n    verb x(Unit) Unit\n      +calls gone.y\n  }\n}\n")
    graph = module_graph(schema)
    assert [n.id for n in graph.nodes] == ["a", "gone"]
    assert edges_of(graph) == {("a", "gone"): {"calls"}}


def overlaps(a: PlacedNode, b: PlacedNode) -> bool:
    return a.y == b.y and a.x < b.x + b.width and b.x < a.x + a.width


def test_layout_puts_dependents_above_their_dependencies_without_overlaps() -> None:
    graph = module_graph(shop_schema())
    placed = layout(graph)
    by_id = {p.node.id: p for p in placed.nodes}
    assert set(by_id) == {"orders", "payments", "shipping", "bank@bank"}
    assert by_id["shipping"].y < by_id["orders"].y < by_id["payments"].y
    assert by_id["orders"].y < by_id["bank@bank"].y
    for a, b in itertools.combinations(placed.nodes, 2):
        assert not overlaps(a, b), (a.node.id, b.node.id)
    for node in placed.nodes:
        assert node.x >= 0 and node.x + node.width <= placed.width
        assert node.y >= 0 and node.y + node.height <= placed.height


def test_long_edges_bend_through_the_layers_they_cross() -> None:
    graph = chain_graph("a", "b", "c", "d", extra=(("a", "d"),))
    placed = layout(graph)
    by_id = {p.node.id: p for p in placed.nodes}
    assert [by_id[n].y for n in "abcd"] == sorted(by_id[n].y for n in "abcd")
    long_edge = next(e for e in placed.edges if (e.edge.source, e.edge.target) == ("a", "d"))
    # From a's bottom, through one point on each of the two layers between, to d's top.
    assert len(long_edge.points) == 4
    assert long_edge.points[0][1] == by_id["a"].y + by_id["a"].height
    assert long_edge.points[-1][1] == by_id["d"].y
    short = next(e for e in placed.edges if (e.edge.source, e.edge.target) == ("a", "b"))
    assert len(short.points) == 2


def test_a_cycle_is_laid_out_with_one_edge_drawn_upward() -> None:
    graph = chain_graph("a", "b", "c", extra=(("c", "a"),))
    placed = layout(graph)
    assert len(placed.nodes) == 3
    flipped = [e for e in placed.edges if e.reversed]
    assert len(flipped) == 1
    by_id = {p.node.id: p for p in placed.nodes}
    edge = flipped[0]
    # The arrow still runs from its source to its target: it starts at the lower node.
    assert edge.points[0][1] == by_id[edge.edge.source].y
    assert edge.points[-1][1] == by_id[edge.edge.target].y + by_id[edge.edge.target].height


def test_barycentre_ordering_removes_avoidable_crossings() -> None:
    # Two parallel pairs given in an order that would cross if left as is.
    graph = ModuleGraph(
        (GraphNode("a", "a"), GraphNode("b", "b"), GraphNode("x", "x"), GraphNode("y", "y")),
        (Edge("a", "y", frozenset({"calls"})), Edge("b", "x", frozenset({"calls"}))),
    )
    by_id = {p.node.id: p for p in layout(graph).nodes}
    assert (by_id["a"].x < by_id["b"].x) == (by_id["y"].x < by_id["x"].x)


def test_an_empty_graph_still_renders() -> None:
    graph = module_graph(ast.Schema())
    assert graph.nodes == ()
    root = ET.fromstring(str(render_svg(graph)))
    assert root.tag == f"{SVG}svg"


def test_svg_is_well_formed_and_links_own_modules_only() -> None:
    svg = str(render_svg(module_graph(shop_schema())))
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    links = [a.get("href", "") for a in root.iter(f"{SVG}a")]
    assert sorted(links) == ["/modules/orders", "/modules/payments", "/modules/shipping"]
    names = [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == "node-name"]
    assert sorted(names) == ["bank", "orders", "payments", "shipping"]
    subtitles = [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == "node-sub"]
    assert sorted(subtitles) == ["1 verb", "1 verb", "2 verbs", "realm bank"]
    edges = [g for g in root.iter(f"{SVG}g") if (g.get("class") or "").startswith("edge ")]
    assert len(edges) == 3
    assert all(g.find(f"{SVG}path") is not None for g in edges)
    assert all(g.find(f"{SVG}title") is not None for g in edges)


def test_svg_escapes_names() -> None:
    graph = ModuleGraph((GraphNode('a<b>&"', 'a<b>&"'),), ())
    root = ET.fromstring(str(render_svg(graph)))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert 'a<b>&"' in texts
