from collections.abc import Callable

from ftl.build import dependency_graph, dependents_of, discover_modules, topological_order
from ftl.build.graph import dependencies_of, module_imports, schema_graph
from ftl.errors import Position
from ftl.project import Project
from ftl.schema import ast

MakeProject = Callable[..., Project]
P = Position()
GREETER = "import ftl_modules.echo\nfrom ftl_modules.clock import now\nfrom ftl_modules.bank import x\n"


def test_imports_of_generated_clients_are_edges(make_project: MakeProject) -> None:
    project = make_project(
        {
            "clock": None,
            "echo": None,
            "greeter": GREETER,
        }
    )
    modules = {m.name: m for m in discover_modules(project)}
    imports = module_imports(modules["greeter"])
    assert list(imports) == ["echo", "clock", "bank"]
    assert (imports["clock"].line, imports["clock"].column) == (2, 1)
    graph = dependency_graph(modules.values())
    assert {name: sorted(deps) for name, deps in graph.items()} == {
        "clock": [],
        "echo": ["clock"],
        "greeter": ["clock", "echo"],
    }
    assert topological_order(graph) == (["clock", "echo", "greeter"], [])
    assert dependents_of(graph, "clock") == {"echo", "greeter"}
    assert dependencies_of(graph, ["echo"]) == {"echo", "clock"}


def test_a_cycle_is_an_error_at_the_import_that_closes_it() -> None:
    here = Position("a.py", 3, 1)
    order, diagnostics = topological_order({"a": {"b": here}, "b": {"a": Position("b.py", 1, 1)}, "c": {}})
    assert order == ["c", "a", "b"]
    assert [(str(d.pos), d.message) for d in diagnostics] == [
        ("a.py:3:1", "found cycle in dependencies: a -> b -> a")
    ]


def test_schema_graph_follows_references_to_other_modules() -> None:
    module = ast.Module(
        "echo",
        (
            ast.Verb(
                "echo",
                ast.Ref("builtin", "Empty"),
                ast.Ref("clock", "Time"),
                metadata=(
                    ast.MetadataCalls((ast.Ref("clock", "now"), ast.Ref("bank", "pay", realm="money"))),
                ),
            ),
        ),
    )
    assert schema_graph([module]) == {"echo": {"clock": P}}
