"""The dependency graph of a document: cycle check and the order to apply in."""

from __future__ import annotations

import heapq
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
    index = {r.name: i for i, r in enumerate(resources)}
    waiting_on = [0] * len(resources)
    dependents: list[list[int]] = [[] for _ in resources]
    for i, r in enumerate(resources):
        for dep in set(r.depends_on):
            if dep in index:
                waiting_on[i] += 1
                dependents[index[dep]].append(i)
    # Of the resources whose dependencies are done, the earliest in the document goes next.
    ready = [i for i, n in enumerate(waiting_on) if n == 0]
    heapq.heapify(ready)
    order: list[Resource] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(resources[i])
        for j in dependents[i]:
            waiting_on[j] -= 1
            if waiting_on[j] == 0:
                heapq.heappush(ready, j)
    if len(order) != len(resources):
        raise ValueError("dependency cycle; run check_acyclic first")
    return order
