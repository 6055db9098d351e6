"""Property tests of the dependency graph: order respects every edge; cycles are real."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transom.api.errors import SpecError
from transom.api.resources import Resource
from transom.engine.graph import check_acyclic, topological_order

from .helpers import doc, file


@st.composite
def graphs(draw: st.DrawFn, acyclic: bool) -> list[Resource]:
    n = draw(st.integers(1, 12))
    deps: dict[int, set[int]] = {i: set() for i in range(n)}
    for i in range(n):
        # Edges to lower indices only: a DAG. A cyclic graph adds edges upwards too.
        candidates = range(n) if not acyclic else range(i)
        if candidates:
            deps[i] = set(draw(st.lists(st.sampled_from(list(candidates)), max_size=3)))
            deps[i].discard(i)
    order = draw(st.permutations(range(n)))
    items: list[dict[str, Any]] = []
    for i in order:
        items.append(file(f"r{i}", f"/r{i}", dependsOn=[f"r{d}" for d in sorted(deps[i])]))
    return doc(*items)


@given(graphs(acyclic=True))
def test_order_puts_every_dependency_first(resources: list[Resource]) -> None:
    check_acyclic(resources)
    order = [r.name for r in topological_order(resources)]
    assert sorted(order) == sorted(r.name for r in resources)
    position = {name: i for i, name in enumerate(order)}
    for r in resources:
        for d in r.depends_on:
            assert position[d] < position[r.name]


@given(graphs(acyclic=False))
def test_a_reported_cycle_is_a_real_cycle(resources: list[Resource]) -> None:
    edges = {(r.name, d) for r in resources for d in r.depends_on}
    try:
        check_acyclic(resources)
    except SpecError as exc:
        message = exc.errors[0].message
        assert message.startswith("dependency cycle: ")
        cycle = message.removeprefix("dependency cycle: ").split(" -> ")
        assert cycle[0] == cycle[-1] and len(cycle) >= 3
        assert all((a, b) in edges for a, b in itertools.pairwise(cycle))
    else:
        # No cycle reported: then an order exists that respects every edge.
        order = {r.name: i for i, r in enumerate(topological_order(resources))}
        assert all(order[d] < order[n] for n, d in edges)


def test_long_chain_does_not_hit_the_recursion_limit() -> None:
    n = 3000
    resources = [
        Resource(
            name=f"r{i}",
            properties=doc(file("x", f"/r{i}"))[0].properties,
            depends_on=(f"r{i - 1}",) if i else (),
        )
        for i in range(n)
    ]
    check_acyclic(resources)
    assert topological_order(resources)[-1].name == f"r{n - 1}"
    assert topological_order(resources[::-1])[0].name == "r0"
    looped = [*resources[1:], Resource("r0", resources[0].properties, (f"r{n - 1}",))]
    with pytest.raises(SpecError, match="dependency cycle"):
        check_acyclic(looped)
