"""Module dependency cycles (R3). An edge is any reference from one module to another (types and
metadata alike). The first cycle found, visiting modules in name order, is reported; it has no
position. As upstream, the cycle is written starting from the module after the one the search
entered it by (`two -> three -> one -> two` for one -> two -> three -> one)."""

from __future__ import annotations

from collections.abc import Mapping

from ftl.schema import ast
from ftl.schema.validate._context import Report

__all__ = ["check_cycles"]


def check_cycles(dependencies: Mapping[str, set[str]], report: Report) -> None:
    cycle = find_cycle(dependencies)
    if cycle:
        report.error("found cycle in dependencies: " + " -> ".join(cycle), ast.NO_POS)


def find_cycle(dependencies: Mapping[str, set[str]]) -> list[str]:
    """A cycle as a closed path (first == last), or [] when there is none. Self-references are not cycles."""
    done: set[str] = set()
    for root in sorted(dependencies):
        if root in done:
            continue
        path = [root]
        on_path = {root: 0}
        iterators = [iter(sorted(dependencies.get(root, ())))]
        while iterators:
            current = path[-1]
            following = next(iterators[-1], None)
            if following is None:
                done.add(current)
                del on_path[current]
                path.pop()
                iterators.pop()
                continue
            if following == current or following in done or following not in dependencies:
                continue
            if following in on_path:
                loop = path[on_path[following] :]
                rotated = loop[1:] + loop[:1] if len(loop) > 1 else loop
                return [*rotated, rotated[0]]
            on_path[following] = len(path)
            path.append(following)
            iterators.append(iter(sorted(dependencies.get(following, ()))))
    return []
