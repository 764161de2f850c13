"""The module dependency graph: who imports whose generated client (`ftl_modules.X`).

Read from the source before anything is imported, because a module can only be imported once the
stubs of the modules it uses exist; so modules are built in topological order, and a cycle is an
error at the import that closes it. `interface_fingerprint` tells, from the source too, whether an
edit can have changed what a module's importers build against.
"""

from __future__ import annotations

import ast as pyast
import copy
import hashlib
import heapq
from collections.abc import Iterable, Mapping

from ftl.build.discover import ModuleInfo
from ftl.errors import Diagnostic, Position
from ftl.names import STUBS_PACKAGE
from ftl.runtime.extract.source import load_source
from ftl.schema import ast

Graph = dict[str, dict[str, Position]]  # module -> {dependency: where it is first used}


def module_imports(module: ModuleInfo) -> dict[str, Position]:
    """Names X that the module's package imports as `ftl_modules.X`, with the first place of each."""
    found: dict[str, Position] = {}
    for path in sorted((module.directory / module.package).rglob("*.py")):
        source = load_source(path)
        if source is None:
            continue
        for node in source.statements():
            for name in _imported_stub_modules(node):
                found.setdefault(name, source.pos(node))
    return found


def interface_fingerprint(module: ModuleInfo) -> str | None:
    """A digest of the module's package sources with every function's body left out (its docstring
    kept), positions ignored. Two versions with one fingerprint differ only inside function bodies,
    which no generated client shows (a verb's calls are not in it). None: a file does not parse."""
    digest = hashlib.sha256()
    package = module.directory / module.package
    for path in sorted(package.rglob("*.py")):
        source = load_source(path)
        if source is None:
            return None
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(pyast.dump(_BodiesLeftOut().visit(copy.deepcopy(source.tree))).encode() + b"\0")
    return digest.hexdigest()


class _BodiesLeftOut(pyast.NodeTransformer):
    def visit_FunctionDef(self, node: pyast.FunctionDef) -> pyast.AST:
        return self._signature(node)

    def visit_AsyncFunctionDef(self, node: pyast.AsyncFunctionDef) -> pyast.AST:
        return self._signature(node)

    @staticmethod
    def _signature(node: pyast.FunctionDef | pyast.AsyncFunctionDef) -> pyast.AST:
        docstring = pyast.get_docstring(node, clean=False)
        node.body = [pyast.Expr(pyast.Constant(docstring))] if docstring is not None else []
        return node


def _imported_stub_modules(node: pyast.AST) -> list[str]:
    if isinstance(node, pyast.Import):
        return [
            parts[1]
            for alias in node.names
            if len(parts := alias.name.split(".")) > 1 and parts[0] == STUBS_PACKAGE
        ]
    if isinstance(node, pyast.ImportFrom) and node.level == 0 and node.module:
        parts = node.module.split(".")
        if parts[0] != STUBS_PACKAGE:
            return []
        if len(parts) > 1:
            return [parts[1]]
        return [alias.name for alias in node.names]
    return []


def dependency_graph(modules: Iterable[ModuleInfo]) -> Graph:
    """Edges between the given modules only (imports of external realms or unknown names are not edges)."""
    infos = list(modules)
    names = {m.name for m in infos}
    return {
        m.name: {dep: pos for dep, pos in module_imports(m).items() if dep in names and dep != m.name}
        for m in infos
    }


def schema_graph(modules: Iterable[ast.Module]) -> Graph:
    """Edges from extracted schemas: every reference to another module of the same realm."""
    graph: Graph = {}
    for module in modules:
        edges: dict[str, Position] = {}
        for node in ast.walk(module):
            if (
                isinstance(node, ast.Ref)
                and not node.realm
                and node.module not in ("", "builtin", module.name)
            ):
                edges.setdefault(node.module, node.pos)
        graph[module.name] = edges
    return graph


def topological_order(graph: Mapping[str, Mapping[str, Position]]) -> tuple[list[str], list[Diagnostic]]:
    """Dependencies before dependents (ties by name); every module appears once even with a cycle."""
    waiting = {name: {d for d in deps if d in graph} for name, deps in graph.items()}
    dependents: dict[str, set[str]] = {name: set() for name in graph}
    for name, deps in waiting.items():
        for dep in deps:
            dependents[dep].add(name)
    ready = [name for name, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for dependent in sorted(dependents[name]):
            waiting[dependent].discard(name)
            if not waiting[dependent]:
                heapq.heappush(ready, dependent)
    diagnostics: list[Diagnostic] = []
    stuck = sorted(set(graph) - set(order))
    if stuck:
        cycle = find_cycle(graph, stuck[0])
        if cycle:
            diagnostics.append(
                Diagnostic(
                    f"found cycle in dependencies: {' -> '.join(cycle)}", graph[cycle[0]].get(cycle[1])
                )
            )
        order.extend(stuck)
    return order, diagnostics


def find_cycle(graph: Mapping[str, Mapping[str, Position]], start: str) -> list[str] | None:
    """A cycle through the graph reachable from `start`, as [a, b, ..., a]."""
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(name: str) -> list[str] | None:
        if name in on_path:
            return [*path[path.index(name) :], name]
        if name in done or name not in graph:
            return None
        path.append(name)
        on_path.add(name)
        for dep in sorted(graph[name]):
            cycle = visit(dep)
            if cycle:
                return cycle
        path.pop()
        on_path.discard(name)
        done.add(name)
        return None

    return visit(start)


def dependents_of(graph: Mapping[str, Mapping[str, Position]], name: str) -> set[str]:
    """Every module that depends on `name`, directly or not (what to rebuild when it changes)."""
    result: set[str] = set()
    frontier = [name]
    while frontier:
        current = frontier.pop()
        for module, deps in graph.items():
            if current in deps and module not in result:
                result.add(module)
                frontier.append(module)
    return result


def dependencies_of(graph: Mapping[str, Mapping[str, Position]], names: Iterable[str]) -> set[str]:
    """`names` and everything they depend on, directly or not."""
    result: set[str] = set()
    frontier = list(names)
    while frontier:
        current = frontier.pop()
        if current in result:
            continue
        result.add(current)
        frontier.extend(graph.get(current, {}))
    return result
