"""What removing an Assignment with ``removalPolicy: Delete`` applies: each resource's
``ensure: absent`` twin (built from its type's key fields), dependents first."""

from __future__ import annotations

from collections.abc import Sequence

from transom.api.resources import Resource, absent_twin


def removal_resources(resources: Sequence[Resource]) -> list[Resource]:
    """The ``ensure: absent`` twins of resources, dependents first. Types without an absent
    state (Command) are left alone."""
    out: list[Resource] = []
    for r in reversed(resources):
        absent = absent_twin(r.properties)
        if absent is not None:
            out.append(Resource(name=r.name, properties=absent))
    return out
