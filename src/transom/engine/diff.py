"""Test and what-if, derived once from a provider's get: the desired state and a comparison."""

from __future__ import annotations

from typing import Any

from transom.api.resources import Ensure, ResourceProperties
from transom.engine.provider import Change, Provider, State

_ENSURE = "ensure"


def desired_state(props: ResourceProperties) -> State:
    """The properties a resource sets, in wire keys; unset optional properties are not state."""
    return props.model_dump(mode="json", by_alias=True, exclude_none=True)


def compare(desired: State, actual: State, provider: Provider[Any]) -> dict[str, Change]:
    """The drifted properties: empty when the actual state satisfies the desired one."""
    want_ensure = desired.get(_ENSURE, Ensure.PRESENT.value)
    have_ensure = actual.get(_ENSURE, Ensure.PRESENT.value)
    if want_ensure != have_ensure:
        return {_ENSURE: Change(_ENSURE, have_ensure, want_ensure)}
    if want_ensure == Ensure.ABSENT.value:
        return {}
    changes: dict[str, Change] = {}
    for prop, want in desired.items():
        if prop == _ENSURE or prop not in actual:
            continue
        have = actual[prop]
        if not provider.equal(prop, want, have):
            changes[prop] = Change(prop, have, want)
    return changes
