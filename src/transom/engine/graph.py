"""The dependency graph of a document: cycle check and the order to apply in."""

from __future__ import annotations

from collections.abc import Sequence

from transom.api.errors import FieldError, SpecError
from transom.api.resources import Resource


def check_acyclic(resources: Sequence[Resource], path: str = "resources") -> None:
    """Raise SpecError naming the first cycle found, e.g. ``a -> b -> a``."""
    index = {r.name: i for i, r in enumerate(resources)}
    deps = {r.name: r.depends_on for r in resources}
    done: set[str] = set()
    for root in resources:
        if root.name in done:
            continue
        # Iterative DFS: documents may be long chains and recursion depth is limited.
        stack: list[tuple[str, int]] = [(root.name, 0)]
        on_path: list[str] = [root.name]
        while stack:
            node, next_dep = stack[-1]
            edges = [d for d in deps[node] if d in deps]
            if next_dep < len(edges):
                stack[-1] = (node, next_dep + 1)
                dep = edges[next_dep]
                if dep in on_path:
                    cycle = [*on_path[on_path.index(dep) :], dep]
                    raise SpecError(
                        [
                            FieldError(
                                f"{path}[{index[dep]}].dependsOn",
                                f"dependency cycle: {' -> '.join(cycle)}",
                            )
                        ]
                    )
                if dep not in done:
                    stack.append((dep, 0))
                    on_path.append(dep)
            else:
                stack.pop()
                on_path.pop()
                done.add(node)


def topological_order(resources: Sequence[Resource]) -> list[Resource]:
    """Dependencies first; otherwise document order, so runs are predictable. Assumes
    check_acyclic passed."""
    placed: set[str] = set()
    known = {r.name for r in resources}
    pending = list(resources)
    order: list[Resource] = []
    while pending:
        remaining: list[Resource] = []
        for r in pending:
            if all(d in placed or d not in known for d in r.depends_on):
                order.append(r)
                placed.add(r.name)
            else:
                remaining.append(r)
        if len(remaining) == len(pending):
            raise ValueError("dependency cycle; run check_acyclic first")
        pending = remaining
    return order
