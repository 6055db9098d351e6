"""The resource lists the controller derives (Assignment, HostPreview) are stored as written by
the apiserver, so their models are what checks them: both by the same rule as a Configuration."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from transom.api.assignment import AssignmentSpec
from transom.api.preview import HostPreviewSpec
from transom.api.resources import parse_resource
from transom.api.resources.entry import reference_errors

NAMES = ("a", "b", "c", "d")


def _assignment(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "host": "web-1",
        "source": {"configuration": {"namespace": "default", "name": "web"}, "generation": 1},
        "resources": resources,
    }


def _host_preview(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "host": "web-1",
        "preview": {"namespace": "default", "name": "p"},
        "configuration": {"namespace": "default", "name": "web"},
        "requestedBy": "alice",
        "expiresAt": "2026-12-03T00:00:00Z",
        "resources": resources,
    }


SPECS = pytest.mark.parametrize(
    ("model", "body"), [(AssignmentSpec, _assignment), (HostPreviewSpec, _host_preview)]
)


def _file(name: str, depends_on: list[str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "file": {"path": f"/srv/{name}", "content": "x"}}
    if depends_on is not None:
        entry["dependsOn"] = depends_on
    return entry


@SPECS
def test_a_dependency_on_no_resource_is_refused_naming_it(model: Any, body: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body([_file("a"), _file("b", ["nowhere"])]))
    assert "resources[1].dependsOn" in str(caught.value) and "nowhere" in str(caught.value)


@given(
    st.lists(
        st.tuples(st.sampled_from(NAMES), st.lists(st.sampled_from(NAMES), max_size=3)),
        min_size=1,
        max_size=4,
    )
)
def test_both_derived_specs_accept_exactly_what_the_reference_rule_accepts(
    entries: list[tuple[str, list[str]]],
) -> None:
    resources = [_file(name, deps or None) for name, deps in entries]
    parsed = [parse_resource(r, f"resources[{i}]") for i, r in enumerate(resources)]
    expected = not reference_errors(parsed)
    for model, body in ((AssignmentSpec, _assignment), (HostPreviewSpec, _host_preview)):
        try:
            model.model_validate(body(resources))
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted is expected, (model.__name__, entries)
